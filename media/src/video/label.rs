//! Tile labels: a participant's name on a darkened strip along the bottom
//! of its tile in a composed picture, and a small red mark at the strip's
//! right end when it is muted.

use super::picture::Picture;
use super::text::{draw_text, TextBox};

/// The muted mark (YUV): red.
const MUTED: [u8; 3] = [81, 90, 240];

/// A tile's rectangle (x, y, width, height) in pixels, all even.
pub type Rect = (u32, u32, u32, u32);

/// The label strip of a tile: its bottom eighth, at least 16 pixels.
fn strip((x, y, w, h): Rect) -> Rect {
    let height = (h / 8).max(16).min(h) & !1;
    (x, y + h - height, w, height)
}

/// Labels the tile at `tile` of `picture` with `name`, and the muted mark
/// if `muted`.
pub fn label(picture: &mut Picture, tile: Rect, name: &str, muted: bool) {
    let (x, y, w, h) = strip(tile);
    darken(picture, (x, y, w, h));
    let mark = if muted { (h * 6 / 10) & !1 } else { 0 };
    if muted {
        let (mx, my) = (
            (x + w).saturating_sub(h / 5 + mark) & !1,
            (y + (h - mark) / 2) & !1,
        );
        paint(picture, (mx, my, mark, mark), MUTED);
    }
    let area = TextBox {
        x: x + h / 3,
        y,
        width: w.saturating_sub(h / 3 * 2 + mark + h / 5),
        height: h,
        centred: false,
    };
    draw_text(picture, name, area, h as f32 * 0.7);
}

/// Darkens `rect`: luma to 40 %, colour halfway to grey.
fn darken(picture: &mut Picture, rect: Rect) {
    each_row(picture, rect, |plane, row| {
        for v in row {
            *v = if plane == 0 {
                (u32::from(*v) * 2 / 5) as u8
            } else {
                ((u32::from(*v) + 128) / 2) as u8
            };
        }
    });
}

/// Paints `rect` the colour `yuv`.
fn paint(picture: &mut Picture, rect: Rect, yuv: [u8; 3]) {
    each_row(picture, rect, |plane, row| row.fill(yuv[plane]));
}

/// Runs `f` on each plane's row slices of `rect` (chroma halved).
fn each_row(picture: &mut Picture, (x, y, w, h): Rect, mut f: impl FnMut(usize, &mut [u8])) {
    let (width, height) = (picture.width(), picture.height());
    let (w, h) = (
        w.min(width.saturating_sub(x)),
        h.min(height.saturating_sub(y)),
    );
    for plane in 0..3 {
        let shift = u32::from(plane > 0);
        let (x, y, w, h) = (
            (x >> shift) as usize,
            (y >> shift) as usize,
            (w >> shift) as usize,
            (h >> shift) as usize,
        );
        let stride = picture.stride(plane);
        let data = picture.data_mut(plane);
        for row in y..y + h {
            f(plane, &mut data[row * stride + x..row * stride + x + w]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::picture::{black, fill};

    fn tile() -> Picture {
        let mut p = black(640, 360);
        fill(&mut p, [145, 54, 34]);
        p
    }

    fn luma(p: &Picture, x: usize, y: usize) -> u8 {
        p.data(0)[y * p.stride(0) + x]
    }

    fn chroma_v(p: &Picture, x: usize, y: usize) -> u8 {
        p.data(2)[y / 2 * p.stride(2) + x / 2]
    }

    #[test]
    fn the_name_is_written_on_a_dark_strip_at_the_bottom_and_the_rest_is_untouched() {
        ffmpeg_next::init().unwrap();
        let mut labelled = tile();
        label(&mut labelled, (0, 0, 640, 360), "Board room", false);
        let plain = tile();
        assert_eq!(luma(&labelled, 320, 100), 145, "above the strip");
        let (_, top, _, height) = strip((0, 0, 640, 360));
        assert_eq!((top, height), (316, 44));
        let strip_row =
            |p: &Picture, y: usize| -> Vec<u8> { (0..640).map(|x| luma(p, x, y)).collect() };
        let middle = strip_row(&labelled, 338);
        let white = middle.iter().filter(|&&y| y > 200).count();
        assert!(white > 20, "the name's strokes: {white} white pixels");
        assert!(
            middle[600..].iter().all(|&y| y == 58),
            "darkened background"
        );
        assert_ne!(middle, strip_row(&plain, 338));

        let mut other = tile();
        label(&mut other, (0, 0, 640, 360), "Huddle", false);
        assert_ne!(
            strip_row(&other, 338),
            middle,
            "another name, another label"
        );
    }

    #[test]
    fn a_muted_participant_gets_a_red_mark_at_the_right_and_labels_stay_in_their_tile() {
        ffmpeg_next::init().unwrap();
        let mut picture = black(1280, 720);
        fill(&mut picture, [145, 54, 34]);
        // The bottom right tile of a 2×2.
        label(&mut picture, (640, 360, 640, 360), "Huddle", true);
        let v = chroma_v(&picture, 1258, 696);
        assert_eq!(v, MUTED[2], "the mark");
        assert_eq!(
            luma(&picture, 600, 700),
            145,
            "the tile on its left is untouched"
        );
        assert_eq!(luma(&picture, 700, 600), 145, "above the strip");
    }
}
