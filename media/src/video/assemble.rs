//! Whole coded frames from a camera's RTP packets: packets put back in
//! order within a small window (of packets, and of time: a gap waits
//! [`GAP_WAIT`] for a late or retransmitted packet, then counts as lost —
//! a camera sending one small packet a frame would otherwise hold its
//! picture for seconds), depacketised (H.264 single NAL units,
//! STAP-A and FU-A as RFC 6184; VP8 as RFC 7741, with rtc-rtp's
//! depacketisers; H.263 as RFC 2190) and joined until the marker bit. A packet lost for good
//! breaks the picture: frames are dropped until the next keyframe, and
//! the caller is told to ask for one.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc_rtp::codec::h264::H264Packet;
use rtc_rtp::codec::vp8::Vp8Packet;
use rtc_rtp::packetizer::Depacketizer;

use super::h263;
use media_api::VideoCodec;

/// Whether an RTP payload of `codec` starts a keyframe.
pub fn starts_keyframe(codec: VideoCodec, payload: &[u8]) -> bool {
    match codec {
        VideoCodec::H263 => h263::starts_keyframe(payload),
        VideoCodec::H264 | VideoCodec::Vp8 => meeting::starts_keyframe(codec.mime(), payload),
    }
}

/// Packets held while an earlier one is missing, before it counts as lost.
const WINDOW: usize = 48;
/// How long a missing packet is waited for (reordered, or sent again
/// after a NACK) once a later one has come.
pub const GAP_WAIT: Duration = Duration::from_millis(200);

/// What a packet completed.
#[derive(Debug, PartialEq, Eq)]
pub enum Assembled<'a> {
    /// A whole frame (Annex B for H.264).
    Frame { data: &'a [u8], keyframe: bool },
    /// Packets were lost: the picture is broken until a keyframe.
    Lost,
}

/// Counts of what went wrong.
#[derive(Debug, Default, Clone, Copy)]
pub struct AssemblyStats {
    pub frames: u64,
    pub lost_packets: u64,
    pub undecodable_packets: u64,
    /// Frames dropped while waiting for a keyframe.
    pub dropped_frames: u64,
}

enum Depacketiser {
    H264(H264Packet),
    Vp8(Vp8Packet),
    H263,
}

impl Depacketiser {
    /// Appends the payload's share of the frame; false if it is not one.
    fn depacketize_into(&mut self, payload: &Bytes, frame: &mut Vec<u8>) -> bool {
        let data = match self {
            Depacketiser::H264(d) => d.depacketize(payload),
            Depacketiser::Vp8(d) => d.depacketize(payload),
            Depacketiser::H263 => return h263::depacketise(payload, frame),
        };
        data.map(|data| frame.extend_from_slice(&data)).is_ok()
    }
}

struct Held {
    arrived: Instant,
    timestamp: u32,
    marker: bool,
    payload: Bytes,
}

pub struct FrameAssembler {
    codec: VideoCodec,
    depacketiser: Depacketiser,
    /// Packets not yet taken, by extended sequence number.
    held: BTreeMap<u64, Held>,
    /// The extended sequence number taken next.
    next: Option<u64>,
    /// The frame being joined: its timestamp, whether it starts a keyframe.
    frame: Vec<u8>,
    frame_timestamp: Option<u32>,
    frame_keyframe: bool,
    /// Frames are dropped until a keyframe (after a loss, and at the start).
    broken: bool,
    out: Vec<u8>,
    pub stats: AssemblyStats,
}

impl FrameAssembler {
    pub fn new(codec: VideoCodec) -> FrameAssembler {
        let depacketiser = match codec {
            VideoCodec::H264 => Depacketiser::H264(H264Packet::default()),
            VideoCodec::Vp8 => Depacketiser::Vp8(Vp8Packet::default()),
            VideoCodec::H263 => Depacketiser::H263,
        };
        FrameAssembler {
            codec,
            depacketiser,
            held: BTreeMap::new(),
            next: None,
            frame: Vec::new(),
            frame_timestamp: None,
            frame_keyframe: false,
            broken: true,
            out: Vec::new(),
            stats: AssemblyStats::default(),
        }
    }

    /// Starts over (the source restarts, or is watched again): frames are
    /// taken from the next keyframe on.
    pub fn reset(&mut self) {
        self.held.clear();
        self.next = None;
        self.frame.clear();
        self.frame_timestamp = None;
        self.broken = true;
    }

    /// Whether frames are being dropped until a keyframe comes.
    pub fn waiting_for_keyframe(&self) -> bool {
        self.broken
    }

    /// Takes one packet, come at `now`; `done` gets each frame it
    /// completes (or a loss).
    pub fn push(
        &mut self,
        now: Instant,
        sequence: u16,
        timestamp: u32,
        marker: bool,
        payload: Bytes,
        mut done: impl FnMut(Assembled<'_>),
    ) {
        let extended = self.extend(sequence);
        if self.next.is_some_and(|next| extended < next) {
            return; // too late, or a duplicate
        }
        let next = *self.next.get_or_insert(extended);
        let held = Held {
            arrived: now,
            timestamp,
            marker,
            payload,
        };
        self.held.insert(extended, held);
        let mut next = next;
        loop {
            if let Some(packet) = self.held.remove(&next) {
                next += 1;
                self.next = Some(next);
                self.take(packet, &mut done);
            } else if self.gave_up_waiting(now) {
                let (&first, _) = self.held.first_key_value().expect("not empty");
                self.stats.lost_packets += first - next;
                next = first;
                self.next = Some(next);
                self.frame.clear();
                self.frame_timestamp = None;
                if !self.broken {
                    self.broken = true;
                    done(Assembled::Lost);
                }
            } else {
                return;
            }
        }
    }

    /// Whether the packet missing before those held is lost for good: the
    /// window is full, or the first held one came [`GAP_WAIT`] ago.
    fn gave_up_waiting(&self, now: Instant) -> bool {
        self.held.len() > WINDOW
            || self
                .held
                .first_key_value()
                .is_some_and(|(_, first)| now.saturating_duration_since(first.arrived) >= GAP_WAIT)
    }

    /// The extended sequence number of `sequence`, nearest the next one.
    fn extend(&self, sequence: u16) -> u64 {
        let Some(next) = self.next else {
            return (1 << 16) + u64::from(sequence);
        };
        let delta = sequence.wrapping_sub(next as u16) as i16;
        next.saturating_add_signed(i64::from(delta))
    }

    fn take(&mut self, packet: Held, done: &mut impl FnMut(Assembled<'_>)) {
        if self.frame_timestamp != Some(packet.timestamp) {
            // A frame whose marker was lost, or the first packet of one.
            self.frame.clear();
            self.frame_timestamp = Some(packet.timestamp);
            self.frame_keyframe = starts_keyframe(self.codec, &packet.payload);
        }
        if !self
            .depacketiser
            .depacketize_into(&packet.payload, &mut self.frame)
        {
            self.stats.undecodable_packets += 1;
        }
        if !packet.marker {
            return;
        }
        self.frame_timestamp = None;
        if self.frame_keyframe {
            self.broken = false;
        }
        if self.broken || self.frame.is_empty() {
            self.stats.dropped_frames += 1;
            self.frame.clear();
            return;
        }
        self.stats.frames += 1;
        std::mem::swap(&mut self.out, &mut self.frame);
        self.frame.clear();
        done(Assembled::Frame {
            data: &self.out,
            keyframe: self.frame_keyframe,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDR: &[u8] = &[0x65, 0x88, 0x84];
    const SLICE: &[u8] = &[0x41, 0x9a, 0x02];

    /// Pushes packets (sequence, timestamp, marker, payload) and lists
    /// what came out: frames as their first NAL type, losses as 0.
    fn run(a: &mut FrameAssembler, packets: &[(u16, u32, bool, &'static [u8])]) -> Vec<u8> {
        let now = Instant::now();
        run_at(a, packets.iter().map(|&p| (now, p)))
    }

    /// As [`run`], each packet coming at its own time.
    fn run_at(
        a: &mut FrameAssembler,
        packets: impl IntoIterator<Item = (Instant, (u16, u32, bool, &'static [u8]))>,
    ) -> Vec<u8> {
        let mut seen = Vec::new();
        for (at, (seq, ts, marker, payload)) in packets {
            a.push(at, seq, ts, marker, Bytes::from_static(payload), |out| {
                seen.push(match out {
                    Assembled::Frame { data, .. } => data[4] & 0x1f,
                    Assembled::Lost => 0,
                })
            });
        }
        seen
    }

    #[test]
    fn frames_wait_for_a_keyframe_and_come_out_in_order() {
        let mut a = FrameAssembler::new(VideoCodec::H264);
        let out = run(
            &mut a,
            &[
                (10, 0, true, SLICE), // before any keyframe: dropped
                (12, 3000, true, SLICE),
                (11, 1500, true, IDR),   // late, put back in order
                (65535, 0, true, SLICE), // older than what was taken
            ],
        );
        assert_eq!(out, vec![5, 1]);
        assert_eq!(a.stats.dropped_frames, 1);
    }

    #[test]
    fn a_fu_a_keyframe_is_joined_across_the_sequence_wrap() {
        let mut a = FrameAssembler::new(VideoCodec::H264);
        let out = run(
            &mut a,
            &[
                (65535, 9, false, &[0x7c, 0x85, 1, 2]),
                (0, 9, false, &[0x7c, 0x05, 3]),
                (1, 9, true, &[0x7c, 0x45, 4]),
            ],
        );
        assert_eq!(out, vec![5]);
    }

    #[test]
    fn a_lost_packet_breaks_the_picture_until_the_next_keyframe() {
        let mut a = FrameAssembler::new(VideoCodec::H264);
        let mut packets = vec![(1, 0, true, IDR)];
        // Packet 2 never comes; a window's worth of others does.
        for seq in 3..(4 + WINDOW as u16) {
            packets.push((seq, u32::from(seq) * 3000, true, SLICE));
        }
        let next = 4 + WINDOW as u16;
        packets.push((next, 400_000, true, IDR));
        packets.push((next + 1, 403_000, true, SLICE));
        let out = run(&mut a, &packets);
        assert_eq!(out, vec![5, 0, 5, 1]);
        assert_eq!(a.stats.lost_packets, 1);
    }

    #[test]
    fn a_gap_is_waited_for_a_while_then_counts_as_lost() {
        let mut a = FrameAssembler::new(VideoCodec::H264);
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        // 3 is late but within the wait; 6 never comes, and one packet a
        // frame is all the camera sends.
        let out = run_at(
            &mut a,
            [
                (ms(0), (1, 0, true, IDR)),
                (ms(33), (2, 3000, true, SLICE)),
                (ms(66), (4, 9000, true, SLICE)),
                (ms(150), (3, 6000, true, SLICE)),
                (ms(160), (5, 12000, true, SLICE)),
                (ms(200), (7, 18000, true, SLICE)),
                (ms(233), (8, 21000, true, SLICE)),
                (ms(400), (9, 24000, true, IDR)),
            ],
        );
        assert_eq!(out, vec![5, 1, 1, 1, 1, 0, 5]);
        assert_eq!(a.stats.lost_packets, 1);
    }
}
