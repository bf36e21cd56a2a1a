//! Continuous presence: a layout's tiles as pixels of the picture a room
//! takes, and that picture composed — each tile's participant fitted into
//! its tile (aspect ratio kept, letterboxed, never stretched), on black,
//! and labelled with its name (and a mark when muted).

use media_api::layout::{Layout, Tile, UNIT};

use super::label::label;
use super::picture::{black, paste, Fitter, Picture};

/// What one tile shows: a participant's picture (its camera or name
/// card; None before its camera's first frame), its name (empty: no
/// label), whether it is muted.
#[derive(Clone, Copy)]
pub struct Shown<'a> {
    pub picture: Option<&'a Picture>,
    pub name: &'a str,
    pub muted: bool,
}

/// A tile's rectangle (x, y, width, height) in a `width`×`height`
/// picture; even, as 4:2:0 needs.
pub fn tile_pixels(tile: Tile, (width, height): (u32, u32)) -> (u32, u32, u32, u32) {
    let scale = |v: u32, of: u32| (u64::from(v) * u64::from(of) / u64::from(UNIT)) as u32 & !1;
    let (x, y) = (scale(tile.x, width), scale(tile.y, height));
    let right = scale(tile.x + tile.width, width);
    let bottom = scale(tile.y + tile.height, height);
    (x, y, (right - x).max(2), (bottom - y).max(2))
}

/// Composes one layout at one size: a fitter per tile, kept while the
/// sources' sizes stay the same.
pub struct Composer {
    canvas: Picture,
    tiles: Vec<((u32, u32, u32, u32), Fitter)>,
}

impl Composer {
    /// `layout` (resolved: not automatic) at `width`×`height`.
    pub fn new(layout: Layout, width: u32, height: u32) -> Composer {
        let tiles = layout
            .tiles()
            .into_iter()
            .map(|tile| {
                let rect = tile_pixels(tile, (width, height));
                (rect, Fitter::new(rect.2, rect.3))
            })
            .collect();
        Composer {
            canvas: black(width, height),
            tiles,
        }
    }

    /// How many tiles it has.
    pub fn tiles(&self) -> usize {
        self.tiles.len()
    }

    /// The size of tile `i` in pixels (0×0 past the last).
    pub fn tile_size(&self, i: usize) -> (u32, u32) {
        self.tiles
            .get(i)
            .map_or((0, 0), |((_, _, w, h), _)| (*w, *h))
    }

    /// The picture with `shown[i]` in tile `i` (black where None or
    /// missing; extra ones are left out).
    pub fn compose(&mut self, shown: &[Option<Shown>]) -> Result<&Picture, ffmpeg_next::Error> {
        for (i, (rect, fitter)) in self.tiles.iter_mut().enumerate() {
            let (x, y, ..) = *rect;
            let Some(s) = shown.get(i).copied().flatten() else {
                paste(fitter.blank(), &mut self.canvas, x, y);
                continue;
            };
            match s.picture {
                Some(picture) => paste(fitter.fit(picture)?, &mut self.canvas, x, y),
                None => paste(fitter.blank(), &mut self.canvas, x, y),
            }
            if !s.name.is_empty() || s.muted {
                label(&mut self.canvas, *rect, s.name, s.muted);
            }
        }
        Ok(&self.canvas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::picture::fill;

    fn solid(yuv: [u8; 3], width: u32, height: u32) -> Picture {
        let mut p = black(width, height);
        fill(&mut p, yuv);
        p
    }

    fn luma_at(p: &Picture, x: u32, y: u32) -> u8 {
        p.data(0)[y as usize * p.stride(0) + x as usize]
    }

    fn shown<'a>(picture: &'a Picture, name: &'a str) -> Option<Shown<'a>> {
        Some(Shown {
            picture: Some(picture),
            name,
            muted: false,
        })
    }

    #[test]
    fn tiles_in_pixels_are_even_and_cover_a_grid_exactly() {
        let tiles = Layout::Grid(3).tiles();
        let px: Vec<_> = tiles.iter().map(|&t| tile_pixels(t, (1280, 720))).collect();
        assert_eq!(px[0], (0, 0, 426, 240));
        assert_eq!(px[4], (426, 240, 426, 240));
        assert!(px.iter().all(|&(x, y, w, h)| (x | y | w | h) & 1 == 0));
        let (x, y, w, h) = px[8];
        assert!(x + w <= 1280 && y + h <= 720 && 1280 - (x + w) < 4);
    }

    #[test]
    fn a_2x2_shows_each_picture_in_its_quadrant_with_its_aspect_kept() {
        let mut composer = Composer::new(Layout::Grid(2), 1280, 720);
        assert_eq!(composer.tiles(), 4);
        let (a, b, c) = (
            solid([81, 90, 240], 640, 360),
            solid([145, 54, 34], 1920, 1080),
            // A 4:3 camera: pillarboxed in its 16:9 tile.
            solid([41, 240, 110], 640, 480),
        );
        let all = [shown(&a, "A"), shown(&b, "B"), shown(&c, "C"), None];
        let picture = composer.compose(&all).unwrap();
        assert_eq!(luma_at(picture, 320, 180), 81, "top left");
        assert_eq!(luma_at(picture, 960, 180), 145, "top right");
        assert_eq!(luma_at(picture, 320, 540), 41, "bottom left");
        assert_eq!(luma_at(picture, 650, 540), 16, "pillarbox of the 4:3 tile");
        assert_eq!(luma_at(picture, 960, 540), 16, "an empty tile is black");

        // The next frame: a tile that lost its picture goes black.
        let picture = composer.compose(&[None, shown(&b, "B")]).unwrap();
        assert_eq!(luma_at(picture, 320, 180), 16);
        assert_eq!(luma_at(picture, 960, 180), 145);
    }

    #[test]
    fn one_plus_seven_puts_the_speaker_big_in_the_top_left() {
        let mut composer = Composer::new(Layout::OnePlus7, 1280, 720);
        let speaker = solid([81, 90, 240], 1280, 720);
        let other = solid([145, 54, 34], 1280, 720);
        let mut tiles = vec![shown(&speaker, "Speaker")];
        tiles.extend(std::iter::repeat_n(shown(&other, "Other"), 7));
        let picture = composer.compose(&tiles).unwrap();
        assert_eq!(luma_at(picture, 400, 300), 81);
        assert_eq!(luma_at(picture, 1200, 100), 145, "right column");
        assert_eq!(luma_at(picture, 100, 660), 145, "bottom row");
    }

    #[test]
    fn each_tile_carries_its_name_as_our_font_draws_it() {
        ffmpeg_next::init().unwrap();
        let camera = solid([145, 54, 34], 640, 360);
        let mut composer = Composer::new(Layout::Grid(2), 1280, 720);
        let names = ["Board room", "Huddle", "Lab", "Lobby"];
        let tiles: Vec<_> = names.iter().map(|n| shown(&camera, n)).collect();
        let picture = composer.compose(&tiles).unwrap().clone();
        for (i, name) in names.iter().enumerate() {
            let (x, y, w, h) = tile_pixels(Layout::Grid(2).tiles()[i], (1280, 720));
            let mut expected = camera.clone();
            label(&mut expected, (0, 0, w, h), name, false);
            for row in (0..h).step_by(7) {
                for col in (0..w).step_by(5) {
                    // Glyphs placed elsewhere may round a stroke's edge
                    // one level differently.
                    let (got, want) = (
                        luma_at(&picture, x + col, y + row),
                        luma_at(&expected, col, row),
                    );
                    assert!(
                        got.abs_diff(want) <= 2,
                        "{name} at ({col}, {row}) of its tile: {got}, not {want}"
                    );
                }
            }
        }
    }
}
