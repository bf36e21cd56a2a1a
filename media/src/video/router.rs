//! The video of the meetings on one video worker (mediasoup's router):
//! participants' cameras come in as **sources** (a remote participant's
//! track from the hub, a local room's camera from its media worker), and
//! rooms that take the meeting's picture are **viewers**. Each viewer
//! watches its active speaker (the audio worker says who; never itself —
//! the previous speaker then), or, while nobody has spoken, the first
//! other camera. A source is decoded only while watched, once however
//! many rooms watch it; each distinct (source, [`Output`]) is one
//! **stream** with one encoder, whose frames go to every viewer taking it.
//! A watched source's broken picture (lost packets, undecodable frames)
//! is asked for a keyframe, at most every 500 ms.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc as tokio_mpsc;
use tracing::{info, warn};

use super::assemble::{Assembled, FrameAssembler};
use super::decode::VideoDecoder;
use super::encode::{EncodedFrame, Output, VideoEncoder};
use super::keyframe::MIN_INTERVAL;
use super::picture::Fitter;
use crate::engine::{Command, Workers};
use media_api::{LegId, VideoCodec};

/// A camera's number on this node.
pub(crate) type SourceId = u64;

/// How a source is asked for a keyframe.
#[derive(Debug, Clone)]
pub(crate) enum KeyframeAsk {
    /// Through the hub (an RTCP PLI on its subscribe connection).
    Hub(tokio_mpsc::UnboundedSender<()>),
    /// A local room, through its media worker (as it negotiated).
    Room(LegId),
}

/// What a video worker is asked.
pub(crate) enum VideoCommand {
    AddSource {
        id: SourceId,
        meeting: Arc<str>,
        participant: String,
        codec: VideoCodec,
        ask: KeyframeAsk,
    },
    RemoveSource(SourceId),
    /// One RTP packet of a source: sequence number, timestamp, marker,
    /// payload.
    Packet(SourceId, u16, u32, bool, Bytes),
    /// A room takes the picture of its meeting (again, if its output
    /// changed) as `output`.
    AddViewer {
        leg: LegId,
        meeting: Arc<str>,
        participant: String,
        output: Output,
    },
    RemoveViewer(LegId),
    /// The room's active speaker is now this participant.
    Speaker(LegId, String),
    /// The room asked for a keyframe.
    KeyframeFor(LegId),
}

struct Source {
    meeting: Arc<str>,
    participant: String,
    codec: VideoCodec,
    ask: KeyframeAsk,
    asked: Option<Instant>,
    assembler: FrameAssembler,
    /// Made when the source is first watched.
    decoder: Option<VideoDecoder>,
    /// Streams encoding it.
    streams: usize,
    decode_errors: u64,
}

impl Source {
    /// Asks for a keyframe unless one was asked less than 500 ms ago.
    fn ask_keyframe(&mut self, now: Instant, workers: &Workers) {
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

struct Viewer {
    meeting: Arc<str>,
    participant: String,
    output: Output,
    speaker: Option<String>,
    watching: Option<SourceId>,
}

/// One encoder and the rooms it serves.
struct Stream {
    encoder: VideoEncoder,
    fitter: Fitter,
    viewers: Vec<LegId>,
    last: Option<Instant>,
}

pub(crate) struct Router {
    workers: Workers,
    /// Encoders on all the node's video workers.
    encoders: Arc<AtomicU64>,
    epoch: Instant,
    sources: HashMap<SourceId, Source>,
    viewers: HashMap<LegId, Viewer>,
    streams: HashMap<(SourceId, Output), Stream>,
}

impl Router {
    pub fn new(workers: Workers, encoders: Arc<AtomicU64>) -> Router {
        Router {
            workers,
            encoders,
            epoch: Instant::now(),
            sources: HashMap::new(),
            viewers: HashMap::new(),
            streams: HashMap::new(),
        }
    }

    pub fn handle(&mut self, command: VideoCommand, now: Instant) {
        match command {
            VideoCommand::AddSource {
                id,
                meeting,
                participant,
                codec,
                ask,
            } => {
                let source = Source {
                    meeting: meeting.clone(),
                    participant,
                    codec,
                    ask,
                    asked: None,
                    assembler: FrameAssembler::new(codec),
                    decoder: None,
                    streams: 0,
                    decode_errors: 0,
                };
                self.sources.insert(id, source);
                self.rewatch(&meeting, now);
            }
            VideoCommand::RemoveSource(id) => {
                if let Some(source) = self.sources.remove(&id) {
                    self.rewatch(&source.meeting, now);
                }
            }
            VideoCommand::Packet(id, sequence, timestamp, marker, payload) => {
                self.on_packet(id, sequence, timestamp, marker, payload, now)
            }
            VideoCommand::AddViewer {
                leg,
                meeting,
                participant,
                output,
            } => {
                let speaker = self.viewers.get(&leg).and_then(|v| v.speaker.clone());
                self.unwatch(leg);
                let viewer = Viewer {
                    meeting: meeting.clone(),
                    participant,
                    output,
                    speaker,
                    watching: None,
                };
                self.viewers.insert(leg, viewer);
                self.rewatch(&meeting, now);
            }
            VideoCommand::RemoveViewer(leg) => {
                self.unwatch(leg);
                self.viewers.remove(&leg);
            }
            VideoCommand::Speaker(leg, participant) => {
                if let Some(viewer) = self.viewers.get_mut(&leg) {
                    viewer.speaker = Some(participant);
                    let meeting = viewer.meeting.clone();
                    self.rewatch(&meeting, now);
                }
            }
            VideoCommand::KeyframeFor(leg) => {
                let viewer = self.viewers.get(&leg);
                let key = viewer.and_then(|v| Some((v.watching?, v.output)));
                if let Some(stream) = key.and_then(|k| self.streams.get_mut(&k)) {
                    stream.encoder.want_keyframe();
                }
            }
        }
    }

    /// Points each viewer of `meeting` at the source it should watch.
    fn rewatch(&mut self, meeting: &str, now: Instant) {
        let legs: Vec<LegId> = self
            .viewers
            .iter()
            .filter(|(_, v)| &*v.meeting == meeting)
            .map(|(&leg, _)| leg)
            .collect();
        for leg in legs {
            let viewer = &self.viewers[&leg];
            let cameras = self
                .sources
                .iter()
                .filter(|(_, s)| s.meeting == viewer.meeting)
                .map(|(&id, s)| (id, s.participant.as_str()));
            let wanted = choose(cameras, viewer);
            if viewer.watching == wanted {
                continue;
            }
            self.unwatch(leg);
            if let Some(source) = wanted {
                self.watch(leg, source, now);
            }
        }
    }

    fn watch(&mut self, leg: LegId, id: SourceId, now: Instant) {
        let viewer = self.viewers.get_mut(&leg).expect("a viewer");
        viewer.watching = Some(id);
        let output = viewer.output;
        let Some(source) = self.sources.get_mut(&id) else {
            return;
        };
        match self.streams.get_mut(&(id, output)) {
            Some(stream) => {
                stream.viewers.push(leg);
                stream.encoder.want_keyframe();
            }
            None => {
                let encoder = match VideoEncoder::new(output) {
                    Ok(encoder) => encoder,
                    Err(e) => {
                        warn!(leg = leg.0, "no encoder for {output:?}: {e}");
                        return;
                    }
                };
                let stream = Stream {
                    encoder,
                    fitter: Fitter::new(output.mode.width, output.mode.height),
                    viewers: vec![leg],
                    last: None,
                };
                self.streams.insert((id, output), stream);
                self.encoders.fetch_add(1, Ordering::Relaxed);
                source.streams += 1;
                if source.streams == 1 {
                    info!(participant = %source.participant, meeting = %source.meeting, "decoding a camera");
                    source.assembler.reset();
                    source.decoder = match VideoDecoder::new(source.codec) {
                        Ok(decoder) => Some(decoder),
                        Err(e) => {
                            warn!("no {:?} decoder: {e}", source.codec);
                            None
                        }
                    };
                    source.ask_keyframe(now, &self.workers);
                }
            }
        }
    }

    /// Takes `leg` off the stream it watches (ending the stream, and the
    /// source's decoding, when nobody else watches).
    fn unwatch(&mut self, leg: LegId) {
        let Some(viewer) = self.viewers.get_mut(&leg) else {
            return;
        };
        let Some(id) = viewer.watching.take() else {
            return;
        };
        let key = (id, viewer.output);
        let Some(stream) = self.streams.get_mut(&key) else {
            return;
        };
        stream.viewers.retain(|&l| l != leg);
        if !stream.viewers.is_empty() {
            return;
        }
        self.streams.remove(&key);
        self.encoders.fetch_sub(1, Ordering::Relaxed);
        if let Some(source) = self.sources.get_mut(&id) {
            source.streams -= 1;
            if source.streams == 0 {
                source.decoder = None;
            }
        }
    }

    fn on_packet(
        &mut self,
        id: SourceId,
        sequence: u16,
        timestamp: u32,
        marker: bool,
        payload: Bytes,
        now: Instant,
    ) {
        let Some(source) = self.sources.get_mut(&id) else {
            return;
        };
        let Source {
            assembler,
            decoder: Some(decoder),
            decode_errors,
            participant,
            ..
        } = source
        else {
            return;
        };
        let mut broken = false;
        let mut fresh = false;
        assembler.push(sequence, timestamp, marker, payload, |out| match out {
            Assembled::Frame { data, .. } => match decoder.decode(data) {
                Ok(picture) => fresh |= picture,
                Err(e) => {
                    *decode_errors += 1;
                    if *decode_errors == 1 {
                        warn!(%participant, "undecodable video (counting further ones silently): {e}");
                    }
                    broken = true;
                }
            },
            Assembled::Lost => broken = true,
        });
        if broken {
            source.assembler.reset();
            source.ask_keyframe(now, &self.workers);
        }
        if fresh {
            self.encode(id, now);
        }
    }

    /// Encodes the source's new picture for each stream of it whose frame
    /// is due, and sends the frame to the stream's rooms.
    fn encode(&mut self, id: SourceId, now: Instant) {
        let Some(picture) = self.sources[&id].decoder.as_ref().map(|d| d.picture()) else {
            return;
        };
        let millis = now.saturating_duration_since(self.epoch).as_millis() as u64;
        for ((source, output), stream) in self.streams.iter_mut() {
            if *source != id {
                continue;
            }
            // Frames a little early still count, so 30 fps sources are
            // not halved by jitter.
            let interval = Duration::from_millis(1000 / u64::from(output.mode.fps.max(1)));
            let due = interval.saturating_sub(Duration::from_millis(8));
            if stream
                .last
                .is_some_and(|last| now.saturating_duration_since(last) < due)
            {
                continue;
            }
            stream.last = Some(now);
            let fitted = match stream.fitter.fit(picture) {
                Ok(fitted) => fitted,
                Err(e) => {
                    warn!("scaling: {e}");
                    continue;
                }
            };
            let frame = match stream.encoder.encode(fitted, millis) {
                Ok(Some(frame)) => Arc::new(frame),
                Ok(None) => continue,
                Err(e) => {
                    warn!("encoding: {e}");
                    continue;
                }
            };
            let sharing = stream.viewers.len();
            for &leg in &stream.viewers {
                let sent = SentFrame {
                    frame: frame.clone(),
                    output: *output,
                    sharing,
                };
                self.workers.leg(leg, Command::SendVideo(leg, sent));
            }
        }
    }
}

/// The camera (of its meeting's `cameras`: source and participant) that
/// `viewer` should watch: its speaker's, else the one it watches now, else
/// the first — never its own.
fn choose<'a>(
    cameras: impl Iterator<Item = (SourceId, &'a str)> + Clone,
    viewer: &Viewer,
) -> Option<SourceId> {
    let others = cameras.filter(|&(_, p)| p != viewer.participant);
    let speaker = viewer.speaker.as_deref();
    others
        .clone()
        .find(|&(_, p)| Some(p) == speaker)
        .or_else(|| others.clone().find(|&(id, _)| Some(id) == viewer.watching))
        .or_else(|| others.min_by_key(|&(id, _)| id))
        .map(|(id, _)| id)
}

/// An encoded frame on its way to one room.
pub(crate) struct SentFrame {
    pub frame: Arc<EncodedFrame>,
    /// What the encoder makes.
    pub output: Output,
    /// How many rooms the encoder serves.
    pub sharing: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use media_api::SendMode;

    fn viewer(participant: &str, speaker: Option<&str>, watching: Option<SourceId>) -> Viewer {
        Viewer {
            meeting: "m".into(),
            participant: participant.into(),
            output: Output {
                codec: VideoCodec::H264,
                packetization_mode: 1,
                mode: SendMode {
                    width: 640,
                    height: 360,
                    fps: 30,
                },
                kbps: 700,
            },
            speaker: speaker.map(str::to_owned),
            watching,
        }
    }

    const CAMERAS: [(SourceId, &str); 3] = [(3, "ann"), (1, "room"), (2, "bob")];

    #[test]
    fn a_room_watches_its_speaker_and_never_itself() {
        let cameras = CAMERAS.into_iter();
        assert_eq!(
            choose(cameras.clone(), &viewer("room", Some("ann"), None)),
            Some(3)
        );
        // Its own camera is never its picture, even as the speaker: the
        // one it watches stays, else the first other camera.
        assert_eq!(
            choose(cameras.clone(), &viewer("room", Some("room"), Some(3))),
            Some(3)
        );
        assert_eq!(
            choose(cameras.clone(), &viewer("room", Some("room"), None)),
            Some(2)
        );
        // A speaker without a camera: the picture stays.
        assert_eq!(
            choose(cameras.clone(), &viewer("room", Some("cat"), Some(3))),
            Some(3)
        );
        // Alone with its camera, a room watches nothing.
        let alone = [(1, "room")].into_iter();
        assert_eq!(choose(alone, &viewer("room", None, None)), None);
    }
}
