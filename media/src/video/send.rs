//! The meeting's picture on its way to one room: each encoded frame (one
//! encoder may serve several rooms) written as RTP with the room's own
//! SSRC, sequence numbers, payload type and timestamp offset, to where the
//! room's camera comes from (symmetric RTP) or else where its SDP said;
//! kept a while for rooms that agreed NACK, and sent again when asked;
//! under the cap the room's TMMBR or REMB puts on it; encrypted (SRTP)
//! when the call agreed to.

use std::net::{SocketAddr, UdpSocket};
use std::time::Instant;

use rtc_rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc_rtp::Header;
use rtc_shared::marshal::{Marshal, MarshalSize};

use super::nack::SentHistory;
use super::rate::RateCap;
use super::router::SentFrame;
use crate::srtp::SrtpSend;
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
    /// What the room may ask for again (when it agreed `nack`).
    pub history: Option<SentHistory>,
    /// The room's own cap on what it takes.
    pub rate: RateCap,
    /// SRTP, when the stream is encrypted.
    pub protection: SrtpSend,
}

impl Transmitter {
    pub fn new(ssrc: u32) -> Transmitter {
        Transmitter {
            ssrc,
            sequence: rand::random(),
            timestamp_offset: rand::random(),
            buf: Vec::with_capacity(1500),
            stats: SentStats::default(),
            history: None,
            rate: RateCap::default(),
            protection: SrtpSend::Clear,
        }
    }

    /// Sends `sent` on `socket` to `to` as payload type `payload_type`.
    pub fn send(
        &mut self,
        now: Instant,
        sent: &SentFrame,
        payload_type: u8,
        socket: &UdpSocket,
        to: SocketAddr,
    ) {
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
            if self.protection.send(&self.buf, false, socket, to) {
                self.stats.packets += 1;
                self.stats.bytes += self.buf.len() as u64;
            }
            if let Some(history) = &mut self.history {
                history.sent(now, header, payload.clone());
            }
        }
        self.stats.frames += 1;
        if frame.keyframe {
            self.stats.keyframes += 1;
        }
        let o = sent.output;
        self.stats.last = Some((o.codec, o.mode, o.kbps, sent.sharing));
    }

    /// The room's NACK: the packets it names that are still kept go again,
    /// as they were.
    pub fn nacked(
        &mut self,
        now: Instant,
        nack: TransportLayerNack,
        socket: &UdpSocket,
        to: SocketAddr,
    ) {
        let Some(history) = &mut self.history else {
            return;
        };
        let (buf, protection) = (&mut self.buf, &mut self.protection);
        history.asked(now, nack, |packet| {
            buf.clear();
            buf.resize(packet.marshal_size(), 0);
            if packet.marshal_to(buf).is_ok() {
                protection.send(buf, false, socket, to);
            }
        });
    }
}
