//! Sans-IO adaptive jitter buffer for one incoming RTP stream. Packets are
//! pushed as they arrive (any order, duplicates, sequence wrap, new SSRC),
//! with their arrival time; the mixer pops one packet per packet-time and
//! gets the next in sequence, a loss to conceal (with the following
//! packet, for forward error correction), or nothing yet.
//!
//! The playout delay follows the line by watching how long each packet
//! waited in the buffer before its turn (like NetEq's buffer delay): one
//! that came within half a packet-time of its turn, or after it, makes
//! the buffer stretch (the decoder conceals one packet-time and the delay
//! grows by one packet) before the line makes it run dry; when every
//! packet of the last ten seconds waited more than two packet-times, one
//! is dropped (the delay shrinks, as for a sender whose clock runs fast).
//! When the next packet has not come and nothing after it has either, the
//! buffer stretches too, and if later packets then come but that one does
//! not (it was lost, not late), the stretches stand in for it: the delay
//! stays what it was. Only a stream silent for longer (a pause, DTX)
//! refills, to the depth its peak arrival delay asks for. Each change of
//! delay is a jump in what the room hears (a steady tone shifts phase),
//! so the delay settles rather than chases.

pub use media_api::JitterStats;
use std::time::{Duration, Instant};

/// Packets the buffer holds at most (about a second of 20 ms audio).
const CAPACITY: usize = 64;
/// Least and most packets buffered before playing.
const MIN_TARGET: usize = 2;
const MAX_TARGET: usize = 12;
/// Packet-times a playing stream is stretched while nothing arrives,
/// before it counts as paused and refills.
const MAX_STRETCH: u32 = 4;
/// Pops over which the shortest wait decides whether to shrink (10 s of
/// 20 ms packets: a sender's clock can be 0.2 % fast; shrinking sooner
/// would jump the audio more often than the delay it saves is worth).
const SHRINK_POPS: u32 = 500;

#[derive(Debug, Clone)]
struct Slot {
    seq: Option<i64>,
    timestamp: u32,
    arrival: Instant,
    payload: Vec<u8>,
}

/// What the buffer hands the decoder for the next packet-time.
#[derive(Debug, PartialEq, Eq)]
pub enum Pop<'a> {
    /// The next packet in sequence.
    Packet { timestamp: u32, payload: &'a [u8] },
    /// Conceal one packet-time: the next packet is missing but later ones
    /// are here (`next`, the following packet if it arrived, serves
    /// forward error correction), or the buffer stretches (the next packet
    /// still plays, one packet-time later).
    Lost { next: Option<&'a [u8]> },
    /// Nothing to play (not started, refilling after a pause, or silence).
    Empty,
}

/// One stream's jitter buffer.
#[derive(Debug)]
pub struct JitterBuffer {
    slots: Vec<Slot>,
    ssrc: Option<u32>,
    next: Option<i64>,
    highest: i64,
    refilling: bool,
    /// Packet-times stretched in a row, waiting for the next packet.
    stretching: u32,
    /// A packet came after its turn: stretch at the next pop.
    deepen: bool,
    /// The last packet whose turn was concealed as lost.
    concealed_seq: Option<i64>,
    /// The shortest wait of a played packet in this shrink window.
    shortest_wait: Option<Duration>,
    window_pops: u32,
    ptime: Duration,
    target: usize,
    stats: JitterStats,
}

impl Default for JitterBuffer {
    fn default() -> Self {
        let empty = Slot {
            seq: None,
            timestamp: 0,
            arrival: Instant::now(),
            payload: Vec::new(),
        };
        JitterBuffer {
            slots: vec![empty; CAPACITY],
            ssrc: None,
            next: None,
            highest: 0,
            refilling: true,
            stretching: 0,
            deepen: false,
            concealed_seq: None,
            shortest_wait: None,
            window_pops: 0,
            ptime: Duration::from_millis(20),
            target: MIN_TARGET,
            stats: JitterStats {
                target: MIN_TARGET,
                ..JitterStats::default()
            },
        }
    }
}

impl JitterBuffer {
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Sets the packet-time and the depth to refill to: the peak delay of
    /// arrivals with half a packet-time to spare.
    pub fn adapt(&mut self, delay_peak_ms: f64, ptime_ms: u32) {
        let ptime = f64::from(ptime_ms.max(10));
        self.ptime = Duration::from_millis(u64::from(ptime_ms.max(10)));
        let wanted = 1 + ((delay_peak_ms + ptime / 2.0) / ptime).ceil() as usize;
        self.target = wanted.clamp(MIN_TARGET, MAX_TARGET);
        self.stats.target = self.target;
    }

    /// Stores one packet that arrived at `now`.
    pub fn push(&mut self, ssrc: u32, seq: u16, timestamp: u32, payload: &[u8], now: Instant) {
        if self.ssrc != Some(ssrc) {
            self.restart(ssrc);
        }
        let seq = match self.next {
            None => {
                self.next = Some(i64::from(seq));
                self.highest = i64::from(seq);
                i64::from(seq)
            }
            Some(_) => self.highest + i64::from(seq.wrapping_sub(self.highest as u16) as i16),
        };
        let next = self.next.expect("set above");
        if seq < next {
            self.stats.late += 1;
            // Its turn was concealed: a deeper buffer would have held it.
            if self.concealed_seq == Some(seq) && !self.refilling {
                self.deepen = true;
            }
            return;
        }
        if seq >= next + CAPACITY as i64 * 4 {
            // A jump far ahead: the stream restarted without a new SSRC.
            self.restart(ssrc);
            return self.push(ssrc, seq as u16, timestamp, payload, now);
        }
        if seq >= next + CAPACITY as i64 {
            self.stats.overflows += (seq - next - CAPACITY as i64 + 1) as u64;
            self.next = Some(seq - CAPACITY as i64 + 1);
        }
        let slot = &mut self.slots[seq.rem_euclid(CAPACITY as i64) as usize];
        if slot.seq == Some(seq) {
            self.stats.duplicates += 1;
            return;
        }
        slot.seq = Some(seq);
        slot.timestamp = timestamp;
        slot.arrival = now;
        slot.payload.clear();
        slot.payload.extend_from_slice(payload);
        self.highest = self.highest.max(seq);
    }

    fn restart(&mut self, ssrc: u32) {
        self.ssrc = Some(ssrc);
        self.next = None;
        self.refilling = true;
        self.stretching = 0;
        self.deepen = false;
        for slot in &mut self.slots {
            slot.seq = None;
        }
    }

    /// Packets from the next one to play up to the newest, gaps included.
    pub fn depth(&self) -> usize {
        self.next.map_or(0, |next| self.depth_from(next))
    }

    fn depth_from(&self, next: i64) -> usize {
        (self.highest - next + 1).max(0) as usize
    }

    /// Drops all but the newest `target` packets as if they had been
    /// played: keeps a standby copy of a stream current without decoding it.
    pub fn skip_to_latest(&mut self) {
        let Some(next) = self.next else {
            return;
        };
        let keep_from = self.highest - self.target as i64 + 1;
        for seq in next..keep_from {
            self.take(seq);
        }
        self.next = Some(next.max(keep_from));
    }

    /// The next packet-time's worth, at `now`.
    pub fn pop(&mut self, now: Instant) -> Pop<'_> {
        let Some(mut next) = self.next else {
            return Pop::Empty;
        };
        let depth = self.depth();
        if depth == 0 {
            if self.refilling {
                return Pop::Empty;
            }
            if self.stretching < MAX_STRETCH {
                self.stretching += 1;
                return self.stretch();
            }
            self.stats.underruns += 1;
            self.refilling = true;
            self.stretching = 0;
            return Pop::Empty;
        }
        // Stretched for packets that turn out lost (later ones came, they
        // did not): the stretches stood in for them, so skip them and keep
        // the delay the line had.
        while self.stretching > 0 && self.waited(next, now).is_none() && next < self.highest {
            self.stretching -= 1;
            self.concealed_seq = Some(next);
            next += 1;
        }
        let depth = self.depth_from(next);
        self.stretching = 0;
        if self.refilling {
            if depth < self.target {
                return Pop::Empty;
            }
            self.refilling = false;
            self.deepen = false;
            self.new_window();
        }
        if let Some(wait) = self.waited(next, now) {
            if self.deepen || wait < self.ptime / 2 {
                self.deepen = false;
                self.new_window();
                return self.stretch();
            }
            self.shortest_wait = Some(self.shortest_wait.map_or(wait, |s| s.min(wait)));
        }
        self.window_pops += 1;
        if self.window_pops >= SHRINK_POPS {
            let idle = self.shortest_wait.is_some_and(|w| w > self.ptime * 2);
            self.new_window();
            if idle && depth > 1 {
                self.stats.drift_drops += 1;
                self.take(next);
                next += 1;
            }
        }
        self.next = Some(next + 1);
        let index = next.rem_euclid(CAPACITY as i64) as usize;
        if self.slots[index].seq == Some(next) {
            self.slots[index].seq = None;
            let slot = &self.slots[index];
            return Pop::Packet {
                timestamp: slot.timestamp,
                payload: &slot.payload,
            };
        }
        self.stats.concealed += 1;
        self.concealed_seq = Some(next);
        let after = (next + 1).rem_euclid(CAPACITY as i64) as usize;
        let slot = &self.slots[after];
        Pop::Lost {
            next: (slot.seq == Some(next + 1)).then_some(slot.payload.as_slice()),
        }
    }

    /// How long packet `seq` has waited at `now`, if it is here.
    fn waited(&self, seq: i64, now: Instant) -> Option<Duration> {
        let slot = &self.slots[seq.rem_euclid(CAPACITY as i64) as usize];
        (slot.seq == Some(seq)).then(|| now.saturating_duration_since(slot.arrival))
    }

    /// Conceals one packet-time without moving on: the delay grows.
    fn stretch(&mut self) -> Pop<'static> {
        self.stats.stretched += 1;
        Pop::Lost { next: None }
    }

    fn new_window(&mut self) {
        self.shortest_wait = None;
        self.window_pops = 0;
    }

    fn take(&mut self, seq: i64) {
        let slot = &mut self.slots[seq.rem_euclid(CAPACITY as i64) as usize];
        if slot.seq == Some(seq) {
            slot.seq = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSRC: u32 = 7;

    /// A buffer with a clock: packets and pops at explicit milliseconds.
    struct Clocked {
        jb: JitterBuffer,
        t0: Instant,
    }

    impl Clocked {
        fn new() -> Clocked {
            Clocked {
                jb: JitterBuffer::default(),
                t0: Instant::now(),
            }
        }

        fn at(&self, ms: u64) -> Instant {
            self.t0 + Duration::from_millis(ms)
        }

        fn push(&mut self, seq: u16, ms: u64) {
            let now = self.at(ms);
            self.jb
                .push(SSRC, seq, u32::from(seq) * 160, &[seq as u8], now);
        }

        /// What the pop at `ms` yields: Some(seq byte), "lost", or None.
        fn pop(&mut self, ms: u64) -> Result<Option<u8>, &'static str> {
            let now = self.at(ms);
            match self.jb.pop(now) {
                Pop::Packet { payload, .. } => Ok(Some(payload[0])),
                Pop::Lost { .. } => Err("lost"),
                Pop::Empty => Ok(None),
            }
        }
    }

    #[test]
    fn waits_for_target_depth_then_plays_in_order() {
        let mut c = Clocked::new();
        c.push(10, 0);
        assert_eq!(c.pop(5), Ok(None), "filling");
        c.push(11, 20);
        assert_eq!(c.pop(25), Ok(Some(10)));
        c.push(12, 40);
        assert_eq!(c.pop(45), Ok(Some(11)), "waited 20 ms: in time");
        assert_eq!(c.pop(65), Ok(Some(12)), "waited 25 ms");
        assert_eq!(c.pop(85), Err("lost"), "13 is late: stretch");
        c.push(13, 90);
        assert_eq!(c.pop(105), Ok(Some(13)), "and it still plays");
        for t in 0..MAX_STRETCH {
            assert_eq!(c.pop(125 + 20 * u64::from(t)), Err("lost"), "stretching");
        }
        assert_eq!(c.pop(205), Ok(None), "the stream paused: underrun");
        assert_eq!(c.jb.stats().underruns, 1);
        assert_eq!(c.jb.stats().stretched, u64::from(MAX_STRETCH) + 1);
    }

    #[test]
    fn a_packet_that_barely_makes_its_turn_deepens_the_buffer() {
        let mut c = Clocked::new();
        c.push(0, 0);
        c.push(1, 20);
        assert_eq!(c.pop(25), Ok(Some(0)));
        c.push(2, 44);
        assert_eq!(c.pop(45), Ok(Some(1)), "1 waited 25 ms");
        assert_eq!(c.pop(65), Ok(Some(2)), "2 waited 21 ms");
        c.push(3, 84);
        assert_eq!(
            c.pop(85),
            Err("lost"),
            "3 came 1 ms before its turn: stretch"
        );
        assert_eq!(c.pop(105), Ok(Some(3)), "it plays a packet-time later");
        c.push(4, 104);
        assert_eq!(c.pop(125), Ok(Some(4)), "with room to spare");
        assert_eq!(c.jb.stats().stretched, 1);
        assert_eq!(c.jb.stats().concealed, 0);
    }

    #[test]
    fn a_packet_after_its_turn_deepens_the_buffer() {
        let mut c = Clocked::new();
        for seq in 0..3 {
            c.push(seq, 20 * u64::from(seq));
        }
        assert_eq!(c.pop(50), Ok(Some(0)));
        assert_eq!(c.pop(70), Ok(Some(1)));
        c.push(4, 80);
        assert_eq!(c.pop(90), Ok(Some(2)));
        assert_eq!(c.pop(110), Err("lost"), "3 is missing, 4 is here");
        c.push(3, 115);
        assert_eq!(c.jb.stats().late, 1);
        assert_eq!(c.pop(130), Err("lost"), "3 came too late: stretch");
        assert_eq!(c.pop(150), Ok(Some(4)));
        assert_eq!(c.jb.stats().stretched, 1);
    }

    #[test]
    fn reorders_and_drops_duplicates_and_late_packets() {
        let mut c = Clocked::new();
        for seq in [1, 3, 2, 2, 4] {
            c.push(seq, 0);
        }
        assert_eq!(c.pop(40), Ok(Some(1)));
        c.push(1, 41);
        assert_eq!(c.pop(60), Ok(Some(2)));
        assert_eq!(c.pop(80), Ok(Some(3)));
        assert_eq!(c.pop(100), Ok(Some(4)));
        assert_eq!(c.jb.stats().duplicates, 1);
        assert_eq!(c.jb.stats().late, 1);
        assert_eq!(c.jb.stats().stretched, 0, "a duplicate is not late");
    }

    #[test]
    fn a_loss_burst_is_concealed_with_the_next_packet_offered_for_fec() {
        let mut c = Clocked::new();
        for seq in [1, 2, 5, 6] {
            c.push(seq, 0);
        }
        assert_eq!(c.pop(40), Ok(Some(1)));
        assert_eq!(c.pop(60), Ok(Some(2)));
        let now = c.at(80);
        assert_eq!(
            c.jb.pop(now),
            Pop::Lost { next: None },
            "3: 4 is missing too"
        );
        let now = c.at(100);
        assert_eq!(
            c.jb.pop(now),
            Pop::Lost {
                next: Some(&[5][..])
            },
            "4: FEC from 5"
        );
        assert_eq!(c.pop(120), Ok(Some(5)));
        assert_eq!(c.jb.stats().concealed, 2);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut c = Clocked::new();
        for seq in [65534, 65535, 0, 1] {
            c.push(seq, 0);
        }
        let played: Vec<_> = (0..4)
            .map(|i| c.pop(40 + 20 * i).unwrap().unwrap())
            .collect();
        assert_eq!(played, [254, 255, 0, 1]);
    }

    #[test]
    fn a_new_ssrc_restarts_the_stream() {
        let mut c = Clocked::new();
        c.push(100, 0);
        c.push(101, 0);
        assert_eq!(c.pop(40), Ok(Some(100)));
        let now = c.at(41);
        c.jb.push(99, 5000, 0, &[1], now);
        c.jb.push(99, 5001, 160, &[2], now);
        assert_eq!(c.pop(80), Ok(Some(1)), "old packets flushed");
    }

    #[test]
    fn a_jitter_spike_deepens_the_refill() {
        let mut c = Clocked::new();
        c.jb.adapt(40.0, 20);
        assert_eq!(c.jb.stats().target, 4);
        for seq in 0..3 {
            c.push(seq, 0);
        }
        assert_eq!(c.pop(40), Ok(None), "waits for 4 packets");
        c.push(3, 41);
        assert_eq!(c.pop(60), Ok(Some(0)));
        c.jb.adapt(1000.0, 20);
        assert_eq!(c.jb.stats().target, MAX_TARGET);
    }

    #[test]
    fn a_fast_sender_clock_costs_a_packet_now_and_then() {
        let mut c = Clocked::new();
        let (mut seq, mut played) = (0u16, 0);
        // The sender's clock runs 0.17 % fast: one packet more every 600.
        for round in 0..12_000u64 {
            let ms = round * 20;
            c.push(seq, ms);
            seq = seq.wrapping_add(1);
            if round % 600 == 599 {
                c.push(seq, ms + 1);
                seq = seq.wrapping_add(1);
            }
            if let Ok(Some(_)) = c.pop(ms + 10) {
                played += 1;
            }
        }
        assert!(c.jb.depth() <= 5, "depth {}", c.jb.depth());
        assert!(c.jb.stats().drift_drops >= 15, "{:?}", c.jb.stats());
        assert!(played >= 11_950);
    }

    #[test]
    fn a_steady_line_keeps_its_delay() {
        let mut c = Clocked::new();
        for round in 0..1000u64 {
            c.push(round as u16, round * 20);
            let _ = c.pop(round * 20 + 15);
        }
        let s = c.jb.stats();
        assert_eq!(
            (s.stretched, s.drift_drops, s.concealed),
            (0, 0, 0),
            "{s:?}"
        );
    }

    #[test]
    fn a_standby_copy_skips_to_the_newest_packets() {
        let mut c = Clocked::new();
        for seq in 0..10u16 {
            let now = c.at(0);
            c.jb.push(1, seq, u32::from(seq) * 960, &[seq as u8], now);
        }
        c.jb.skip_to_latest();
        assert_eq!(c.jb.depth(), MIN_TARGET, "only the target depth is left");
        let now = c.at(40);
        assert_eq!(
            c.jb.pop(now),
            Pop::Packet {
                timestamp: 8 * 960,
                payload: &[8]
            }
        );
        c.jb.skip_to_latest();
        assert_eq!(c.jb.depth(), 1, "never skips ahead of what arrived");
    }
}
