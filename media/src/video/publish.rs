//! A room's camera transcoded for its meeting, for rooms whose video
//! browsers do not decode (H.263, H.264 of a profile they lack): the
//! picture the video worker decoded anyway is encoded once more as H.264
//! constrained baseline in mode 1, at the camera's own size (within 720p)
//! and a bitrate worth it, and written as RTP packets of the room's
//! published track.

use bytes::Bytes;
use rtc_rtp::{Header, Packet};

use super::encode::{worth_kbps, EncodeError, Output, VideoEncoder};
use super::leg::PublishVideo;
use super::picture::{fit, Fitter, Picture};
use media_api::{LegId, SendMode, VideoCodec};

/// The largest picture published: 720p's lines and width.
const MAX: (u32, u32) = (1280, 720);

/// What a camera of `width`×`height` is published as: its own size
/// (even sides), or fitted into 720p with its aspect ratio kept.
fn meeting_mode(width: u32, height: u32) -> SendMode {
    let (width, height) = if width <= MAX.0 && height <= MAX.1 {
        ((width & !1).max(16), (height & !1).max(16))
    } else {
        let (_, _, w, h) = fit((width, height), MAX);
        (w, h)
    };
    SendMode {
        width,
        height,
        fps: 30,
    }
}

struct Encoding {
    encoder: VideoEncoder,
    fitter: Fitter,
    mode: SendMode,
}

pub(crate) struct Publisher {
    leg: LegId,
    to: PublishVideo,
    /// Made for the camera's size with its first picture (again if the
    /// size changes).
    encoding: Option<Encoding>,
    sequence: u16,
    pub frames: u64,
}

impl Publisher {
    pub fn new(leg: LegId, to: PublishVideo) -> Publisher {
        Publisher {
            leg,
            to,
            encoding: None,
            sequence: rand::random(),
            frames: 0,
        }
    }

    /// The meeting wants a keyframe.
    pub fn want_keyframe(&mut self) {
        if let Some(encoding) = &mut self.encoding {
            encoding.encoder.want_keyframe();
        }
    }

    /// What the camera is published as, once it has sent a picture.
    pub fn mode(&self) -> Option<SendMode> {
        self.encoding.as_ref().map(|e| e.mode)
    }

    /// Encodes the camera's new picture, taken at `millis`, and sends it
    /// to the meeting.
    pub fn publish(&mut self, picture: &Picture, millis: u64) -> Result<(), EncodeError> {
        let mode = meeting_mode(picture.width(), picture.height());
        if self.encoding.as_ref().is_none_or(|e| e.mode != mode) {
            let output = Output {
                codec: VideoCodec::H264,
                packetization_mode: 1,
                mode,
                kbps: worth_kbps(mode.height),
            };
            self.encoding = Some(Encoding {
                encoder: VideoEncoder::new(output)?,
                fitter: Fitter::new(mode.width, mode.height),
                mode,
            });
        }
        let encoding = self.encoding.as_mut().expect("just made");
        let fitted = encoding.fitter.fit(picture)?;
        let Some(frame) = encoding.encoder.encode(fitted, millis)? else {
            return Ok(());
        };
        self.frames += 1;
        let last = frame.payloads.len().saturating_sub(1);
        for (i, payload) in frame.payloads.iter().enumerate() {
            let packet = Packet {
                header: Header {
                    version: 2,
                    marker: i == last,
                    payload_type: self.to.payload_type,
                    sequence_number: self.sequence,
                    timestamp: frame.timestamp,
                    ssrc: self.to.ssrc,
                    ..Default::default()
                },
                payload: Bytes::clone(payload),
            };
            self.sequence = self.sequence.wrapping_add(1);
            // A full queue drops the packet, as the forwarded path does.
            let _ = self.to.packets.try_send((self.leg, packet));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cameras_are_published_at_their_size_within_720p() {
        let mode = |w, h| {
            let m = meeting_mode(w, h);
            (m.width, m.height)
        };
        assert_eq!(mode(352, 288), (352, 288));
        assert_eq!(mode(704, 576), (704, 576));
        assert_eq!(mode(1920, 1080), (1280, 720));
        assert_eq!(mode(1408, 1152), (880, 720));
    }
}
