//! Pictures as the video workers pass them around: FFmpeg YUV 4:2:0
//! frames, and fitting one into the size a room takes — scaled with
//! FFmpeg's swscale, aspect ratio kept (letterboxed on black, never
//! stretched).

use ffmpeg_next::format::Pixel;
use ffmpeg_next::frame::Video as Frame;
use ffmpeg_next::software::scaling::{self, Flags};

/// A YUV 4:2:0 picture.
pub type Picture = Frame;

/// Black, in YUV.
const BLACK: [u8; 3] = [16, 128, 128];

/// A black `width`×`height` picture.
pub fn black(width: u32, height: u32) -> Picture {
    let mut picture = Frame::new(Pixel::YUV420P, width, height);
    fill(&mut picture, BLACK);
    picture
}

/// Paints every pixel of `picture` the colour `yuv`.
pub fn fill(picture: &mut Picture, yuv: [u8; 3]) {
    for (plane, value) in yuv.into_iter().enumerate() {
        picture.data_mut(plane).fill(value);
    }
}

/// Copies planes given with their strides (a decoder's output) into
/// `picture`, made anew if its size differs.
pub fn copy_planes(
    picture: &mut Picture,
    (width, height): (usize, usize),
    planes: [&[u8]; 3],
    strides: [usize; 3],
) {
    if picture.width() as usize != width || picture.height() as usize != height {
        *picture = Frame::new(Pixel::YUV420P, width as u32, height as u32);
    }
    for (plane, (source, stride)) in planes.into_iter().zip(strides).enumerate() {
        let (w, h) = if plane == 0 {
            (width, height)
        } else {
            (width.div_ceil(2), height.div_ceil(2))
        };
        let to_stride = picture.stride(plane);
        let to = picture.data_mut(plane);
        for row in 0..h {
            let from = &source[row * stride..row * stride + w];
            to[row * to_stride..row * to_stride + w].copy_from_slice(from);
        }
    }
}

/// The rectangle (x, y, width, height) a `from` picture fills in `to`,
/// centred, with its aspect ratio kept; even, as 4:2:0 needs.
pub fn fit((fw, fh): (u32, u32), (tw, th): (u32, u32)) -> (u32, u32, u32, u32) {
    let even = |v: u32| (v & !1).max(2);
    let (w, h) = if u64::from(fw) * u64::from(th) > u64::from(fh) * u64::from(tw) {
        (
            tw,
            even((u64::from(tw) * u64::from(fh) / u64::from(fw.max(1))) as u32),
        )
    } else {
        (
            even((u64::from(th) * u64::from(fw) / u64::from(fh.max(1))) as u32),
            th,
        )
    };
    let (w, h) = (w.min(tw), h.min(th));
    (((tw - w) / 2) & !1, ((th - h) / 2) & !1, w, h)
}

/// Fits pictures of one size into a canvas of another: the scaler and the
/// scaled picture are kept while the source's size stays the same.
pub struct Fitter {
    canvas: Picture,
    scaled: Picture,
    scaler: Option<(scaling::Context, (u32, u32))>,
}

impl Fitter {
    pub fn new(width: u32, height: u32) -> Fitter {
        Fitter {
            canvas: black(width, height),
            scaled: Frame::empty(),
            scaler: None,
        }
    }

    /// `source` fitted into the canvas.
    pub fn fit<'a>(&'a mut self, source: &'a Picture) -> Result<&'a Picture, ffmpeg_next::Error> {
        let size = (source.width(), source.height());
        let canvas = (self.canvas.width(), self.canvas.height());
        if size == canvas {
            return Ok(source);
        }
        if self.scaler.as_ref().map(|(_, s)| *s) != Some(size) {
            let (_, _, w, h) = fit(size, canvas);
            let scaler = scaling::Context::get(
                Pixel::YUV420P,
                size.0,
                size.1,
                Pixel::YUV420P,
                w,
                h,
                Flags::BILINEAR,
            )?;
            self.scaler = Some((scaler, size));
            self.canvas = black(canvas.0, canvas.1);
            self.scaled = Frame::new(Pixel::YUV420P, w, h);
        }
        let (scaler, _) = self.scaler.as_mut().expect("just made");
        scaler.run(source, &mut self.scaled)?;
        let (x, y, w, h) = fit(size, canvas);
        if (w, h) == canvas {
            return Ok(&self.scaled);
        }
        paste(&self.scaled, &mut self.canvas, x, y);
        Ok(&self.canvas)
    }

    /// What the last [`Fitter::fit`] of `source` gave.
    pub fn fitted<'a>(&'a self, source: &'a Picture) -> &'a Picture {
        let canvas = (self.canvas.width(), self.canvas.height());
        if (source.width(), source.height()) == canvas {
            source
        } else if (self.scaled.width(), self.scaled.height()) == canvas {
            &self.scaled
        } else {
            &self.canvas
        }
    }

    /// The canvas with nothing fitted: black.
    pub fn blank(&mut self) -> &Picture {
        // Fitting again pastes over the middle; the letterbox stays black.
        fill(&mut self.canvas, BLACK);
        &self.canvas
    }
}

/// Copies `from` into `to` with its top left corner at (`x`, `y`), both
/// even; what falls outside `to` is cut off.
pub fn paste(from: &Picture, to: &mut Picture, x: u32, y: u32) {
    for plane in 0..3 {
        let shift = u32::from(plane > 0);
        let (x, y) = ((x >> shift) as usize, (y >> shift) as usize);
        let w = ((from.width() >> shift) as usize)
            .min(((to.width() >> shift) as usize).saturating_sub(x));
        let h = ((from.height() >> shift) as usize)
            .min(((to.height() >> shift) as usize).saturating_sub(y));
        let from_stride = from.stride(plane);
        let to_stride = to.stride(plane);
        let source = from.data(plane);
        let target = to.data_mut(plane);
        for row in 0..h {
            let f = &source[row * from_stride..row * from_stride + w];
            let start = (y + row) * to_stride + x;
            target[start..start + w].copy_from_slice(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_pictures_are_letterboxed_and_tall_ones_pillarboxed() {
        assert_eq!(fit((640, 360), (1280, 720)), (0, 0, 1280, 720));
        assert_eq!(fit((640, 480), (1280, 720)), (160, 0, 960, 720));
        assert_eq!(fit((1280, 720), (640, 480)), (0, 60, 640, 360));
    }

    #[test]
    fn a_four_by_three_picture_keeps_its_colour_and_black_bars() {
        ffmpeg_next::init().unwrap();
        let mut source = black(320, 240);
        fill(&mut source, [41, 240, 110]); // red
        let mut fitter = Fitter::new(640, 360);
        let out = fitter.fit(&source).unwrap();
        assert_eq!((out.width(), out.height()), (640, 360));
        let y = |x: usize, row: usize| out.data(0)[row * out.stride(0) + x];
        assert_eq!(y(10, 180), 16, "the bar at the left is black");
        assert_eq!(y(320, 180), 41, "the middle is the source");
    }
}
