//! RTP reception and sending statistics per RFC 3550 (A.1 sequence
//! tracking, A.3 loss, A.8 interarrival jitter), the RTCP report blocks
//! built from them, and round-trip time from the room's reports on us.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rtc_rtcp::reception_report::ReceptionReport;

use crate::delay_peak::DelayPeak;

/// Seconds from 1900 (NTP era 0) to 1970.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// 64-bit NTP timestamp of a wall-clock time.
pub fn ntp_time(t: SystemTime) -> u64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    ((d.as_secs() + NTP_UNIX_OFFSET) << 32) | ((u64::from(d.subsec_nanos()) << 32) / 1_000_000_000)
}

/// The middle 32 bits of an NTP timestamp (RTCP's LSR and RTT arithmetic).
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// Round-trip time from a reception report about us (RFC 3550 6.4.1):
/// arrival minus the SR time it echoes minus the delay the room held it.
pub fn round_trip(arrival_middle: u32, lsr: u32, dlsr: u32) -> Option<Duration> {
    if lsr == 0 {
        return None;
    }
    let units = arrival_middle.wrapping_sub(lsr).wrapping_sub(dlsr);
    (units < 0x8000_0000).then(|| Duration::from_micros(u64::from(units) * 1_000_000 / 65536))
}

/// What we know of the stream a room sends us.
#[derive(Debug, Clone)]
pub struct ReceiveStats {
    clock_rate: u32,
    ssrc: Option<u32>,
    base_seq: i64,
    max_seq: i64,
    received: u64,
    expected_prior: i64,
    received_prior: u64,
    /// Interarrival jitter in RTP timestamp units (RFC 3550 A.8).
    jitter: f64,
    /// How late packets arrive relative to the earliest.
    delay: DelayPeak,
    last_transit: Option<f64>,
    epoch: Option<Instant>,
    /// Middle bits of the room's last SR and when it arrived.
    last_sr: Option<(u32, Instant)>,
    pub bytes: u64,
}

impl ReceiveStats {
    pub fn new(clock_rate: u32) -> ReceiveStats {
        ReceiveStats {
            clock_rate,
            ssrc: None,
            base_seq: 0,
            max_seq: 0,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            jitter: 0.0,
            delay: DelayPeak::default(),
            last_transit: None,
            epoch: None,
            last_sr: None,
            bytes: 0,
        }
    }

    pub fn ssrc(&self) -> Option<u32> {
        self.ssrc
    }

    /// Counts one arrived packet.
    pub fn on_packet(
        &mut self,
        ssrc: u32,
        seq: u16,
        timestamp: u32,
        bytes: usize,
        arrival: Instant,
    ) {
        if self.ssrc != Some(ssrc) {
            *self = ReceiveStats {
                bytes: self.bytes,
                epoch: self.epoch,
                ..ReceiveStats::new(self.clock_rate)
            };
            self.ssrc = Some(ssrc);
            self.base_seq = i64::from(seq);
            self.max_seq = i64::from(seq) - 1;
        }
        let ext = self.max_seq + i64::from(seq.wrapping_sub(self.max_seq as u16) as i16);
        self.max_seq = self.max_seq.max(ext);
        self.received += 1;
        self.bytes += bytes as u64;
        let epoch = *self.epoch.get_or_insert(arrival);
        let arrival_units =
            arrival.saturating_duration_since(epoch).as_secs_f64() * f64::from(self.clock_rate);
        let transit = arrival_units - f64::from(timestamp);
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs();
            // Timestamps that jump (a new talk spurt after DTX) are not jitter.
            if d < f64::from(self.clock_rate) {
                self.jitter += (d - self.jitter) / 16.0;
            }
        }
        self.last_transit = Some(transit);
        self.delay
            .on_transit(transit * 1000.0 / f64::from(self.clock_rate));
    }

    /// Notes a sender report from the room.
    pub fn on_sender_report(&mut self, ntp: u64, arrival: Instant) {
        self.last_sr = Some((ntp_middle(ntp), arrival));
    }

    pub fn received(&self) -> u64 {
        self.received
    }

    /// Packets expected from the sequence numbers seen.
    pub fn expected(&self) -> i64 {
        (self.max_seq - self.base_seq + 1).max(0)
    }

    /// Cumulative packets lost (may be negative with duplicates, RFC 3550 A.3).
    pub fn lost(&self) -> i64 {
        self.expected() - self.received as i64
    }

    pub fn jitter_ms(&self) -> f64 {
        self.jitter * 1000.0 / f64::from(self.clock_rate)
    }

    /// The peak of how late packets arrive relative to the earliest, ms:
    /// what the jitter buffer holds.
    pub fn delay_peak_ms(&self) -> f64 {
        self.delay.peak_ms()
    }

    /// A reception report block for the room's SSRC; starts a new loss interval.
    pub fn report_block(&mut self, now: Instant) -> Option<ReceptionReport> {
        let ssrc = self.ssrc?;
        let expected = self.expected();
        let expected_interval = expected - self.expected_prior;
        let received_interval = self.received as i64 - self.received_prior as i64;
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval - received_interval;
        let fraction_lost = if expected_interval <= 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval).min(255) as u8
        };
        let (lsr, dlsr) = match self.last_sr {
            Some((lsr, at)) => {
                let held = now.saturating_duration_since(at);
                (lsr, (held.as_secs_f64() * 65536.0) as u32)
            }
            None => (0, 0),
        };
        Some(ReceptionReport {
            ssrc,
            fraction_lost,
            total_lost: self.lost().clamp(0, 0x7f_ffff) as u32,
            last_sequence_number: self.max_seq as u32,
            jitter: self.jitter as u32,
            last_sender_report: lsr,
            delay: dlsr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    #[test]
    fn steady_arrivals_have_no_jitter_and_no_loss() {
        let t0 = Instant::now();
        let mut s = ReceiveStats::new(8000);
        for i in 0..50u16 {
            s.on_packet(
                1,
                65500u16.wrapping_add(i),
                u32::from(i) * 160,
                172,
                ms(t0, u64::from(i) * 20),
            );
        }
        assert_eq!(s.expected(), 50, "sequence wrap counted");
        assert_eq!(s.lost(), 0);
        assert!(s.jitter_ms() < 0.01);
    }

    #[test]
    fn loss_and_jitter_show_in_the_report_block() {
        let t0 = Instant::now();
        let mut s = ReceiveStats::new(8000);
        for i in 0..100u16 {
            if i % 10 == 3 {
                continue;
            }
            // Every other packet arrives 10 ms late.
            let late = if i % 2 == 1 { 10 } else { 0 };
            s.on_packet(
                9,
                i,
                u32::from(i) * 160,
                172,
                ms(t0, u64::from(i) * 20 + late),
            );
        }
        assert_eq!(s.lost(), 10);
        assert!((8.0..=10.5).contains(&s.jitter_ms()), "{}", s.jitter_ms());
        s.on_sender_report(0x1234_5678_9abc_def0, t0);
        let rb = s.report_block(ms(t0, 500)).unwrap();
        assert_eq!(rb.ssrc, 9);
        assert_eq!(rb.total_lost, 10);
        assert_eq!(rb.fraction_lost, 25, "10 of 100 is 25/256");
        assert_eq!(rb.last_sender_report, 0x5678_9abc);
        assert_eq!(rb.delay, 32768, "half a second in 1/65536 s");
        assert_eq!(
            s.report_block(ms(t0, 600)).unwrap().fraction_lost,
            0,
            "new interval"
        );
    }

    #[test]
    fn round_trip_from_lsr_and_dlsr() {
        let lsr = 0x0001_0000;
        let dlsr = 0x0000_8000; // held 0.5 s
        let arrival = 0x0001_8000 + 0x0000_0CCD; // 0.5 s + 50 ms later
        let rtt = round_trip(arrival, lsr, dlsr).unwrap();
        assert!((49..=51).contains(&rtt.as_millis()), "{rtt:?}");
        assert_eq!(round_trip(arrival, 0, 0), None);
    }
}
