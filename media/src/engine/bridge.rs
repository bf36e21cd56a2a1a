//! A room leg's audio to and from its meeting, on the media thread: the
//! room's audio is encoded to Opus and handed to the connector (which
//! writes it to the published WebRTC track), and every stream the meeting
//! sends (one per other participant, browsers and rooms alike) is mixed for
//! the room — the one mixing path. Each participant's stream is decoded
//! once per media node however many local rooms hear it ([`MeetingAudio`]).
//! The loudest stream a room hears is reported as its active speaker.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

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

/// Where the room's stream goes: the published track's SSRC, the id of
/// its audio-level extension, and the connector's queue.
pub(crate) struct PublishTo {
    pub ssrc: u32,
    pub audio_level_id: Option<u8>,
    pub packets: mpsc::Sender<Packet>,
}

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
    /// A publisher of audio that is no wider than `audio_hz` (the room's
    /// codec: 8 kHz G.711 is encoded as narrowband Opus, and so on).
    pub fn new(to: PublishTo, audio_hz: u32) -> Option<Publisher> {
        let PublishTo {
            ssrc,
            audio_level_id,
            packets,
        } = to;
        // No in-band FEC: it costs ~40% more encoding and the path to the
        // meeting service is a data-centre one (loopback for the embedded
        // service); turning it on when the service reports loss is to come.
        let options = CodecOptions {
            max_playback_rate: Some(audio_hz),
            ..CodecOptions::default()
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

/// One of the meeting's streams as a leg's connector receives it.
pub(crate) struct MeetingStream {
    pub id: u64,
    pub participant: String,
    pub inbound: Arc<Mutex<Inbound>>,
}

/// A participant's audio as this media node hears it. Every local room of
/// the meeting receives its own copy; one of them (the first) is decoded,
/// once per frame, for all; the others are only kept current, to take
/// over if the first goes.
struct Decoded {
    sources: Vec<(u64, Arc<Mutex<Inbound>>)>,
    codec: Box<dyn Codec>,
    decoder: FrameDecoder,
    frame: Frame,
    level: u8,
}

impl Decoded {
    fn decode(&mut self, now: Instant) {
        let Some(((_, first), others)) = self.sources.split_first() else {
            return;
        };
        let heard = self.decoder.pull(
            now,
            first,
            |i: &mut Inbound| &mut i.jitter,
            self.codec.as_mut(),
            20,
            &mut self.frame,
        );
        self.level = if heard { level(&self.frame) } else { 127 };
        for (_, other) in others {
            other.lock().expect("stream state").jitter.skip_to_latest();
        }
    }
}

/// The meeting streams of every bridged leg on this node, by meeting and
/// participant.
#[derive(Default)]
pub(crate) struct MeetingAudio {
    meetings: HashMap<String, HashMap<String, Decoded>>,
}

impl MeetingAudio {
    fn add(&mut self, meeting: &str, stream: MeetingStream) -> Option<()> {
        let streams = self.meetings.entry(meeting.to_owned()).or_default();
        let decoded = match streams.entry(stream.participant) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(Decoded {
                sources: Vec::new(),
                codec: new_codec(AudioCodec::Opus, CodecOptions::default()).ok()?,
                decoder: FrameDecoder::default(),
                frame: [0; FRAME],
                level: 127,
            }),
        };
        decoded.sources.push((stream.id, stream.inbound));
        Some(())
    }

    fn remove(&mut self, meeting: &str, participant: &str, id: u64) {
        let Some(streams) = self.meetings.get_mut(meeting) else {
            return;
        };
        if let Some(decoded) = streams.get_mut(participant) {
            decoded.sources.retain(|(s, _)| *s != id);
            if decoded.sources.is_empty() {
                streams.remove(participant);
            }
        }
        if streams.is_empty() {
            self.meetings.remove(meeting);
        }
    }

    /// Decodes every stream's next frame at `now`; once per tick, before
    /// mixing.
    pub fn decode(&mut self, now: Instant) {
        for decoded in self.meetings.values_mut().flat_map(|m| m.values_mut()) {
            decoded.decode(now);
        }
    }

    fn get(&self, meeting: &str, participant: &str) -> Option<&Decoded> {
        self.meetings.get(meeting)?.get(participant)
    }
}

/// A leg's presence in its meeting.
pub(crate) struct Bridge {
    meeting: String,
    publisher: Publisher,
    /// The meeting's streams this room hears: (stream id, participant).
    hears: Vec<(u64, String)>,
    frames: Vec<Frame>,
    levels: Vec<(u64, u8)>,
    speaker: SpeakerDetector<u64>,
}

impl Bridge {
    pub fn new(meeting: String, publisher: Publisher) -> Bridge {
        Bridge {
            meeting,
            publisher,
            hears: Vec::new(),
            frames: Vec::new(),
            levels: Vec::new(),
            speaker: SpeakerDetector::default(),
        }
    }

    /// How many of the meeting's streams the room hears.
    pub fn streams(&self) -> usize {
        self.hears.len()
    }

    pub fn add(&mut self, stream: MeetingStream, audio: &mut MeetingAudio) {
        self.hears.push((stream.id, stream.participant.clone()));
        self.frames.push([0; FRAME]);
        if audio.add(&self.meeting, stream).is_none() {
            tracing::warn!("no Opus decoder");
        }
    }

    pub fn remove(&mut self, id: u64, audio: &mut MeetingAudio) {
        if let Some(i) = self.hears.iter().position(|(s, _)| *s == id) {
            let (_, participant) = self.hears.swap_remove(i);
            self.frames.swap_remove(i);
            audio.remove(&self.meeting, &participant, id);
        }
    }

    /// Leaves the meeting's streams (the leg is gone or out of the meeting).
    pub fn close(self, audio: &mut MeetingAudio) {
        for (id, participant) in &self.hears {
            audio.remove(&self.meeting, participant, *id);
        }
    }

    /// Sends the room's frame (silence when it does not contribute).
    pub fn publish(&mut self, frame: &Frame) {
        self.publisher.publish(frame);
    }

    /// Mixes the meeting's streams (decoded this tick) into `out`; returns
    /// the participant who became the loudest, if that changed.
    pub fn hear(&mut self, audio: &MeetingAudio, out: &mut Frame) -> Option<&str> {
        self.levels.clear();
        for ((id, participant), frame) in self.hears.iter().zip(self.frames.iter_mut()) {
            let decoded = audio.get(&self.meeting, participant);
            match decoded {
                Some(d) => *frame = d.frame,
                None => frame.fill(0),
            }
            self.levels.push((*id, decoded.map_or(127, |d| d.level)));
        }
        mix(&self.frames, out);
        let speaker = self.speaker.update(&self.levels)?;
        self.hears
            .iter()
            .find(|(id, _)| *id == speaker)
            .map(|(_, participant)| participant.as_str())
    }
}
