//! Name cards: the picture of a participant who sends no video — its
//! name in white on a plain dark grey background, centred, drawn in
//! DejaVu Sans Bold (embedded by the `dejavu` crate) by ab_glyph, at the
//! size the room takes.

use ab_glyph::{point, Font, FontRef, GlyphId, PxScale, ScaleFont};

use super::picture::{black, fill, Picture};

/// The card's background (YUV): dark grey.
const BACKGROUND: [u8; 3] = [50, 128, 128];
/// The text's luma: white.
const TEXT: f32 = 235.0;

/// `name`'s card, `width`×`height`.
pub fn name_card(name: &str, width: u32, height: u32) -> Picture {
    let mut picture = black(width, height);
    fill(&mut picture, BACKGROUND);
    let font = FontRef::try_from_slice(dejavu::sans::bold()).expect("DejaVu Sans Bold parses");
    // A tenth of the height, smaller if that would not fit 90 % of the width.
    let (w, h) = (width as f32, height as f32);
    let mut scale = PxScale::from(h / 10.0);
    let wide = advance(&font, scale, name);
    if wide > w * 0.9 {
        scale = PxScale::from(scale.y * w * 0.9 / wide);
    }
    let scaled = font.as_scaled(scale);
    let mut x = (w - advance(&font, scale, name)) / 2.0;
    let baseline = (h + scaled.ascent() + scaled.descent()) / 2.0;
    let stride = picture.stride(0);
    let luma = picture.data_mut(0);
    let mut previous: Option<GlyphId> = None;
    for c in name.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = previous {
            x += scaled.kern(p, id);
        }
        previous = Some(id);
        let glyph = id.with_scale_and_position(scale, point(x, baseline));
        x += scaled.h_advance(id);
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let px = bounds.min.x as i64 + i64::from(gx);
            let py = bounds.min.y as i64 + i64::from(gy);
            if px < 0 || py < 0 || px >= i64::from(width) || py >= i64::from(height) {
                return;
            }
            let at = py as usize * stride + px as usize;
            let under = f32::from(luma[at]);
            luma[at] = (under + (TEXT - under) * coverage.clamp(0.0, 1.0)) as u8;
        });
    }
    picture
}

/// How wide `text` is at `scale`, kerning included.
fn advance(font: &FontRef, scale: PxScale, text: &str) -> f32 {
    let scaled = font.as_scaled(scale);
    let mut previous: Option<GlyphId> = None;
    text.chars()
        .map(|c| {
            let id = scaled.glyph_id(c);
            let kern = previous.map_or(0.0, |p| scaled.kern(p, id));
            previous = Some(id);
            kern + scaled.h_advance(id)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The luma of the card's rows from `top` to `bottom`.
    fn rows(card: &Picture, top: usize, bottom: usize) -> Vec<u8> {
        let stride = card.stride(0);
        let width = card.width() as usize;
        (top..bottom)
            .flat_map(|row| card.data(0)[row * stride..row * stride + width].to_vec())
            .collect()
    }

    #[test]
    fn the_name_is_drawn_white_in_the_middle_of_a_plain_card() {
        ffmpeg_next::init().unwrap();
        let card = name_card("Board room", 640, 360);
        assert_eq!((card.width(), card.height()), (640, 360));
        let middle = rows(&card, 160, 200);
        let white = middle.iter().filter(|&&y| y > 200).count();
        assert!(white > 500, "{white} white pixels where the name is");
        assert!(rows(&card, 0, 100).iter().all(|&y| y == BACKGROUND[0]));
        assert!(rows(&card, 260, 360).iter().all(|&y| y == BACKGROUND[0]));
        assert_ne!(
            middle,
            rows(&name_card("Huddle", 640, 360), 160, 200),
            "another name, another card"
        );
    }

    #[test]
    fn a_long_name_is_shrunk_to_fit() {
        ffmpeg_next::init().unwrap();
        let card = name_card(&"Conference room W".repeat(4), 320, 180);
        let stride = card.stride(0);
        for row in 0..180 {
            let line = &card.data(0)[row * stride..row * stride + 320];
            assert!(line[..4]
                .iter()
                .chain(&line[316..])
                .all(|&y| y == BACKGROUND[0]));
        }
    }
}
