//! The video of the meetings on one video worker (mediasoup's router):
//! participants' cameras come in as **sources** (a remote participant's
//! track from the hub, a local room's camera from its media worker), and
//! rooms that take the meeting's picture are **viewers**. Each viewer
//! watches its active speaker (the audio worker says who; never itself —
//! the previous speaker then; a speaker who sends no video is shown as a
//! **name card**), or, while nobody has spoken, the first other camera.
//! A source is decoded only while watched, once however
//! many rooms watch it; each distinct (source, [`Output`]) is one
//! **stream** with one encoder, whose frames go to every viewer taking it.
//! A watched source's broken picture (lost packets, undecodable frames)
//! is asked for a keyframe, at most every 500 ms, until one comes whole.
//! A local room's camera that browsers do not decode is also **published**
//! from here: decoded whether or not a room watches it, and transcoded
//! for the meeting ([`Publisher`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc as tokio_mpsc;
use tracing::{info, warn};

use super::assemble::{Assembled, AssemblyStats, FrameAssembler};
use super::decode::VideoDecoder;
use super::encode::{EncodedFrame, Output, VideoEncoder};
use super::keyframe::MIN_INTERVAL;
use super::leg::PublishVideo;
use super::name_card::name_card;
use super::picture::{Fitter, Picture};
use super::publish::Publisher;
use crate::engine::{Command, Workers};
use media_api::{LegId, VideoCodec};

/// A camera's number on this node (a name card's has [`CARD`] set).
pub(crate) type SourceId = u64;

/// The bit of a name card's source id.
const CARD: SourceId = 1 << 62;
/// How often a name card is sent again (it does not change; the repeats
/// let a room that lost a packet recover).
const CARD_INTERVAL: Duration = Duration::from_millis(200);

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
    fn record(&self, assembly: &AssemblyStats, decode_errors: u64) {
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

/// What a video worker is asked.
pub(crate) enum VideoCommand {
    AddSource {
        id: SourceId,
        meeting: Arc<str>,
        participant: String,
        codec: VideoCodec,
        ask: KeyframeAsk,
        stats: Arc<CameraStats>,
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
    /// A local room's camera is transcoded into the meeting as the track
    /// `to` (None: no longer).
    Publish {
        source: SourceId,
        leg: LegId,
        to: Option<PublishVideo>,
    },
    /// The meeting wants a keyframe of a transcoded camera.
    PublishKeyframe(SourceId),
    /// A participant of the meeting and its name (None: it left).
    Named {
        meeting: Arc<str>,
        participant: String,
        name: Option<String>,
    },
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
    /// Its transcoding for the meeting.
    publish: Option<Publisher>,
    decode_errors: u64,
    stats: Arc<CameraStats>,
}

impl Source {
    /// Decodes from the next keyframe on, if it did not already.
    fn start_decoding(&mut self, now: Instant, workers: &Workers) {
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

    /// Stops decoding once neither a room nor the meeting takes it.
    fn stop_decoding_if_unused(&mut self) {
        if self.streams == 0 && self.publish.is_none() {
            self.decoder = None;
        }
    }

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
    /// A name card's picture, at the output's size.
    card: Option<Picture>,
}

/// What a viewer should watch.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pick {
    Camera(SourceId),
    /// The name card of this participant, who sends no video.
    Card(String),
}

pub(crate) struct Router {
    workers: Workers,
    /// Encoders on all the node's video workers.
    encoders: Arc<AtomicU64>,
    epoch: Instant,
    sources: HashMap<SourceId, Source>,
    viewers: HashMap<LegId, Viewer>,
    streams: HashMap<(SourceId, Output), Stream>,
    /// Participants' names, by meeting and participant.
    names: HashMap<(Arc<str>, String), String>,
    /// Name cards' source ids.
    cards: HashMap<(Arc<str>, String), SourceId>,
    next_card: SourceId,
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
            names: HashMap::new(),
            cards: HashMap::new(),
            next_card: CARD,
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
                stats,
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
                    publish: None,
                    decode_errors: 0,
                    stats,
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
            VideoCommand::Publish { source, leg, to } => {
                if let Some(s) = self.sources.get_mut(&source) {
                    s.publish = to.map(|to| Publisher::new(leg, to));
                    match s.publish {
                        Some(_) => s.start_decoding(now, &self.workers),
                        None => s.stop_decoding_if_unused(),
                    }
                }
            }
            VideoCommand::PublishKeyframe(source) => {
                let publish = self
                    .sources
                    .get_mut(&source)
                    .and_then(|s| s.publish.as_mut());
                if let Some(publish) = publish {
                    publish.want_keyframe();
                }
            }
            VideoCommand::Named {
                meeting,
                participant,
                name,
            } => {
                let key = (meeting.clone(), participant);
                match name {
                    Some(name) => {
                        let renamed = self.names.get(&key).is_some_and(|old| *old != name);
                        if let Some(&card) = self.cards.get(&key).filter(|_| renamed) {
                            self.redraw_card(card, &name);
                        }
                        self.names.insert(key, name)
                    }
                    None => {
                        self.cards.remove(&key);
                        self.names.remove(&key)
                    }
                };
                self.rewatch(&meeting, now);
            }
        }
    }

    /// Sends the name cards whose time has come again.
    pub fn tick(&mut self, now: Instant) {
        let cards: Vec<(SourceId, Output)> = self
            .streams
            .iter()
            .filter(|((id, _), s)| {
                *id & CARD != 0
                    && s.last
                        .is_none_or(|last| now.saturating_duration_since(last) >= CARD_INTERVAL)
            })
            .map(|(&key, _)| key)
            .collect();
        for key in cards {
            self.send_card(key, now);
        }
    }

    /// Encodes a name card stream's picture and sends it to its rooms.
    fn send_card(&mut self, key: (SourceId, Output), now: Instant) {
        let millis = now.saturating_duration_since(self.epoch).as_millis() as u64;
        let Some(stream) = self.streams.get_mut(&key) else {
            return;
        };
        stream.last = Some(now);
        let Some(card) = stream.card.as_ref() else {
            return;
        };
        match stream.encoder.encode(card, millis) {
            Ok(Some(frame)) => send(&self.workers, stream, key.1, Arc::new(frame)),
            Ok(None) => {}
            Err(e) => warn!("encoding a name card: {e}"),
        }
    }

    /// Draws a renamed participant's card again for the rooms watching
    /// it (sent with the next tick).
    fn redraw_card(&mut self, card: SourceId, name: &str) {
        for ((id, output), stream) in self.streams.iter_mut() {
            if *id == card {
                stream.card = Some(name_card(name, output.mode.width, output.mode.height));
                stream.encoder.want_keyframe();
                stream.last = None;
            }
        }
    }

    /// The source id of `participant`'s name card in `meeting`.
    fn card_id(&mut self, meeting: &Arc<str>, participant: &str) -> SourceId {
        let next = &mut self.next_card;
        *self
            .cards
            .entry((meeting.clone(), participant.to_owned()))
            .or_insert_with(|| {
                *next += 1;
                *next
            })
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
            let named = |p: &str| {
                self.names
                    .contains_key(&(viewer.meeting.clone(), p.to_owned()))
            };
            let meeting = viewer.meeting.clone();
            let wanted = match choose(cameras, named, viewer) {
                Some(Pick::Camera(id)) => Some(id),
                Some(Pick::Card(participant)) => Some(self.card_id(&meeting, &participant)),
                None => None,
            };
            if self.viewers[&leg].watching == wanted {
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
        if id & CARD != 0 {
            return self.watch_card(leg, id, output, now);
        }
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
                    card: None,
                };
                self.streams.insert((id, output), stream);
                self.encoders.fetch_add(1, Ordering::Relaxed);
                source.streams += 1;
                source.start_decoding(now, &self.workers);
            }
        }
    }

    /// Puts `leg` on the name card stream `id` (made with its picture
    /// and sent at once if it is new).
    fn watch_card(&mut self, leg: LegId, id: SourceId, output: Output, now: Instant) {
        if let Some(stream) = self.streams.get_mut(&(id, output)) {
            stream.viewers.push(leg);
            stream.encoder.want_keyframe();
            return;
        }
        let name = self
            .cards
            .iter()
            .find(|(_, &card)| card == id)
            .and_then(|(key, _)| self.names.get(key));
        let Some(name) = name else {
            return;
        };
        let encoder = match VideoEncoder::new(output) {
            Ok(encoder) => encoder,
            Err(e) => return warn!(leg = leg.0, "no encoder for {output:?}: {e}"),
        };
        let card = name_card(name, output.mode.width, output.mode.height);
        let stream = Stream {
            encoder,
            fitter: Fitter::new(output.mode.width, output.mode.height),
            viewers: vec![leg],
            last: None,
            card: Some(card),
        };
        self.streams.insert((id, output), stream);
        self.encoders.fetch_add(1, Ordering::Relaxed);
        self.send_card((id, output), now);
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
            source.stop_decoding_if_unused();
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
            stats,
            ..
        } = source
        else {
            return;
        };
        let mut broken = false;
        let mut fresh = false;
        assembler.push(now, sequence, timestamp, marker, payload, |out| match out {
            Assembled::Frame { data, .. } => match decoder.decode(data) {
                Ok(picture) => {
                    stats.frames_decoded.fetch_add(1, Ordering::Relaxed);
                    fresh |= picture
                }
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
        stats.record(&assembler.stats, *decode_errors);
        if broken {
            source.assembler.reset();
        }
        // Asked again (every 500 ms at most) until a keyframe comes whole:
        // the one answering a request may itself be damaged on the way.
        if source.assembler.waiting_for_keyframe() {
            source.ask_keyframe(now, &self.workers);
        }
        if fresh {
            self.publish(id, now);
            self.encode(id, now);
        }
    }

    /// Transcodes the source's new picture for the meeting, if it is
    /// published that way.
    fn publish(&mut self, id: SourceId, now: Instant) {
        let millis = now.saturating_duration_since(self.epoch).as_millis() as u64;
        let Some(source) = self.sources.get_mut(&id) else {
            return;
        };
        let (Some(publisher), Some(decoder)) = (&mut source.publish, &source.decoder) else {
            return;
        };
        if let Err(e) = publisher.publish(decoder.picture(), millis) {
            warn!(participant = %source.participant, "transcoding for the meeting: {e}");
            return;
        }
        let stats = &source.stats;
        stats
            .frames_transcoded
            .store(publisher.frames, Ordering::Relaxed);
        if let Some(mode) = publisher.mode() {
            let size = u64::from(mode.width) << 16 | u64::from(mode.height);
            stats.transcoded_size.store(size, Ordering::Relaxed);
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
            send(&self.workers, stream, *output, frame);
        }
    }
}

/// Sends a stream's encoded frame to each of its rooms.
fn send(workers: &Workers, stream: &Stream, output: Output, frame: Arc<EncodedFrame>) {
    let sharing = stream.viewers.len();
    for &leg in &stream.viewers {
        let sent = SentFrame {
            frame: frame.clone(),
            output,
            sharing,
        };
        workers.leg(leg, Command::SendVideo(leg, sent));
    }
}

/// What `viewer` should watch, of its meeting's `cameras` (source and
/// participant) and participants (`named`): its speaker's camera, or the
/// speaker's name card when it sends no video; else the camera it watches
/// now, else the first — never its own.
fn choose<'a>(
    cameras: impl Iterator<Item = (SourceId, &'a str)> + Clone,
    named: impl Fn(&str) -> bool,
    viewer: &Viewer,
) -> Option<Pick> {
    let others = cameras.filter(|&(_, p)| p != viewer.participant);
    let speaker = viewer
        .speaker
        .as_deref()
        .filter(|&s| s != viewer.participant);
    if let Some(speaker) = speaker {
        if let Some((id, _)) = others.clone().find(|&(_, p)| p == speaker) {
            return Some(Pick::Camera(id));
        }
        if named(speaker) {
            return Some(Pick::Card(speaker.to_owned()));
        }
    }
    others
        .clone()
        .find(|&(id, _)| Some(id) == viewer.watching)
        .or_else(|| others.min_by_key(|&(id, _)| id))
        .map(|(id, _)| Pick::Camera(id))
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
        let choose = |cameras, viewer: &Viewer| match choose(cameras, |p| p == "dave", viewer) {
            Some(Pick::Camera(id)) => Some(id),
            Some(Pick::Card(p)) => panic!("{p}'s card"),
            None => None,
        };
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
        // A speaker unknown to the meeting: the picture stays.
        assert_eq!(
            choose(cameras.clone(), &viewer("room", Some("cat"), Some(3))),
            Some(3)
        );
        // Alone with its camera, a room watches nothing.
        let alone = [(1, "room")].into_iter();
        assert_eq!(
            super::choose(alone, |_| true, &viewer("room", None, None)),
            None
        );
    }

    #[test]
    fn a_speaker_without_video_is_shown_as_its_name_card() {
        let named = |p: &str| p == "dave";
        assert_eq!(
            choose(
                CAMERAS.into_iter(),
                named,
                &viewer("room", Some("dave"), Some(3))
            ),
            Some(Pick::Card("dave".into()))
        );
        assert_eq!(
            choose([].into_iter(), named, &viewer("room", Some("dave"), None)),
            Some(Pick::Card("dave".into())),
            "even when nobody sends video"
        );
    }
}
