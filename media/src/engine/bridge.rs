//! A room leg's audio to and from its meeting, on the media thread: the
//! room's audio is encoded to Opus and handed to the connector (which
//! writes it to the published WebRTC track), and every stream the meeting
//! sends (one per other participant, browsers and rooms alike) is decoded
//! and mixed for the room — the one mixing path. The loudest of those
//! streams is reported as the room's active speaker.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rtc_rtp::{Header, Packet};
use tokio::sync::mpsc;

use super::inbound::{FrameDecoder, Inbound};
use crate::audio::{new_codec, Codec, CodecOptions, Frame, FRAME};
use crate::mixer::{level, mix};
use crate::AudioCodec;
use meeting::speaker::SpeakerDetector;

/// Opus payload type of the meeting's audio (see `meeting::rtc::codecs`).
pub(crate) const OPUS_PAYLOAD_TYPE: u8 = 111;

/// RFC 6464 extension bytes by level: voice-activity bit set, then -dBov.
static LEVEL_BYTES: [u8; 128] = {
    let mut bytes = [0u8; 128];
    let mut i = 0;
    while i < 128 {
        bytes[i] = 0x80 | i as u8;
        i += 1;
    }
    bytes
};

/// The room's stream into the meeting.
pub(crate) struct Publisher {
    encoder: Box<dyn Codec>,
    /// Negotiated id of the audio-level extension, if the service takes it.
    audio_level_id: Option<u8>,
    payload: Vec<u8>,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    packets: mpsc::Sender<Packet>,
}

impl Publisher {
    pub fn new(
        ssrc: u32,
        audio_level_id: Option<u8>,
        packets: mpsc::Sender<Packet>,
    ) -> Option<Publisher> {
        let options = CodecOptions {
            fec: true,
            dtx: false,
        };
        Some(Publisher {
            encoder: new_codec(AudioCodec::Opus, options).ok()?,
            audio_level_id,
            payload: Vec::with_capacity(1500),
            ssrc,
            seq: rand::random(),
            timestamp: rand::random(),
            packets,
        })
    }

    /// Encodes one frame and queues it for the published track (dropped if
    /// the connector is behind: late audio is worse than none).
    fn publish(&mut self, frame: &Frame) {
        self.payload.clear();
        if self.encoder.encode(frame, &mut self.payload).is_ok() {
            let mut packet = Packet {
                header: Header {
                    version: 2,
                    payload_type: OPUS_PAYLOAD_TYPE,
                    sequence_number: self.seq,
                    timestamp: self.timestamp,
                    ssrc: self.ssrc,
                    ..Header::default()
                },
                payload: Bytes::copy_from_slice(&self.payload),
            };
            if let Some(id) = self.audio_level_id {
                let l = usize::from(level(frame));
                let _ = packet
                    .header
                    .set_extension(id, Bytes::from_static(&LEVEL_BYTES[l..=l]));
            }
            let _ = self.packets.try_send(packet);
        }
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(FRAME as u32);
    }
}

/// One of the meeting's streams this room hears.
pub(crate) struct MeetingStream {
    pub id: u64,
    pub participant: String,
    pub inbound: Arc<Mutex<Inbound>>,
    codec: Box<dyn Codec>,
    decoder: FrameDecoder,
}

impl MeetingStream {
    pub fn new(id: u64, participant: String, inbound: Arc<Mutex<Inbound>>) -> Option<Self> {
        Some(MeetingStream {
            id,
            participant,
            inbound,
            codec: new_codec(AudioCodec::Opus, CodecOptions::default()).ok()?,
            decoder: FrameDecoder::default(),
        })
    }
}

/// A leg's presence in its meeting.
pub(crate) struct Bridge {
    publisher: Publisher,
    streams: Vec<MeetingStream>,
    frames: Vec<Frame>,
    levels: Vec<(u64, u8)>,
    speaker: SpeakerDetector<u64>,
}

impl Bridge {
    pub fn new(publisher: Publisher) -> Bridge {
        Bridge {
            publisher,
            streams: Vec::new(),
            frames: Vec::new(),
            levels: Vec::new(),
            speaker: SpeakerDetector::default(),
        }
    }

    /// How many of the meeting's streams the room hears.
    pub fn streams(&self) -> usize {
        self.streams.len()
    }

    pub fn add(&mut self, stream: MeetingStream) {
        self.streams.push(stream);
        self.frames.push([0; FRAME]);
    }

    pub fn remove(&mut self, id: u64) {
        if let Some(i) = self.streams.iter().position(|s| s.id == id) {
            self.streams.swap_remove(i);
            self.frames.swap_remove(i);
        }
    }

    /// Sends the room's frame (silence when it does not contribute).
    pub fn publish(&mut self, frame: &Frame) {
        self.publisher.publish(frame);
    }

    /// Mixes the meeting's streams into `out`; returns the participant who
    /// became the loudest, if that changed.
    pub fn hear(&mut self, out: &mut Frame) -> Option<&str> {
        self.levels.clear();
        for (stream, frame) in self.streams.iter_mut().zip(self.frames.iter_mut()) {
            let heard = stream.decoder.pull(
                &stream.inbound,
                |i: &mut Inbound| &mut i.jitter,
                stream.codec.as_mut(),
                20,
                frame,
            );
            self.levels
                .push((stream.id, if heard { level(frame) } else { 127 }));
        }
        mix(&self.frames, out);
        let speaker = self.speaker.update(&self.levels)?;
        self.streams
            .iter()
            .find(|s| s.id == speaker)
            .map(|s| s.participant.as_str())
    }
}
