//! Sans-IO adaptive jitter buffer for one incoming RTP stream. Packets are
//! pushed as they arrive (any order, duplicates, sequence wrap, new SSRC);
//! the mixer pops one packet per packet-time and gets the next in sequence,
//! a loss to conceal (with the following packet, for FEC), or nothing yet.
//! The depth it waits for follows the measured jitter; if the sender's clock
//! runs fast and the buffer stays too deep, a packet is dropped.

/// Packets the buffer holds at most (about a second of 20 ms audio).
const CAPACITY: usize = 64;
/// Least and most packets buffered before playing.
const MIN_TARGET: usize = 2;
const MAX_TARGET: usize = 12;
/// Pops in a row over target (plus slack) before one packet is dropped.
const DRIFT_POPS: u32 = 50;
const DRIFT_SLACK: usize = 2;

#[derive(Debug, Clone, Default)]
struct Slot {
    seq: Option<i64>,
    timestamp: u32,
    payload: Vec<u8>,
}

/// What the buffer hands the decoder for the next packet-time.
#[derive(Debug, PartialEq, Eq)]
pub enum Pop<'a> {
    /// The next packet in sequence.
    Packet { timestamp: u32, payload: &'a [u8] },
    /// The next packet is missing but later ones are here: conceal it, using
    /// `next` (the following packet, if it arrived) for forward error correction.
    Lost { next: Option<&'a [u8]> },
    /// Nothing to play (not started, refilling after an underrun, or silence).
    Empty,
}

/// Counters of what the buffer did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct JitterStats {
    pub duplicates: u64,
    pub late: u64,
    pub concealed: u64,
    pub underruns: u64,
    pub drift_drops: u64,
    pub overflows: u64,
    /// Packets the buffer currently aims to hold.
    pub target: usize,
}

/// One stream's jitter buffer.
#[derive(Debug)]
pub struct JitterBuffer {
    slots: Vec<Slot>,
    ssrc: Option<u32>,
    next: Option<i64>,
    highest: i64,
    refilling: bool,
    target: usize,
    over_target: u32,
    stats: JitterStats,
}

impl Default for JitterBuffer {
    fn default() -> Self {
        JitterBuffer {
            slots: vec![Slot::default(); CAPACITY],
            ssrc: None,
            next: None,
            highest: 0,
            refilling: true,
            target: MIN_TARGET,
            over_target: 0,
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

    /// Adapts the depth to the measured interarrival jitter (RFC 3550 A.8).
    pub fn adapt(&mut self, jitter_ms: f64, ptime_ms: u32) {
        let ptime = f64::from(ptime_ms.max(10));
        let wanted = 1 + (3.0 * jitter_ms / ptime).ceil() as usize;
        self.target = wanted.clamp(MIN_TARGET, MAX_TARGET);
        self.stats.target = self.target;
    }

    /// Stores one arrived packet.
    pub fn push(&mut self, ssrc: u32, seq: u16, timestamp: u32, payload: &[u8]) {
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
            return;
        }
        if seq >= next + CAPACITY as i64 * 4 {
            // A jump far ahead: the stream restarted without a new SSRC.
            self.restart(ssrc);
            return self.push(ssrc, seq as u16, timestamp, payload);
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
        slot.payload.clear();
        slot.payload.extend_from_slice(payload);
        self.highest = self.highest.max(seq);
    }

    fn restart(&mut self, ssrc: u32) {
        self.ssrc = Some(ssrc);
        self.next = None;
        self.refilling = true;
        for slot in &mut self.slots {
            slot.seq = None;
        }
    }

    /// Packets from the next one to play up to the newest, gaps included.
    pub fn depth(&self) -> usize {
        match self.next {
            Some(next) if self.highest >= next => (self.highest - next + 1) as usize,
            _ => 0,
        }
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

    /// The next packet-time's worth.
    pub fn pop(&mut self) -> Pop<'_> {
        let Some(next) = self.next else {
            return Pop::Empty;
        };
        let depth = self.depth();
        if depth == 0 {
            if !self.refilling {
                self.stats.underruns += 1;
                self.refilling = true;
            }
            return Pop::Empty;
        }
        if self.refilling {
            if depth < self.target {
                return Pop::Empty;
            }
            self.refilling = false;
        }
        let mut next = next;
        if depth > self.target + DRIFT_SLACK {
            self.over_target += 1;
            if self.over_target >= DRIFT_POPS {
                self.over_target = 0;
                self.stats.drift_drops += 1;
                self.take(next);
                next += 1;
            }
        } else {
            self.over_target = 0;
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
        let after = (next + 1).rem_euclid(CAPACITY as i64) as usize;
        let slot = &self.slots[after];
        Pop::Lost {
            next: (slot.seq == Some(next + 1)).then_some(slot.payload.as_slice()),
        }
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

    fn push(jb: &mut JitterBuffer, seq: u16) {
        jb.push(SSRC, seq, u32::from(seq) * 160, &[seq as u8]);
    }

    /// What the next pop yields: Some(seq byte), "lost", or None for empty.
    fn pop(jb: &mut JitterBuffer) -> Result<Option<u8>, &'static str> {
        match jb.pop() {
            Pop::Packet { payload, .. } => Ok(Some(payload[0])),
            Pop::Lost { .. } => Err("lost"),
            Pop::Empty => Ok(None),
        }
    }

    #[test]
    fn waits_for_target_depth_then_plays_in_order() {
        let mut jb = JitterBuffer::default();
        push(&mut jb, 10);
        assert_eq!(pop(&mut jb), Ok(None), "filling");
        push(&mut jb, 11);
        assert_eq!(pop(&mut jb), Ok(Some(10)));
        push(&mut jb, 12);
        assert_eq!(pop(&mut jb), Ok(Some(11)));
        assert_eq!(pop(&mut jb), Ok(Some(12)));
        assert_eq!(pop(&mut jb), Ok(None), "underrun");
        assert_eq!(jb.stats().underruns, 1);
    }

    #[test]
    fn reorders_and_drops_duplicates_and_late_packets() {
        let mut jb = JitterBuffer::default();
        for seq in [1, 3, 2, 2, 4] {
            push(&mut jb, seq);
        }
        assert_eq!(pop(&mut jb), Ok(Some(1)));
        push(&mut jb, 1);
        assert_eq!(pop(&mut jb), Ok(Some(2)));
        assert_eq!(pop(&mut jb), Ok(Some(3)));
        assert_eq!(pop(&mut jb), Ok(Some(4)));
        assert_eq!(jb.stats().duplicates, 1);
        assert_eq!(jb.stats().late, 1);
    }

    #[test]
    fn a_loss_burst_is_concealed_with_the_next_packet_offered_for_fec() {
        let mut jb = JitterBuffer::default();
        for seq in [1, 2, 5, 6] {
            push(&mut jb, seq);
        }
        assert_eq!(pop(&mut jb), Ok(Some(1)));
        assert_eq!(pop(&mut jb), Ok(Some(2)));
        assert_eq!(jb.pop(), Pop::Lost { next: None }, "3: 4 is missing too");
        assert_eq!(
            jb.pop(),
            Pop::Lost {
                next: Some(&[5][..])
            },
            "4: FEC from 5"
        );
        assert_eq!(pop(&mut jb), Ok(Some(5)));
        assert_eq!(jb.stats().concealed, 2);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut jb = JitterBuffer::default();
        for seq in [65534, 65535, 0, 1] {
            push(&mut jb, seq);
        }
        let played: Vec<_> = (0..4).map(|_| pop(&mut jb).unwrap().unwrap()).collect();
        assert_eq!(played, [254, 255, 0, 1]);
    }

    #[test]
    fn a_new_ssrc_restarts_the_stream() {
        let mut jb = JitterBuffer::default();
        push(&mut jb, 100);
        push(&mut jb, 101);
        assert_eq!(pop(&mut jb), Ok(Some(100)));
        jb.push(99, 5000, 0, &[1]);
        jb.push(99, 5001, 160, &[2]);
        assert_eq!(pop(&mut jb), Ok(Some(1)), "old packets flushed");
    }

    #[test]
    fn a_jitter_spike_deepens_the_buffer() {
        let mut jb = JitterBuffer::default();
        jb.adapt(40.0, 20);
        assert_eq!(jb.stats().target, 7);
        for seq in 0..6 {
            push(&mut jb, seq);
        }
        assert_eq!(pop(&mut jb), Ok(None), "waits for 7 packets");
        push(&mut jb, 6);
        assert_eq!(pop(&mut jb), Ok(Some(0)));
        jb.adapt(1000.0, 20);
        assert_eq!(jb.stats().target, MAX_TARGET);
    }

    #[test]
    fn a_fast_sender_clock_costs_a_packet_now_and_then() {
        let mut jb = JitterBuffer::default();
        let mut seq = 0u16;
        let mut played = 0;
        // The sender delivers 51 packets for every 50 pops.
        for round in 0..400 {
            push(&mut jb, seq);
            seq += 1;
            if round % 50 == 0 {
                push(&mut jb, seq);
                seq += 1;
            }
            if let Ok(Some(_)) = pop(&mut jb) {
                played += 1;
            }
        }
        assert!(
            jb.depth() <= MIN_TARGET + DRIFT_SLACK + 1,
            "depth {}",
            jb.depth()
        );
        assert!(jb.stats().drift_drops >= 4, "{:?}", jb.stats());
        assert!(played >= 390);
    }

    #[test]
    fn a_standby_copy_skips_to_the_newest_packets() {
        let mut jb = JitterBuffer::default();
        for seq in 0..10u16 {
            jb.push(1, seq, u32::from(seq) * 960, &[seq as u8]);
        }
        jb.skip_to_latest();
        assert_eq!(jb.depth(), MIN_TARGET, "only the target depth is left");
        assert_eq!(
            jb.pop(),
            Pop::Packet {
                timestamp: 8 * 960,
                payload: &[8]
            }
        );
        jb.skip_to_latest();
        assert_eq!(jb.depth(), 1, "never skips ahead of what arrived");
    }
}
