//! The meeting's picture on its way to one room: each encoded frame (one
//! encoder may serve several rooms) written as RTP with the room's own
//! SSRC, sequence numbers, payload type and timestamp offset, to where the
//! room's camera comes from (symmetric RTP) or else where its SDP said.

use std::net::{SocketAddr, UdpSocket};

use rtc_rtp::Header;
use rtc_shared::marshal::{Marshal, MarshalSize};

use super::router::SentFrame;
use media_api::{SendMode, VideoCodec};

/// What went out, for the call's stats.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SentStats {
    pub frames: u64,
    pub keyframes: u64,
    pub packets: u64,
    pub bytes: u64,
    /// The last frame's encoder: what it makes, and how many rooms it serves.
    pub last: Option<(VideoCodec, SendMode, u32, usize)>,
}

pub(crate) struct Transmitter {
    ssrc: u32,
    sequence: u16,
    timestamp_offset: u32,
    buf: Vec<u8>,
    pub stats: SentStats,
}

impl Transmitter {
    pub fn new(ssrc: u32) -> Transmitter {
        Transmitter {
            ssrc,
            sequence: rand::random(),
            timestamp_offset: rand::random(),
            buf: Vec::with_capacity(1500),
            stats: SentStats::default(),
        }
    }

    /// Sends `sent` on `socket` to `to` as payload type `payload_type`.
    pub fn send(&mut self, sent: &SentFrame, payload_type: u8, socket: &UdpSocket, to: SocketAddr) {
        let frame = &sent.frame;
        let last = frame.payloads.len().saturating_sub(1);
        for (i, payload) in frame.payloads.iter().enumerate() {
            let header = Header {
                version: 2,
                marker: i == last,
                payload_type,
                sequence_number: self.sequence,
                timestamp: frame.timestamp.wrapping_add(self.timestamp_offset),
                ssrc: self.ssrc,
                ..Default::default()
            };
            self.sequence = self.sequence.wrapping_add(1);
            self.buf.clear();
            self.buf.resize(header.marshal_size(), 0);
            if header.marshal_to(&mut self.buf).is_err() {
                continue;
            }
            self.buf.extend_from_slice(payload);
            if socket.send_to(&self.buf, to).is_ok() {
                self.stats.packets += 1;
                self.stats.bytes += self.buf.len() as u64;
            }
        }
        self.stats.frames += 1;
        if frame.keyframe {
            self.stats.keyframes += 1;
        }
        let o = sent.output;
        self.stats.last = Some((o.codec, o.mode, o.kbps, sent.sharing));
    }
}
