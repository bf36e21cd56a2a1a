//! The composed pictures of a video worker. Each distinct [`Scene`] of a
//! meeting is composed once per size rooms take it at (a **canvas**), and
//! encoded once per distinct [`Output`] (a **stream**), whose frames go
//! to every room taking it. A picture is composed when one of its cameras
//! has a new frame and a stream's frame is due (at most at the stream's
//! frame rate, less under load), and at least every 200 ms (so a picture
//! of name cards or still cameras is repeated and a room that lost a
//! packet recovers).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::warn;

use super::compose::{Composer, Shown};
use super::encode::{EncodedFrame, Output, VideoEncoder};
use super::encoder_count::EncoderCount;
use super::name_card::Cards;
use super::presence::{Scene, Shows};
use super::roster::Roster;
use super::router::{SentFrame, SourceId};
use super::source::Source;
use crate::engine::{Command, Workers};
use media_api::LegId;

/// A picture's meeting and scene.
pub(crate) type SceneKey = (Arc<str>, Scene);

/// The longest a picture goes without being sent again.
const REFRESH: Duration = Duration::from_millis(200);

/// One encoder and the rooms it serves.
struct Stream {
    output: Output,
    encoder: VideoEncoder,
    viewers: Vec<LegId>,
    last: Option<Instant>,
}

impl Stream {
    /// Whether its next frame is due at `now`, at its frame rate divided
    /// by `slowdown` (frames a little early still count, so 30 fps
    /// sources are not halved by jitter).
    fn due(&self, now: Instant, slowdown: u32) -> bool {
        let fps = self.output.mode.fps.max(1);
        let interval = Duration::from_millis(1000 * u64::from(slowdown.max(1)) / u64::from(fps));
        let due = interval.saturating_sub(Duration::from_millis(8));
        self.last
            .is_none_or(|last| now.saturating_duration_since(last) >= due)
    }
}

/// The picture at one size.
struct Canvas {
    size: (u32, u32),
    composer: Composer,
    streams: Vec<Stream>,
}

/// One distinct picture of a meeting.
#[derive(Default)]
pub(crate) struct Composed {
    canvases: Vec<Canvas>,
    /// A camera it shows has a frame it has not composed.
    pub fresh: bool,
    rendered: Option<Instant>,
}

/// What composing reads and who gets the frames.
pub(crate) struct RenderCx<'a> {
    pub sources: &'a mut HashMap<SourceId, Source>,
    pub roster: &'a Roster,
    pub cards: &'a mut Cards,
    pub workers: &'a Workers,
    /// Milliseconds since the worker started (the encoders' clock).
    pub millis: u64,
    /// Frame rates are divided by this (load shedding; 1 normally).
    pub slowdown: u32,
}

impl Composed {
    /// Takes `leg` as a room that wants `output`; false when no encoder
    /// could be made for it.
    pub fn add(
        &mut self,
        key: &SceneKey,
        leg: LegId,
        output: Output,
        count: &EncoderCount,
    ) -> bool {
        let size = (output.mode.width, output.mode.height);
        let at = match self.canvases.iter().position(|c| c.size == size) {
            Some(at) => at,
            None => {
                self.canvases.push(Canvas {
                    size,
                    composer: Composer::new(key.1.layout, size.0, size.1),
                    streams: Vec::new(),
                });
                self.canvases.len() - 1
            }
        };
        let canvas = &mut self.canvases[at];
        if let Some(stream) = canvas.streams.iter_mut().find(|s| s.output == output) {
            stream.viewers.push(leg);
            stream.encoder.want_keyframe();
            return true;
        }
        let encoder = match VideoEncoder::new(output) {
            Ok(encoder) => encoder,
            Err(e) => {
                warn!(leg = leg.0, "no encoder for {output:?}: {e}");
                if canvas.streams.is_empty() {
                    self.canvases.remove(at);
                }
                return false;
            }
        };
        count.started(&key.0);
        canvas.streams.push(Stream {
            output,
            encoder,
            viewers: vec![leg],
            last: None,
        });
        self.fresh = true;
        true
    }

    /// Lets `leg` go (ending its stream, and canvas, when nobody else
    /// takes it).
    pub fn remove(&mut self, meeting: &str, leg: LegId, output: Output, count: &EncoderCount) {
        let size = (output.mode.width, output.mode.height);
        let Some(at) = self.canvases.iter().position(|c| c.size == size) else {
            return;
        };
        let canvas = &mut self.canvases[at];
        for stream in canvas.streams.iter_mut().filter(|s| s.output == output) {
            stream.viewers.retain(|&l| l != leg);
        }
        let before = canvas.streams.len();
        canvas.streams.retain(|s| !s.viewers.is_empty());
        for _ in canvas.streams.len()..before {
            count.stopped(meeting);
        }
        if canvas.streams.is_empty() {
            self.canvases.remove(at);
        }
    }

    /// Whether no room takes it.
    pub fn is_empty(&self) -> bool {
        self.canvases.is_empty()
    }

    /// The next frame of `output` is a keyframe.
    pub fn want_keyframe(&mut self, output: Output) {
        let streams = self.canvases.iter_mut().flat_map(|c| c.streams.iter_mut());
        for stream in streams.filter(|s| s.output == output) {
            stream.encoder.want_keyframe();
        }
    }

    /// Composes and sends whatever is due at `now`.
    pub fn render(&mut self, key: &SceneKey, now: Instant, cx: &mut RenderCx) {
        let refresh = self
            .rendered
            .is_none_or(|at| now.saturating_duration_since(at) >= REFRESH);
        if !self.fresh && !refresh {
            return;
        }
        let (meeting, scene) = key;
        let mut rendered = false;
        for canvas in &mut self.canvases {
            let slowdown = cx.slowdown;
            let due = |s: &Stream| refresh || s.due(now, slowdown);
            if !canvas.streams.iter().any(due) {
                continue;
            }
            let picture = match compose(meeting, scene, &mut canvas.composer, cx) {
                Ok(picture) => picture,
                Err(e) => {
                    warn!(%meeting, "composing: {e}");
                    continue;
                }
            };
            rendered = true;
            for stream in canvas.streams.iter_mut().filter(|s| due(s)) {
                stream.last = Some(now);
                match stream.encoder.encode(picture, cx.millis) {
                    Ok(Some(frame)) => send(cx.workers, stream, Arc::new(frame)),
                    Ok(None) => {}
                    Err(e) => warn!("encoding: {e}"),
                }
            }
        }
        if rendered {
            self.fresh = false;
            self.rendered = Some(now);
        }
    }
}

/// `scene` composed by `composer`: each camera scaled to its tile (once
/// per size, whatever the pictures showing it), each card drawn once.
fn compose<'c>(
    meeting: &Arc<str>,
    scene: &Scene,
    composer: &'c mut Composer,
    cx: &mut RenderCx,
) -> Result<&'c super::picture::Picture, ffmpeg_next::Error> {
    for (i, tile) in scene.tiles.iter().enumerate() {
        let size = composer.tile_size(i);
        match tile {
            Shows::Camera(id) => {
                if let Some(source) = cx.sources.get_mut(id) {
                    source.scale_to(size);
                }
            }
            Shows::Card(participant) => {
                let name = cx.roster.get(meeting, participant).map_or("", |m| &m.name);
                cx.cards.draw(meeting, participant, name, size);
            }
        }
    }
    let (sources, roster, cards) = (&*cx.sources, cx.roster, &*cx.cards);
    let shown: Vec<Option<Shown>> = scene
        .tiles
        .iter()
        .enumerate()
        .map(|(i, tile)| {
            let size = composer.tile_size(i);
            Some(match tile {
                Shows::Camera(id) => {
                    let source = sources.get(id)?;
                    let member = roster.get(meeting, &source.participant);
                    Shown {
                        picture: source.scaled(size),
                        name: member.map_or("", |m| &m.name),
                        muted: member.is_some_and(|m| m.muted),
                    }
                }
                Shows::Card(participant) => Shown {
                    picture: cards.get(meeting, participant, size),
                    name: "",
                    muted: roster.get(meeting, participant).is_some_and(|m| m.muted),
                },
            })
        })
        .collect();
    composer.compose(&shown)
}

/// Sends a stream's encoded frame to each of its rooms.
fn send(workers: &Workers, stream: &Stream, frame: Arc<EncodedFrame>) {
    let sharing = stream.viewers.len();
    for &leg in &stream.viewers {
        let sent = SentFrame {
            frame: frame.clone(),
            output: stream.output,
            sharing,
        };
        workers.leg(leg, Command::SendVideo(leg, sent));
    }
}
