//! One participant's audio as the meeting's hub receives it (once per
//! node) and its media worker decodes it (once per frame, for every local
//! room that hears it).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::inbound::{FrameDecoder, Inbound};
use crate::audio::{new_codec, Codec, CodecOptions, Frame, FRAME};
use crate::mixer::level;
use media_api::AudioCodec;

/// What the hub's receive task fills.
pub(crate) type SharedInbound = Arc<Mutex<Inbound>>;

/// A remote participant's stream, on the media worker.
pub(crate) struct MeetingStream {
    pub id: u64,
    pub participant: String,
    inbound: SharedInbound,
    /// Decoded lazily: `None` until the worker first decodes it.
    codec: Option<Box<dyn Codec>>,
    decoder: FrameDecoder,
    pub frame: Frame,
    /// RFC 6464 level of `frame` (127: silence or nothing heard).
    pub level: u8,
}

impl MeetingStream {
    /// A stream and the handle its receive task feeds (48 kHz Opus).
    pub fn new(id: u64, participant: String) -> (MeetingStream, SharedInbound) {
        let inbound = Arc::new(Mutex::new(Inbound::new(48000)));
        let stream = MeetingStream {
            id,
            participant,
            inbound: inbound.clone(),
            codec: None,
            decoder: FrameDecoder::default(),
            frame: [0; FRAME],
            level: 127,
        };
        (stream, inbound)
    }

    /// Decodes the next 20 ms at `now` into `frame`.
    pub fn decode(&mut self, now: Instant) {
        if self.codec.is_none() {
            self.codec = new_codec(AudioCodec::Opus, CodecOptions::default()).ok();
        }
        let Some(codec) = self.codec.as_mut() else {
            self.frame.fill(0);
            self.level = 127;
            return;
        };
        let heard = self.decoder.pull(
            now,
            &self.inbound,
            |i: &mut Inbound| &mut i.jitter,
            codec.as_mut(),
            20,
            &mut self.frame,
        );
        self.level = if heard { level(&self.frame) } else { 127 };
    }
}
