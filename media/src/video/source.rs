//! A camera on its meeting's video worker (a **source**): its packets put
//! back into frames, decoded only while a picture shows it or the meeting
//! takes it transcoded, asked for a keyframe (at most every 500 ms) while
//! its picture is broken, and its latest picture scaled once per tile
//! size in use, however many pictures show it at that size.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc as tokio_mpsc;
use tracing::{info, warn};

use super::assemble::{AssemblyStats, FrameAssembler};
use super::decode::VideoDecoder;
use super::keyframe::MIN_INTERVAL;
use super::picture::{Fitter, Picture};
use super::publish::Publisher;
use crate::engine::{Command, Workers};
use media_api::{LegId, VideoCodec};

/// What became of a camera on its video worker, for the call's stats
/// (read by the room's media worker without a round trip).
#[derive(Debug, Default)]
pub(crate) struct CameraStats {
    pub frames_decoded: AtomicU64,
    /// Frames dropped while the picture waited for a keyframe.
    pub frames_dropped: AtomicU64,
    /// Packets that never came (within the reorder window and wait).
    pub packets_lost: AtomicU64,
    pub decode_errors: AtomicU64,
    /// Frames transcoded for the meeting, and the size they are
    /// published at (width << 16 | height; 0 until the first).
    pub frames_transcoded: AtomicU64,
    pub transcoded_size: AtomicU64,
}

impl CameraStats {
    pub fn record(&self, assembly: &AssemblyStats, decode_errors: u64) {
        self.frames_dropped
            .store(assembly.dropped_frames, Ordering::Relaxed);
        self.packets_lost
            .store(assembly.lost_packets, Ordering::Relaxed);
        self.decode_errors.store(decode_errors, Ordering::Relaxed);
    }
}

/// How a source is asked for a keyframe.
#[derive(Debug, Clone)]
pub(crate) enum KeyframeAsk {
    /// Through the hub (an RTCP PLI on its subscribe connection).
    Hub(tokio_mpsc::UnboundedSender<()>),
    /// A local room, through its media worker (as it negotiated).
    Room(LegId),
}

/// The source's picture scaled to one tile size.
struct Scaled {
    size: (u32, u32),
    fitter: Fitter,
    /// The source's frame it holds.
    frame: u64,
}

/// Tile sizes not used for this many frames are forgotten.
const UNUSED_FRAMES: u64 = 60;

pub(crate) struct Source {
    pub meeting: Arc<str>,
    pub participant: String,
    codec: VideoCodec,
    ask: KeyframeAsk,
    asked: Option<Instant>,
    pub assembler: FrameAssembler,
    /// Made when the source is first shown.
    pub decoder: Option<VideoDecoder>,
    /// Frames decoded since it started.
    frames: u64,
    scaled: Vec<Scaled>,
    /// Pictures showing it.
    pub pictures: usize,
    /// Its transcoding for the meeting.
    pub publish: Option<Publisher>,
    pub decode_errors: u64,
    pub stats: Arc<CameraStats>,
}

impl Source {
    pub fn new(
        meeting: Arc<str>,
        participant: String,
        codec: VideoCodec,
        ask: KeyframeAsk,
        stats: Arc<CameraStats>,
    ) -> Source {
        Source {
            meeting,
            participant,
            codec,
            ask,
            asked: None,
            assembler: FrameAssembler::new(codec),
            decoder: None,
            frames: 0,
            scaled: Vec::new(),
            pictures: 0,
            publish: None,
            decode_errors: 0,
            stats,
        }
    }

    /// Decodes from the next keyframe on, if it did not already.
    pub fn start_decoding(&mut self, now: Instant, workers: &Workers) {
        if self.decoder.is_some() {
            return;
        }
        info!(participant = %self.participant, meeting = %self.meeting, "decoding a camera");
        self.assembler.reset();
        self.decoder = match VideoDecoder::new(self.codec) {
            Ok(decoder) => Some(decoder),
            Err(e) => {
                warn!("no {:?} decoder: {e}", self.codec);
                None
            }
        };
        self.ask_keyframe(now, workers);
    }

    /// Stops decoding once neither a picture nor the meeting takes it.
    pub fn stop_decoding_if_unused(&mut self) {
        if self.pictures == 0 && self.publish.is_none() {
            self.decoder = None;
            self.frames = 0;
            self.scaled.clear();
        }
    }

    /// A new picture was decoded.
    pub fn decoded(&mut self) {
        self.frames += 1;
    }

    /// Scales its latest picture to `size`, unless that was done already.
    pub fn scale_to(&mut self, size: (u32, u32)) {
        let Some(decoder) = &self.decoder else { return };
        if self.frames == 0 {
            return;
        }
        let frames = self.frames;
        self.scaled
            .retain(|s| s.size == size || frames - s.frame < UNUSED_FRAMES);
        let scaled = match self.scaled.iter().position(|s| s.size == size) {
            Some(i) => &mut self.scaled[i],
            None => {
                self.scaled.push(Scaled {
                    size,
                    fitter: Fitter::new(size.0, size.1),
                    frame: 0,
                });
                self.scaled.last_mut().expect("just pushed")
            }
        };
        if scaled.frame == frames {
            return;
        }
        scaled.frame = frames;
        if let Err(e) = scaled.fitter.fit(decoder.picture()) {
            warn!(participant = %self.participant, "scaling: {e}");
        }
    }

    /// Its latest picture at `size`, as [`Source::scale_to`] made it.
    pub fn scaled(&self, size: (u32, u32)) -> Option<&Picture> {
        let decoder = self.decoder.as_ref().filter(|_| self.frames > 0)?;
        let scaled = self.scaled.iter().find(|s| s.size == size)?;
        Some(scaled.fitter.fitted(decoder.picture()))
    }

    /// Asks for a keyframe unless one was asked less than 500 ms ago.
    pub fn ask_keyframe(&mut self, now: Instant, workers: &Workers) {
        if self
            .asked
            .is_some_and(|at| now.saturating_duration_since(at) < MIN_INTERVAL)
        {
            return;
        }
        self.asked = Some(now);
        match &self.ask {
            KeyframeAsk::Hub(hub) => {
                let _ = hub.send(());
            }
            KeyframeAsk::Room(leg) => {
                workers.leg(*leg, Command::KeyframeWanted(*leg));
            }
        }
    }
}
