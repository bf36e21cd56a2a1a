//! Decoding a participant's camera, once per node: H.264 with openh264,
//! VP8 and H.263 with FFmpeg, into a [`Picture`] kept until the next frame.

use ffmpeg_next::codec::packet::Borrow;
use ffmpeg_next::codec::{self, Context, Id};
use ffmpeg_next::format::Pixel;
use ffmpeg_next::frame;
use openh264::decoder::Decoder as H264Decoder;
use openh264::formats::YUVSource;

use super::picture::{copy_planes, Picture};
use media_api::VideoCodec;

/// Largest picture a source may send: 1080p's macroblocks (8160), in
/// either orientation.
const MAX_PIXELS: usize = 1920 * 1088;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("openh264: {0}")]
    H264(#[from] openh264::Error),
    #[error("FFmpeg: {0}")]
    Ffmpeg(#[from] ffmpeg_next::Error),
    #[error("a {0}x{1} picture is above 1080p")]
    TooLarge(usize, usize),
}

enum Inner {
    H264(Box<H264Decoder>),
    /// FFmpeg's decoder of VP8 or H.263.
    Ffmpeg(Box<codec::decoder::Video>, frame::Video),
}

pub struct VideoDecoder {
    inner: Inner,
    picture: Picture,
}

impl VideoDecoder {
    pub fn new(codec: VideoCodec) -> Result<VideoDecoder, DecodeError> {
        let inner = match codec {
            VideoCodec::H264 => Inner::H264(Box::new(H264Decoder::new()?)),
            VideoCodec::Vp8 | VideoCodec::H263 => {
                ffmpeg_next::init()?;
                let id = if codec == VideoCodec::Vp8 {
                    Id::VP8
                } else {
                    Id::H263
                };
                let found =
                    ffmpeg_next::decoder::find(id).ok_or(ffmpeg_next::Error::DecoderNotFound)?;
                let decoder = Context::new_with_codec(found)
                    .decoder()
                    .open_as(found)?
                    .video()?;
                Inner::Ffmpeg(Box::new(decoder), frame::Video::empty())
            }
        };
        Ok(VideoDecoder {
            inner,
            picture: frame::Video::empty(),
        })
    }

    /// Decodes one whole frame; true if it gave a new picture.
    pub fn decode(&mut self, data: &[u8]) -> Result<bool, DecodeError> {
        match &mut self.inner {
            Inner::H264(decoder) => {
                let Some(yuv) = decoder.decode(data)? else {
                    return Ok(false);
                };
                let (w, h) = yuv.dimensions();
                if w * h > MAX_PIXELS {
                    return Err(DecodeError::TooLarge(w, h));
                }
                let (sy, su, sv) = yuv.strides();
                copy_planes(
                    &mut self.picture,
                    (w, h),
                    [yuv.y(), yuv.u(), yuv.v()],
                    [sy, su, sv],
                );
            }
            Inner::Ffmpeg(decoder, frame) => {
                decoder.send_packet(&Borrow::new(data))?;
                if decoder.receive_frame(frame).is_err() {
                    return Ok(false);
                }
                let (w, h) = (frame.width() as usize, frame.height() as usize);
                if w * h > MAX_PIXELS {
                    return Err(DecodeError::TooLarge(w, h));
                }
                if frame.format() != Pixel::YUV420P {
                    return Err(ffmpeg_next::Error::InvalidData.into());
                }
                let strides = [frame.stride(0), frame.stride(1), frame.stride(2)];
                copy_planes(
                    &mut self.picture,
                    (w, h),
                    [frame.data(0), frame.data(1), frame.data(2)],
                    strides,
                );
            }
        }
        Ok(true)
    }

    /// The latest picture.
    pub fn picture(&self) -> &Picture {
        &self.picture
    }
}
