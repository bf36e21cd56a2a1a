//! The video of the meetings on one video worker (mediasoup's router):
//! participants' cameras come in as **sources** ([`Source`]: a remote
//! participant's track from the hub, a local room's camera from its media
//! worker), and rooms that take a picture of their meeting are
//! **viewers**. Each viewer sees its meeting in its layout (its own, else
//! its meeting's, else the installation's; see [`presence`] for who is in
//! which tile, never itself), composed and encoded once for every room
//! that sees the same ([`pictures`]). A source is decoded only while a
//! picture shows it, once however many do. A local room's camera that
//! browsers do not decode is also **published** from here: decoded
//! whether or not a picture shows it, and transcoded for the meeting
//! ([`Publisher`]).
//!
//! [`presence`]: super::presence
//! [`pictures`]: super::pictures

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::{info, warn};

use super::assemble::Assembled;
use super::encode::{EncodedFrame, Output};
use super::encoder_count::EncoderCount;
use super::leg::PublishVideo;
use super::name_card::Cards;
use super::pictures::{Composed, RenderCx, SceneKey};
use super::presence::{Candidate, Presence, ShownLayout, Shows};
use super::publish::Publisher;
use super::roster::{Member, Roster};
use super::source::{CameraStats, KeyframeAsk, Source};
use crate::engine::Workers;
use media_api::layout::{Layout, LayoutChange, MeetingLayout};
use media_api::{LegId, VideoCodec};

/// A camera's number on this node.
pub(crate) type SourceId = u64;

/// How often the worker wants to be ticked while it composes pictures
/// (and while it does not).
const TICK_COMPOSING: Duration = Duration::from_millis(10);
const TICK_IDLE: Duration = Duration::from_millis(100);

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
    /// changed) as `output`; `layout` is its own, from its dial string
    /// (one it already has is kept), `shown` where the layout in force is
    /// told.
    AddViewer {
        leg: LegId,
        meeting: Arc<str>,
        participant: String,
        output: Output,
        layout: Option<Layout>,
        shown: Arc<ShownLayout>,
    },
    RemoveViewer(LegId),
    /// The meeting's speaker is now this participant.
    Speaker(Arc<str>, String),
    /// The room asked for a keyframe.
    KeyframeFor(LegId),
    /// The room's own layout changes.
    Layout(LegId, LayoutChange),
    /// A meeting's layout settings.
    MeetingLayout(Arc<str>, MeetingLayout),
    /// A local room's camera is transcoded into the meeting as the track
    /// `to` (None: no longer).
    Publish {
        source: SourceId,
        leg: LegId,
        to: Option<PublishVideo>,
    },
    /// The meeting wants a keyframe of a transcoded camera.
    PublishKeyframe(SourceId),
    /// A participant of the meeting, its name and whether it is muted
    /// (None: it left).
    Named {
        meeting: Arc<str>,
        participant: String,
        member: Option<Member>,
    },
}

struct Viewer {
    meeting: Arc<str>,
    participant: String,
    output: Output,
    /// Its own layout.
    layout: Option<Layout>,
    /// The picture it takes.
    scene: Option<SceneKey>,
    shown: Arc<ShownLayout>,
}

pub(crate) struct Router {
    workers: Workers,
    encoders: EncoderCount,
    /// The installation's layout.
    default_layout: Layout,
    epoch: Instant,
    sources: HashMap<SourceId, Source>,
    viewers: HashMap<LegId, Viewer>,
    pictures: HashMap<SceneKey, Composed>,
    meetings: HashMap<Arc<str>, Presence>,
    roster: Roster,
    cards: Cards,
    /// Frame rates are divided by this (load shedding).
    slowdown: u32,
}

impl Router {
    pub fn new(workers: Workers, encoders: EncoderCount, default_layout: Layout) -> Router {
        Router {
            workers,
            encoders,
            default_layout,
            epoch: Instant::now(),
            sources: HashMap::new(),
            viewers: HashMap::new(),
            pictures: HashMap::new(),
            meetings: HashMap::new(),
            roster: Roster::default(),
            cards: Cards::default(),
            slowdown: 1,
        }
    }

    /// Divides every picture's frame rate by `slowdown` (1: none).
    pub fn slow_down(&mut self, slowdown: u32) {
        self.slowdown = slowdown.max(1);
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
                let source = Source::new(meeting.clone(), participant, codec, ask, stats);
                self.sources.insert(id, source);
                self.rewatch(&meeting, now);
            }
            VideoCommand::RemoveSource(id) => {
                if let Some(source) = self.sources.remove(&id) {
                    self.rewatch(&source.meeting, now);
                    self.forget_if_unused(&source.meeting);
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
                layout,
                shown,
            } => {
                let layout = self.viewers.get(&leg).map_or(layout, |v| v.layout);
                self.unwatch(leg);
                let viewer = Viewer {
                    meeting: meeting.clone(),
                    participant,
                    output,
                    layout,
                    scene: None,
                    shown,
                };
                self.viewers.insert(leg, viewer);
                self.meetings.entry(meeting.clone()).or_default();
                self.rewatch(&meeting, now);
            }
            VideoCommand::RemoveViewer(leg) => {
                self.unwatch(leg);
                if let Some(viewer) = self.viewers.remove(&leg) {
                    viewer.shown.set(None);
                    self.rewatch(&viewer.meeting, now);
                    self.forget_if_unused(&viewer.meeting);
                }
            }
            VideoCommand::Speaker(meeting, participant) => {
                let presence = self.meetings.get_mut(&meeting);
                if presence.is_some_and(|p| p.spoke(&participant)) {
                    self.rewatch(&meeting, now);
                }
            }
            VideoCommand::KeyframeFor(leg) => {
                let Some(viewer) = self.viewers.get(&leg) else {
                    return;
                };
                let picture = viewer.scene.as_ref().and_then(|k| self.pictures.get_mut(k));
                if let Some(picture) = picture {
                    picture.want_keyframe(viewer.output);
                }
            }
            VideoCommand::Layout(leg, change) => {
                let Some(viewer) = self.viewers.get(&leg) else {
                    return;
                };
                let layout = match change {
                    LayoutChange::Set(layout) => layout,
                    LayoutChange::Next => Some(self.layout_of(viewer).next()),
                };
                info!(leg = leg.0, layout = ?layout.map(Layout::name), "a room's layout");
                let meeting = viewer.meeting.clone();
                self.viewers.get_mut(&leg).expect("a viewer").layout = layout;
                self.rewatch(&meeting, now);
            }
            VideoCommand::MeetingLayout(meeting, settings) => {
                self.meetings.entry(meeting.clone()).or_default().settings = settings;
                self.rewatch(&meeting, now);
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
                member,
            } => {
                let gone = member.is_none();
                let renamed = member.as_ref().map(|m| m.name.clone());
                let old = self.roster.set(&meeting, &participant, member);
                if gone || old.is_some_and(|o| Some(o.name) != renamed) {
                    self.cards.forget(&meeting, &participant);
                }
                if gone {
                    if let Some(presence) = self.meetings.get_mut(&meeting) {
                        presence.left(&participant);
                    }
                }
                self.rewatch(&meeting, now);
                if gone {
                    self.forget_if_unused(&meeting);
                }
            }
        }
    }

    /// Turns polled tiles and sends the pictures whose time has come;
    /// returns how soon it wants to be ticked again.
    pub fn tick(&mut self, now: Instant) -> Duration {
        let turned: Vec<Arc<str>> = self
            .meetings
            .iter_mut()
            .filter_map(|(m, p)| p.tick(now).then(|| m.clone()))
            .collect();
        for meeting in turned {
            self.rewatch(&meeting, now);
        }
        self.render(None, now);
        if self.pictures.is_empty() {
            TICK_IDLE
        } else {
            TICK_COMPOSING
        }
    }

    /// The layout `viewer` chose, else its meeting's, else the
    /// installation's.
    fn layout_of(&self, viewer: &Viewer) -> Layout {
        let meeting = self.meetings.get(&viewer.meeting);
        viewer
            .layout
            .or(meeting.and_then(|m| m.settings.layout))
            .unwrap_or(self.default_layout)
    }

    /// Gives each viewer of `meeting` the picture it should see now.
    fn rewatch(&mut self, meeting: &Arc<str>, now: Instant) {
        let Some(presence) = self.meetings.get(meeting) else {
            return;
        };
        // Cameras (one per participant), and those without one who spoke.
        let mut candidates: Vec<Candidate> = Vec::new();
        let mut cameras: Vec<(&SourceId, &Source)> = self
            .sources
            .iter()
            .filter(|(_, s)| s.meeting == *meeting)
            .collect();
        cameras.sort_by_key(|(&id, _)| id);
        for (&id, source) in cameras {
            if !candidates
                .iter()
                .any(|c| c.participant == source.participant)
            {
                candidates.push(Candidate {
                    participant: &source.participant,
                    camera: Some(id),
                });
            }
        }
        for participant in self.roster.members(meeting) {
            let known = candidates.iter().any(|c| c.participant == participant);
            if !known && presence.has_spoken(participant) {
                candidates.push(Candidate {
                    participant,
                    camera: None,
                });
            }
        }
        let mut changes = Vec::new();
        for (&leg, viewer) in self.viewers.iter().filter(|(_, v)| v.meeting == *meeting) {
            let scene = presence.scene(self.layout_of(viewer), &candidates, &viewer.participant);
            viewer.shown.set(Some(scene.layout));
            let key = Some((meeting.clone(), scene)).filter(|(_, s)| !s.tiles.is_empty());
            if viewer.scene != key {
                changes.push((leg, key));
            }
        }
        for (leg, key) in changes {
            self.unwatch(leg);
            if let Some(key) = key {
                self.watch(leg, key, now);
            }
        }
    }

    /// Forgets `meeting`'s speakers and settings once nobody of it is
    /// left on this worker (its settings come again with the next join).
    fn forget_if_unused(&mut self, meeting: &str) {
        let unused = !self.viewers.values().any(|v| &*v.meeting == meeting)
            && !self.sources.values().any(|s| &*s.meeting == meeting)
            && self.roster.members(meeting).next().is_none();
        if unused {
            self.meetings.remove(meeting);
        }
    }

    /// Puts `leg` on the picture `key` (made, its cameras decoded, if it
    /// is new).
    fn watch(&mut self, leg: LegId, key: SceneKey, now: Instant) {
        let viewer = self.viewers.get_mut(&leg).expect("a viewer");
        if !self.pictures.contains_key(&key) {
            for tile in &key.1.tiles {
                if let Some(source) = camera(&mut self.sources, tile) {
                    source.pictures += 1;
                    source.start_decoding(now, &self.workers);
                }
            }
            self.pictures.insert(key.clone(), Composed::default());
        }
        let picture = self.pictures.get_mut(&key).expect("just made");
        if picture.add(&key, leg, viewer.output, &self.encoders) {
            viewer.scene = Some(key);
        } else if picture.is_empty() {
            self.drop_picture(&key);
        }
    }

    /// Takes `leg` off the picture it takes (ending the picture, and its
    /// cameras' decoding, when nobody else takes it).
    fn unwatch(&mut self, leg: LegId) {
        let Some(viewer) = self.viewers.get_mut(&leg) else {
            return;
        };
        let Some(key) = viewer.scene.take() else {
            return;
        };
        let Some(picture) = self.pictures.get_mut(&key) else {
            return;
        };
        picture.remove(&key.0, leg, viewer.output, &self.encoders);
        if picture.is_empty() {
            self.drop_picture(&key);
        }
    }

    fn drop_picture(&mut self, key: &SceneKey) {
        self.pictures.remove(key);
        for tile in &key.1.tiles {
            if let Some(source) = camera(&mut self.sources, tile) {
                source.pictures -= 1;
                source.stop_decoding_if_unused();
            }
        }
    }

    /// Composes and sends what is due: of every picture, or (`fresh`)
    /// of those showing a source that has a new frame.
    fn render(&mut self, fresh: Option<SourceId>, now: Instant) {
        let mut cx = RenderCx {
            sources: &mut self.sources,
            roster: &self.roster,
            cards: &mut self.cards,
            workers: &self.workers,
            millis: now.saturating_duration_since(self.epoch).as_millis() as u64,
            slowdown: self.slowdown,
        };
        for (key, picture) in self.pictures.iter_mut() {
            if let Some(id) = fresh {
                if !key.1.tiles.contains(&Shows::Camera(id)) {
                    continue;
                }
                picture.fresh = true;
            }
            picture.render(key, now, &mut cx);
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
            source.decoded();
            self.publish(id, now);
            self.render(Some(id), now);
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
}

/// The source a tile shows, if it shows a camera.
fn camera<'a>(sources: &'a mut HashMap<SourceId, Source>, tile: &Shows) -> Option<&'a mut Source> {
    match tile {
        Shows::Camera(id) => sources.get_mut(id),
        Shows::Card(_) => None,
    }
}

/// An encoded frame on its way to one room.
pub(crate) struct SentFrame {
    pub frame: Arc<EncodedFrame>,
    /// What the encoder makes.
    pub output: Output,
    /// How many rooms the encoder serves.
    pub sharing: usize,
}
