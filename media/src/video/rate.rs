//! How fast a room lets us send it video, beyond the call's negotiated
//! rate: its TMMBR (RFC 5104 §4.2.1, answered by a TMMBN naming it as the
//! bounding set) or REMB caps our picture's bitrate. The cap is one of
//! the call-rate [`TIERS`] rooms use, so that rooms on alike lines share
//! an encoder; it falls at once and rises only once the room has asked
//! for more for [`RISE_AFTER`] (a line that wobbles does not flip the
//! picture's resolution every second).

use std::time::{Duration, Instant};

/// The bitrates (kbit/s) a cap is rounded down to.
pub(crate) const TIERS: [u32; 16] = [
    64, 128, 192, 256, 384, 512, 768, 1024, 1280, 1536, 1920, 2048, 2560, 3072, 4096, 6144,
];

/// How long a room asks for more before the cap rises.
pub(crate) const RISE_AFTER: Duration = Duration::from_secs(4);

/// The largest tier at most `kbps` (the least tier below that).
fn tier(kbps: u32) -> u32 {
    TIERS
        .iter()
        .rev()
        .copied()
        .find(|&t| t <= kbps)
        .unwrap_or(TIERS[0])
}

#[derive(Debug, Default)]
pub(crate) struct RateCap {
    /// The room's last request, rounded to a tier.
    asked: Option<u32>,
    /// The cap in force.
    applied: Option<u32>,
    /// Since when the room has asked for more than the cap in force.
    rising_since: Option<Instant>,
    pub tmmbrs: u64,
    pub rembs: u64,
}

impl RateCap {
    /// The cap in force, kbit/s.
    pub fn kbps(&self) -> Option<u32> {
        self.applied
    }

    /// The room asks for at most `kbps`; true if the cap in force changed.
    pub fn ask(&mut self, now: Instant, kbps: u32) -> bool {
        let asked = tier(kbps);
        self.asked = Some(asked);
        match self.applied {
            Some(applied) if asked > applied => {
                self.rising_since.get_or_insert(now);
                self.tick(now)
            }
            Some(applied) if asked == applied => {
                self.rising_since = None;
                false
            }
            _ => {
                self.applied = Some(asked);
                self.rising_since = None;
                true
            }
        }
    }

    /// Raises the cap if the room has asked for more long enough; true
    /// if it did.
    pub fn tick(&mut self, now: Instant) -> bool {
        let due = self
            .rising_since
            .is_some_and(|since| now.saturating_duration_since(since) >= RISE_AFTER);
        if !due {
            return false;
        }
        self.rising_since = None;
        self.applied = self.asked;
        true
    }
}

/// A TMMBR's request: who asks, and for how much (bit/s, and its
/// measured per-packet overhead, kept for the TMMBN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tmmbr {
    pub requester: u32,
    pub media_ssrc: u32,
    pub exponent: u8,
    pub mantissa: u32,
    pub overhead: u16,
}

/// RTCP transport-layer feedback (RTPFB) formats of RFC 5104.
const RTPFB: u8 = 205;
const FMT_TMMBR: u8 = 3;
const FMT_TMMBN: u8 = 4;

impl Tmmbr {
    /// The bitrate asked, bit/s.
    pub fn bps(&self) -> u64 {
        u64::from(self.mantissa) << self.exponent
    }

    /// The request in a TMMBR packet (its bytes, header included) for
    /// `ours`; None if it is not one or names another stream.
    pub fn parse(packet: &[u8], ours: u32) -> Option<Tmmbr> {
        if packet.len() < 12 || packet[1] != RTPFB || packet[0] & 0x1f != FMT_TMMBR {
            return None;
        }
        let word = |at: usize| -> Option<u32> {
            Some(u32::from_be_bytes(packet.get(at..at + 4)?.try_into().ok()?))
        };
        let requester = word(4)?;
        packet[12..].chunks_exact(8).find_map(|fci| {
            let ssrc = u32::from_be_bytes(fci[..4].try_into().ok()?);
            let bits = u32::from_be_bytes(fci[4..].try_into().ok()?);
            (ssrc == ours).then_some(Tmmbr {
                requester,
                media_ssrc: ssrc,
                exponent: (bits >> 26) as u8,
                mantissa: (bits >> 9) & 0x1ffff,
                overhead: (bits & 0x1ff) as u16,
            })
        })
    }

    /// The TMMBN from `ours` that acknowledges this request as the
    /// bounding set.
    pub fn notification(&self, ours: u32) -> [u8; 20] {
        let mut n = [0u8; 20];
        n[0] = 0x80 | FMT_TMMBN;
        n[1] = RTPFB;
        n[2..4].copy_from_slice(&4u16.to_be_bytes());
        n[4..8].copy_from_slice(&ours.to_be_bytes());
        n[12..16].copy_from_slice(&self.requester.to_be_bytes());
        let bits = u32::from(self.exponent) << 26
            | (self.mantissa & 0x1ffff) << 9
            | u32::from(self.overhead & 0x1ff);
        n[16..20].copy_from_slice(&bits.to_be_bytes());
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_falls_at_once_and_rises_after_a_while() {
        let mut cap = RateCap::default();
        let t0 = Instant::now();
        assert!(cap.ask(t0, 1000));
        assert_eq!(cap.kbps(), Some(768), "rounded down to a tier");
        assert!(!cap.ask(t0, 900), "the same tier");
        assert!(cap.ask(t0, 300));
        assert_eq!(cap.kbps(), Some(256), "falls at once");
        let rise = t0 + Duration::from_secs(1);
        assert!(!cap.ask(rise, 2000));
        assert!(!cap.tick(rise + RISE_AFTER - Duration::from_millis(1)));
        assert_eq!(cap.kbps(), Some(256));
        assert!(cap.tick(rise + RISE_AFTER));
        assert_eq!(cap.kbps(), Some(1920));
        // A request back at the cap ends a rise in waiting.
        let t = rise + RISE_AFTER;
        assert!(!cap.ask(t, 6000));
        assert!(!cap.ask(t + Duration::from_secs(1), 1920));
        assert!(!cap.tick(t + RISE_AFTER * 2));
        assert_eq!(cap.kbps(), Some(1920));
    }

    #[test]
    fn a_tmmbr_is_read_and_notified_back() {
        // Poly's TMMBR: from 0x1111 for our 0x2222 at 512 kbit/s
        // (mantissa 125000, exponent 2), overhead 40.
        let bits: u32 = 2 << 26 | 125_000 << 9 | 40;
        let mut packet = vec![0x83, 205, 0, 4];
        packet.extend(0x1111u32.to_be_bytes());
        packet.extend(0u32.to_be_bytes());
        packet.extend(0x2222u32.to_be_bytes());
        packet.extend(bits.to_be_bytes());
        let tmmbr = Tmmbr::parse(&packet, 0x2222).expect("a TMMBR for us");
        assert_eq!(tmmbr.bps(), 500_000);
        assert_eq!((tmmbr.requester, tmmbr.overhead), (0x1111, 40));
        assert_eq!(Tmmbr::parse(&packet, 0x3333), None, "another stream's");
        let n = tmmbr.notification(0x2222);
        assert_eq!((n[0], n[1]), (0x84, 205), "RTPFB FMT 4");
        assert_eq!(&n[12..16], &0x1111u32.to_be_bytes(), "names the requester");
        assert_eq!(&n[16..20], &bits.to_be_bytes());
        let mut n = &n[..];
        let parsed = rtc_rtcp::packet::unmarshal(&mut n).expect("valid RTCP");
        assert_eq!(parsed.len(), 1);
    }
}
