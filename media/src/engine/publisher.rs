//! A room's stream into its meeting, on the media worker: its audio is
//! encoded to Opus, stamped with its RFC 6464 level, and handed to the
//! meeting's hub, which writes it to the room's published WebRTC track.

use bytes::Bytes;
use rtc_rtp::{Header, Packet};
use tokio::sync::mpsc;

use crate::audio::{new_codec, Codec, CodecOptions, Frame, FRAME};
use crate::mixer::level;
use media_api::{AudioCodec, LegId};

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

/// Where the room's stream goes: the published track's SSRC, the id of
/// its audio-level extension, and the hub's queue.
pub(crate) struct PublishTo {
    pub ssrc: u32,
    pub audio_level_id: Option<u8>,
    pub packets: mpsc::Sender<(LegId, Packet)>,
}

/// The room's stream into the meeting.
pub(crate) struct Publisher {
    leg: LegId,
    encoder: Box<dyn Codec>,
    audio_hz: u32,
    /// Negotiated id of the audio-level extension, if the service takes it.
    audio_level_id: Option<u8>,
    payload: Vec<u8>,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    packets: mpsc::Sender<(LegId, Packet)>,
}

impl Publisher {
    /// A publisher of audio that is no wider than `audio_hz` (the room's
    /// codec: 8 kHz G.711 is encoded as narrowband Opus, and so on).
    pub fn new(leg: LegId, to: PublishTo, audio_hz: u32) -> Option<Publisher> {
        let PublishTo {
            ssrc,
            audio_level_id,
            packets,
        } = to;
        Some(Publisher {
            leg,
            encoder: encoder(audio_hz)?,
            audio_hz,
            audio_level_id,
            payload: Vec::with_capacity(1500),
            ssrc,
            seq: rand::random(),
            timestamp: rand::random(),
            packets,
        })
    }

    /// Re-creates the encoder if the room's audio width changed (its codec
    /// was negotiated again).
    pub fn set_audio_hz(&mut self, audio_hz: u32) {
        if audio_hz != self.audio_hz {
            if let Some(encoder) = encoder(audio_hz) {
                self.encoder = encoder;
                self.audio_hz = audio_hz;
            }
        }
    }

    /// Encodes one frame and queues it for the published track (dropped if
    /// the hub is behind: late audio is worse than none).
    pub fn publish(&mut self, frame: &Frame) {
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
            let _ = self.packets.try_send((self.leg, packet));
        }
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(FRAME as u32);
    }
}

/// An Opus encoder for audio no wider than `audio_hz`. No in-band FEC: it
/// costs ~40% more encoding and the path to the meeting service is a
/// data-centre one (loopback for the embedded service); turning it on when
/// the service reports loss is to come.
fn encoder(audio_hz: u32) -> Option<Box<dyn Codec>> {
    let options = CodecOptions {
        max_playback_rate: Some(audio_hz),
        ..CodecOptions::default()
    };
    new_codec(AudioCodec::Opus, options).ok()
}
