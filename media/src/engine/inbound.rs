//! An incoming audio stream, from a room or from the meeting: reception
//! statistics and the jitter buffer on the receive side ([`Inbound`]), and
//! the media thread's side that turns it into 20 ms frames, concealing
//! what is missing ([`FrameDecoder`]).

use std::sync::Mutex;
use std::time::Instant;

use crate::audio::{Codec, Frame, FRAME};
use crate::jitter::{JitterBuffer, Pop};
use crate::rtp_stats::ReceiveStats;

#[derive(Debug)]
pub(crate) struct Inbound {
    pub jitter: JitterBuffer,
    pub stats: ReceiveStats,
}

impl Inbound {
    pub fn new(clock_rate: u32) -> Inbound {
        Inbound {
            jitter: JitterBuffer::default(),
            stats: ReceiveStats::new(clock_rate),
        }
    }

    /// Counts an RTP packet and queues its payload, adapting the buffer's
    /// depth to the jitter seen so far.
    pub fn accept(
        &mut self,
        ssrc: u32,
        seq: u16,
        timestamp: u32,
        payload: &[u8],
        ptime_ms: u32,
        now: Instant,
    ) {
        self.stats
            .on_packet(ssrc, seq, timestamp, payload.len(), now);
        self.jitter.adapt(self.stats.jitter_ms(), ptime_ms);
        self.jitter.push(ssrc, seq, timestamp, payload);
    }
}

/// Decode buffers for one stream, reused frame after frame.
pub(crate) struct FrameDecoder {
    decoded: Vec<i16>,
    payload: Vec<u8>,
    next_payload: Vec<u8>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder {
            decoded: Vec::with_capacity(8 * FRAME),
            payload: Vec::with_capacity(1500),
            next_payload: Vec::with_capacity(1500),
        }
    }
}

impl FrameDecoder {
    /// Forgets decoded audio (after a codec change).
    pub fn clear(&mut self) {
        self.decoded.clear();
    }

    /// Decodes the next 20 ms of the stream whose jitter buffer `jitter`
    /// finds inside `state` into `frame`; returns whether any audio was
    /// there (the rest of `frame` is silence). Packets of `ptime_ms` that
    /// are lost are concealed by `codec`.
    pub fn pull<T>(
        &mut self,
        state: &Mutex<T>,
        jitter: fn(&mut T) -> &mut JitterBuffer,
        codec: &mut dyn Codec,
        ptime_ms: u32,
        frame: &mut Frame,
    ) -> bool {
        let ptime_samples = ptime_ms.clamp(10, 120) as usize * 48;
        while self.decoded.len() < FRAME {
            // Copy the payload out so decoding runs without the lock.
            let popped = {
                let mut st = state.lock().expect("stream state");
                match jitter(&mut st).pop() {
                    Pop::Packet { payload, .. } => {
                        self.payload.clear();
                        self.payload.extend_from_slice(payload);
                        Some(true)
                    }
                    Pop::Lost { next } => {
                        self.next_payload.clear();
                        if let Some(n) = next {
                            self.next_payload.extend_from_slice(n);
                        }
                        Some(false)
                    }
                    Pop::Empty => None,
                }
            };
            match popped {
                Some(true) => {
                    if codec.decode(&self.payload, &mut self.decoded).is_err() {
                        codec.conceal(None, ptime_samples, &mut self.decoded);
                    }
                }
                Some(false) => {
                    let next =
                        (!self.next_payload.is_empty()).then_some(self.next_payload.as_slice());
                    codec.conceal(next, ptime_samples, &mut self.decoded);
                }
                None => break,
            }
        }
        let n = self.decoded.len().min(FRAME);
        frame[..n].copy_from_slice(&self.decoded[..n]);
        frame[n..].fill(0);
        self.decoded.drain(..n);
        n > 0
    }
}
