//! Asking a room for a keyframe, the way it negotiated (PLI where it
//! offered `nack pli`, an RFC 5104 FIR where it offered only `ccm fir`,
//! its signaling — SIP INFO, H.245 — where it has no AVPF feedback), at
//! most once per [`MIN_INTERVAL`] however often the meeting asks.

use std::time::{Duration, Instant};

use rtc_rtcp::packet::Packet;
use rtc_rtcp::payload_feedbacks::full_intra_request::{FirEntry, FullIntraRequest};
use rtc_rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc_rtcp::receiver_report::ReceiverReport;
use serde::Serialize;

use media_api::KeyframeRequest;

/// Least time between two requests to one source (baresip and
/// FreeSWITCH wait as long).
pub(crate) const MIN_INTERVAL: Duration = Duration::from_millis(500);

/// Requests sent, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Sent {
    pub pli: u64,
    pub fir: u64,
    pub signaling: u64,
}

/// What to send the room.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ask {
    /// A compound RTCP packet (an empty receiver report, then PLI or FIR).
    Rtcp(Vec<u8>),
    /// Ask through the call's signaling.
    Signaling,
}

#[derive(Debug, Default)]
pub(crate) struct KeyframeAsker {
    last: Option<Instant>,
    /// RFC 5104 FIR command sequence number.
    fir_seq: u8,
    pub sent: Sent,
    /// Requests not sent because one had just gone.
    pub throttled: u64,
}

impl KeyframeAsker {
    /// Asks `their_ssrc` (from `our_ssrc`) for a keyframe by `how`, unless
    /// a request went less than [`MIN_INTERVAL`] ago.
    pub fn ask(
        &mut self,
        now: Instant,
        how: KeyframeRequest,
        our_ssrc: u32,
        their_ssrc: u32,
    ) -> Option<Ask> {
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < MIN_INTERVAL)
        {
            self.throttled += 1;
            return None;
        }
        self.last = Some(now);
        let request: Box<dyn Packet> = match how {
            KeyframeRequest::Signaling => {
                self.sent.signaling += 1;
                return Some(Ask::Signaling);
            }
            KeyframeRequest::Pli => {
                self.sent.pli += 1;
                Box::new(PictureLossIndication {
                    sender_ssrc: our_ssrc,
                    media_ssrc: their_ssrc,
                })
            }
            KeyframeRequest::Fir => {
                self.sent.fir += 1;
                self.fir_seq = self.fir_seq.wrapping_add(1);
                Box::new(FullIntraRequest {
                    sender_ssrc: our_ssrc,
                    media_ssrc: 0,
                    fir: vec![FirEntry {
                        ssrc: their_ssrc,
                        sequence_number: self.fir_seq,
                    }],
                })
            }
        };
        let report = Box::new(ReceiverReport {
            ssrc: our_ssrc,
            ..ReceiverReport::default()
        });
        let bytes = rtc_rtcp::packet::marshal(&[report, request]).ok()?;
        Some(Ask::Rtcp(bytes.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_throttled_to_one_per_interval() {
        let mut asker = KeyframeAsker::default();
        let t0 = Instant::now();
        assert!(asker.ask(t0, KeyframeRequest::Pli, 1, 2).is_some());
        for ms in [1, 100, 499] {
            let at = t0 + Duration::from_millis(ms);
            assert_eq!(asker.ask(at, KeyframeRequest::Pli, 1, 2), None);
        }
        let later = t0 + MIN_INTERVAL;
        assert!(asker.ask(later, KeyframeRequest::Pli, 1, 2).is_some());
        assert_eq!((asker.sent.pli, asker.throttled), (2, 3));
    }

    #[test]
    fn pli_and_fir_are_compound_rtcp_after_a_receiver_report() {
        let mut asker = KeyframeAsker::default();
        let t0 = Instant::now();
        let Some(Ask::Rtcp(pli)) = asker.ask(t0, KeyframeRequest::Pli, 7, 9) else {
            panic!("no PLI");
        };
        assert_eq!(pli[1], 201, "a receiver report first");
        assert_eq!((pli[8], pli[9]), (0x81, 206), "then PSFB FMT 1 (PLI)");
        let at = t0 + MIN_INTERVAL;
        let Some(Ask::Rtcp(fir)) = asker.ask(at, KeyframeRequest::Fir, 7, 9) else {
            panic!("no FIR");
        };
        assert_eq!((fir[8], fir[9]), (0x84, 206), "PSFB FMT 4 (FIR)");
        assert_eq!(
            &fir[20..24],
            &9u32.to_be_bytes(),
            "FIR entry names the room's SSRC"
        );
        assert_eq!(fir[24], 1, "first FIR sequence number");
        let at = at + MIN_INTERVAL;
        assert_eq!(
            asker.ask(at, KeyframeRequest::Signaling, 7, 9),
            Some(Ask::Signaling)
        );
        assert_eq!(
            asker.sent,
            Sent {
                pli: 1,
                fir: 1,
                signaling: 1
            }
        );
    }
}
