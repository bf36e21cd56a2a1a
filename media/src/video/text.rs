//! Text drawn into pictures — names on name cards and tile labels — in
//! DejaVu Sans Bold (embedded by the `dejavu` crate), rasterised by
//! ab_glyph and blended into the luma plane in white.

use ab_glyph::{point, Font, FontRef, GlyphId, PxScale, ScaleFont};

use super::picture::Picture;

/// The text's luma: white.
const WHITE: f32 = 235.0;

/// Where text goes: a box (x, y, width, height) of the picture, and
/// whether it is centred in it or starts at its left edge.
#[derive(Debug, Clone, Copy)]
pub struct TextBox {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub centred: bool,
}

/// Draws `text` in `area` of `picture`, `size` pixels high or smaller if
/// that would not fit the box's width; vertically centred.
pub fn draw_text(picture: &mut Picture, text: &str, area: TextBox, size: f32) {
    let font = FontRef::try_from_slice(dejavu::sans::bold()).expect("DejaVu Sans Bold parses");
    let (w, h) = (area.width as f32, area.height as f32);
    let mut scale = PxScale::from(size);
    let wide = advance(&font, scale, text);
    if wide > w {
        scale = PxScale::from(scale.y * w / wide);
    }
    let scaled = font.as_scaled(scale);
    let mut x = area.x as f32
        + if area.centred {
            (w - advance(&font, scale, text)) / 2.0
        } else {
            0.0
        };
    let baseline = area.y as f32 + (h + scaled.ascent() + scaled.descent()) / 2.0;
    let (width, height) = (picture.width(), picture.height());
    let right = i64::from((area.x + area.width).min(width));
    let bottom = i64::from((area.y + area.height).min(height));
    let stride = picture.stride(0);
    let luma = picture.data_mut(0);
    let mut previous: Option<GlyphId> = None;
    for c in text.chars() {
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
            if px < i64::from(area.x) || py < i64::from(area.y) || px >= right || py >= bottom {
                return;
            }
            let at = py as usize * stride + px as usize;
            let under = f32::from(luma[at]);
            luma[at] = (under + (WHITE - under) * coverage.clamp(0.0, 1.0)) as u8;
        });
    }
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
