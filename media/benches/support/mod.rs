//! What the media benches share: camera-like pictures.

use media::video::{black, Picture};

/// A camera-like picture: a textured scene panning a few pixels a frame,
/// different for each camera. The cameras send 640x480 and 1280x720, so
/// one of them is scaled.
pub fn scene(camera: usize, frame: usize, width: u32, height: u32) -> Picture {
    let mut p = black(width, height);
    let shift = frame * 3 + camera * 97;
    for plane in 0..3 {
        let sub = usize::from(plane > 0);
        let (w, h) = ((width as usize) >> sub, (height as usize) >> sub);
        let stride = p.stride(plane);
        let data = p.data_mut(plane);
        for y in 0..h {
            for x in 0..w {
                let (sx, sy) = ((x + shift) as u32, y as u32);
                let texture = (sx.wrapping_mul(2_654_435_761) ^ sy.wrapping_mul(40_503)) >> 27;
                let v = if plane == 0 {
                    (sx / 8 + sy / 6) % 160 + 40 + texture
                } else {
                    128 + ((sx / 16 + sy / 16) % 32)
                };
                data[y * stride + x] = v as u8;
            }
        }
    }
    p
}
