//! Lost video packets repaired by retransmission (RFC 4585 generic NACK)
//! with rooms that agreed `nack`, by the WebRTC crate family's NACK
//! interceptors driven here without I/O: [`LossAsker`] asks the room again
//! for its camera's packets that did not arrive (every [`INTERVAL`], each
//! packet at most [`ASKS_PER_PACKET`] times, while the frame assembler's
//! reorder window can still use it), and [`SentHistory`] keeps the last
//! [`HISTORY`] packets we sent the room and gives back those it asks for.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc_interceptor::{
    AttributedPacket, Interceptor, NackGeneratorBuilder, NackGeneratorInterceptor,
    NackResponderBuilder, NackResponderInterceptor, Packet, RTCPFeedback, StreamInfo, TaggedPacket,
};
use rtc_rtcp::receiver_report::ReceiverReport;
use rtc_rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc_rtp::Header;
use rtc_shared::TransportContext;
use sansio::Protocol;

/// How often missing packets are asked for.
pub(crate) const INTERVAL: Duration = Duration::from_millis(40);
/// How many times one missing packet is asked for.
pub(crate) const ASKS_PER_PACKET: u16 = 3;
/// Packets kept for retransmission (about 2 s of 720p at 1.5 Mbit/s).
pub(crate) const HISTORY: u16 = 512;

fn with_nack(ssrc: u32) -> StreamInfo {
    StreamInfo {
        ssrc,
        clock_rate: 90000,
        rtcp_feedback: vec![RTCPFeedback {
            typ: "nack".into(),
            parameter: String::new(),
        }],
        ..StreamInfo::default()
    }
}

fn tagged(now: Instant, packet: Packet) -> TaggedPacket {
    TaggedPacket {
        now,
        transport: TransportContext::default(),
        message: AttributedPacket::new(packet),
    }
}

/// Asks the room for its camera's lost packets.
pub(crate) struct LossAsker {
    generator: NackGeneratorInterceptor,
    /// The room's SSRC the generator follows.
    theirs: Option<u32>,
    /// NACK packets sent.
    pub sent: u64,
}

impl LossAsker {
    pub fn new() -> LossAsker {
        LossAsker {
            generator: NackGeneratorBuilder::new()
                .with_interval(INTERVAL)
                .with_max_nacks_per_packet(ASKS_PER_PACKET)
                .build(),
            theirs: None,
            sent: 0,
        }
    }

    /// The room's packet `sequence` of `ssrc` arrived.
    pub fn received(&mut self, now: Instant, ssrc: u32, sequence: u16) {
        if self.theirs != Some(ssrc) {
            if let Some(old) = self.theirs.replace(ssrc) {
                self.generator.unbind_remote_stream(&with_nack(old));
            }
            self.generator.bind_remote_stream(&with_nack(ssrc));
        }
        let header = Header {
            ssrc,
            sequence_number: sequence,
            ..Header::default()
        };
        let packet = rtc_rtp::Packet {
            header,
            payload: Bytes::new(),
        };
        let _ = self.generator.handle_read(tagged(now, Packet::Rtp(packet)));
        while self.generator.poll_read().is_some() {}
    }

    /// The NACKs due at `now`, as one compound RTCP packet from `ours`
    /// (a receiver report first), if any packet is missing.
    pub fn due(&mut self, now: Instant, ours: u32) -> Option<Vec<u8>> {
        let _ = self.generator.handle_timeout(now);
        let mut compound: Vec<Box<dyn rtc_rtcp::packet::Packet>> = Vec::new();
        while let Some(out) = self.generator.poll_write() {
            let Packet::Rtcp(packets) = out.message.packet else {
                continue;
            };
            for p in packets {
                if let Some(nack) = p.as_any().downcast_ref::<TransportLayerNack>() {
                    compound.push(Box::new(TransportLayerNack {
                        sender_ssrc: ours,
                        ..nack.clone()
                    }));
                }
            }
        }
        if compound.is_empty() {
            return None;
        }
        self.sent += compound.len() as u64;
        let report = Box::new(ReceiverReport {
            ssrc: ours,
            ..ReceiverReport::default()
        });
        compound.insert(0, report);
        rtc_rtcp::packet::marshal(&compound)
            .ok()
            .map(|b| b.to_vec())
    }
}

/// The packets we sent the room, for those it asks for again.
pub(crate) struct SentHistory {
    responder: NackResponderInterceptor,
    /// NACK packets the room sent, and packets sent again.
    pub nacks_received: u64,
    pub retransmitted: u64,
}

impl SentHistory {
    pub fn new(ours: u32) -> SentHistory {
        let mut responder = NackResponderBuilder::new().with_size(HISTORY).build();
        responder.bind_local_stream(&with_nack(ours));
        SentHistory {
            responder,
            nacks_received: 0,
            retransmitted: 0,
        }
    }

    /// Keeps a packet just sent.
    pub fn sent(&mut self, now: Instant, header: Header, payload: Bytes) {
        let packet = rtc_rtp::Packet { header, payload };
        let _ = self
            .responder
            .handle_write(tagged(now, Packet::Rtp(packet)));
        while self.responder.poll_write().is_some() {}
    }

    /// The room's NACK: `resend` gets each packet asked for that is still kept.
    pub fn asked(
        &mut self,
        now: Instant,
        nack: TransportLayerNack,
        mut resend: impl FnMut(&rtc_rtp::Packet),
    ) {
        self.nacks_received += 1;
        let _ = self
            .responder
            .handle_read(tagged(now, Packet::Rtcp(vec![Box::new(nack)])));
        while self.responder.poll_read().is_some() {}
        while let Some(out) = self.responder.poll_write() {
            if let Packet::Rtp(packet) = &out.message.packet {
                self.retransmitted += 1;
                resend(packet);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc_rtcp::transport_feedbacks::transport_layer_nack::NackPair;

    #[test]
    fn a_gap_is_asked_for_from_our_ssrc_a_few_times() {
        let mut asker = LossAsker::new();
        let t0 = Instant::now();
        for seq in [10, 11, 13, 14] {
            asker.received(t0, 0xabc, seq);
        }
        assert_eq!(asker.due(t0, 7), None, "not before the interval");
        let mut asks = 0;
        for n in 1..=6 {
            let at = t0 + INTERVAL * n;
            if let Some(bytes) = asker.due(at, 7) {
                asks += 1;
                let packets = rtc_rtcp::packet::unmarshal(&mut &bytes[..]).unwrap();
                assert!(packets[0].as_any().is::<ReceiverReport>());
                let nack = packets[1]
                    .as_any()
                    .downcast_ref::<TransportLayerNack>()
                    .expect("a NACK after the report");
                assert_eq!((nack.sender_ssrc, nack.media_ssrc), (7, 0xabc));
                assert_eq!(nack.nacks[0].packet_id, 12);
            }
        }
        assert_eq!(asks, usize::from(ASKS_PER_PACKET));
        asker.received(t0 + INTERVAL * 7, 0xabc, 12);
        assert_eq!(asker.due(t0 + INTERVAL * 8, 7), None, "repaired");
        assert_eq!(asker.sent, 3);
    }

    #[test]
    fn packets_asked_for_are_sent_again_while_kept() {
        let mut history = SentHistory::new(5);
        let now = Instant::now();
        for seq in 100..110u16 {
            let header = Header {
                version: 2,
                ssrc: 5,
                sequence_number: seq,
                ..Header::default()
            };
            history.sent(now, header, Bytes::from(vec![seq as u8]));
        }
        let nack = TransportLayerNack {
            sender_ssrc: 9,
            media_ssrc: 5,
            // 103, and 105 by the bitmap; 2000 was never sent.
            nacks: vec![
                NackPair {
                    packet_id: 103,
                    lost_packets: 0b10,
                },
                NackPair {
                    packet_id: 2000,
                    lost_packets: 0,
                },
            ],
        };
        let mut again = Vec::new();
        history.asked(now, nack, |p| {
            again.push((p.header.sequence_number, p.payload[0]))
        });
        assert_eq!(again, [(103, 103), (105, 105)]);
        assert_eq!((history.nacks_received, history.retransmitted), (1, 2));
    }
}
