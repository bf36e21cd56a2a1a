//! [`RtpEngine`]: the in-process media node behind [`MediaControl`]. Each
//! leg has an RTP/RTCP socket pair per stream (audio, and video if asked), read by the media worker that holds
//! the leg when the sockets become readable (no task per leg); legs of a
//! meeting reach it through the meeting's one hub on this node
//! ([`crate::hub`]); media workers (one per core by default) receive,
//! decode, mix, play prompts and encode, each for the meetings hashed to
//! it.

pub(crate) mod inbound;
mod leg;
mod meeting_mix;
pub(crate) mod publisher;
pub(crate) mod receive;
mod sender;
mod stats_board;
pub(crate) mod stream;
mod worker;

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};

use tokio::sync::mpsc;

use self::receive::{LegState, Shared};
use self::stats_board::StatsBoard;
use crate::dtls::DtlsIdentity;
use crate::hub::{self, HubCommand};
use crate::params::AudioParams;
use crate::ports::{PortAllocator, PortRange};
use crate::video::{
    PublishVideo, SentFrame, VideoCommand, VideoLeg, VideoParams, VideoQueue, VideoWorkers,
};
use media_api::layout::{Layout, LayoutChange, MeetingLayout};
use media_api::{
    BoundStream, Crypto, LegId, LegMedia, LegRequest, LegStats, MediaControl, MediaError,
    MediaEvent, MediaFuture, MeetingJoin, Prompt, StreamKind, VideoCodec,
};
use meeting::MeetingService;

/// Requests to a media worker.
pub(crate) enum Command {
    Add {
        id: LegId,
        shared: Shared,
        rtp: std::net::UdpSocket,
        rtcp: std::net::UdpSocket,
        ssrc: u32,
        video: Option<Box<VideoLeg>>,
    },
    /// A leg moving in from its home worker.
    Adopt(LegId, Box<leg::Leg>),
    Configure(LegId, AudioParams),
    /// The leg's video, as negotiated (None: no video agreed).
    /// A leg's video parameters and the stream's SRTP keys.
    ConfigureVideo(LegId, Option<VideoParams>, Option<Crypto>),
    /// The room is asked for a keyframe of its camera (the video
    /// worker's picture of it broke).
    KeyframeWanted(LegId),
    /// The meeting wants a keyframe of the room's published camera.
    PublishedKeyframeWanted(LegId),
    /// The room wants a keyframe of its picture.
    SendKeyframe(LegId),
    Remove(LegId),
    /// The leg is participant `participant` of `meeting`: publish to, and
    /// mix for, it.
    Bridge {
        leg: LegId,
        meeting: String,
        participant: String,
        publish: publisher::PublishTo,
        /// The meeting's video worker.
        video: VideoQueue,
        /// The room's own layout.
        layout: Option<Layout>,
    },
    /// A frame of the meeting's picture for the room.
    SendVideo(LegId, SentFrame),
    /// Where the room's camera goes in its meeting (None: nowhere).
    PublishVideo(LegId, Option<PublishVideo>),
    Unbridge(LegId),
    /// A remote participant's audio for a meeting.
    AddStream(String, Box<stream::MeetingStream>),
    RemoveStream(String, u64),
    Play(LegId, Prompt),
    Mute(LegId, bool),
    SendDigit(LegId, char),
}

impl Command {
    /// The leg a command is about, if it is about one.
    fn leg(&self) -> Option<LegId> {
        match self {
            Command::Add { id, .. } | Command::Adopt(id, _) => Some(*id),
            Command::Configure(id, _)
            | Command::ConfigureVideo(id, ..)
            | Command::KeyframeWanted(id)
            | Command::PublishedKeyframeWanted(id)
            | Command::SendKeyframe(id)
            | Command::PublishVideo(id, _)
            | Command::SendVideo(id, _)
            | Command::Remove(id)
            | Command::Unbridge(id)
            | Command::Play(id, _)
            | Command::Mute(id, _)
            | Command::SendDigit(id, _) => Some(*id),
            Command::Bridge { leg, .. } => Some(*leg),
            Command::AddStream(..) | Command::RemoveStream(..) => None,
        }
    }
}

/// One worker's queue, and the waker that interrupts its poll.
struct Queue {
    commands: std_mpsc::Sender<Command>,
    waker: mio::Waker,
}

/// The media workers' queues: a leg's commands go to its home worker
/// (which forwards them if the leg moved), a meeting's to the worker the
/// meeting hashes to.
#[derive(Clone)]
pub(crate) struct Workers {
    queues: Arc<[Queue]>,
}

impl Workers {
    /// Sends a command about `leg` (false once the workers are gone).
    pub fn leg(&self, leg: LegId, command: Command) -> bool {
        let home = (leg.0 % self.queues.len() as u64) as usize;
        self.to(home, command)
    }

    /// Sends a command about `meeting`.
    pub fn meeting(&self, meeting: &str, command: Command) -> bool {
        self.to(self.of_meeting(meeting), command)
    }

    /// The worker that mixes `meeting`.
    pub fn of_meeting(&self, meeting: &str) -> usize {
        let mut h = DefaultHasher::new();
        meeting.hash(&mut h);
        (h.finish() % self.queues.len() as u64) as usize
    }

    fn to(&self, worker: usize, command: Command) -> bool {
        let queue = &self.queues[worker];
        let sent = queue.commands.send(command).is_ok();
        if sent {
            let _ = queue.waker.wake();
        }
        sent
    }
}

struct Leg {
    state: Shared,
    /// The meeting whose hub carries it.
    meeting: Option<String>,
    /// The codec its camera is published in, once agreed (the hub
    /// publishes it).
    video: Option<VideoCodec>,
}

/// A meeting's hub on this node: its queue and how many legs it carries
/// (dropping the queue with the last leg ends the hub).
struct HubHandle {
    commands: mpsc::UnboundedSender<HubCommand>,
    legs: usize,
}

/// Where rooms meet: the meeting service hubs open gateway sessions with,
/// and the address their WebRTC media uses.
pub struct MeetingLink {
    pub service: Arc<dyn MeetingService>,
    pub rtc_ip: IpAddr,
    /// The installation's layout for the pictures rooms are sent.
    pub layout: Layout,
}

/// What the engine carries right now.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct EngineCounts {
    pub legs: usize,
    /// Meetings with a hub (one gateway session each) on this node.
    pub meeting_hubs: usize,
    /// Peer connections the hubs hold towards the meeting service.
    pub peer_connections: u64,
    pub workers: usize,
    /// Video encoders running (one per distinct picture and output).
    pub video_encoders: u64,
    /// Video packets and commands dropped because a video worker was behind.
    pub video_dropped: u64,
    /// What the busiest video worker divides frame rates by (1: none).
    pub video_slowdown: u32,
}

/// Media legs served from this process.
pub struct RtpEngine {
    range: PortRange,
    ports: PortAllocator,
    legs: Mutex<HashMap<LegId, Leg>>,
    hubs: Mutex<HashMap<String, HubHandle>>,
    events: mpsc::UnboundedSender<MediaEvent>,
    workers: Workers,
    video: VideoWorkers,
    meetings: MeetingLink,
    peer_connections: Arc<AtomicU64>,
    stats: Arc<StatsBoard>,
    /// The certificate DTLS-SRTP handshakes show.
    dtls: Arc<DtlsIdentity>,
}

impl RtpEngine {
    /// Creates the engine and starts `workers` media threads (at least
    /// one); leg events go to `events`; legs join meetings through
    /// `meetings`.
    pub fn new(
        range: PortRange,
        events: mpsc::UnboundedSender<MediaEvent>,
        meetings: MeetingLink,
        workers: usize,
    ) -> Arc<RtpEngine> {
        let mut queues = Vec::new();
        let mut ends = Vec::new();
        for _ in 0..workers.max(1) {
            let poll = mio::Poll::new().expect("a poll for a media worker");
            let waker = mio::Waker::new(poll.registry(), worker::WAKE).expect("a waker");
            let (commands, rx) = std_mpsc::channel();
            queues.push(Queue { commands, waker });
            ends.push((poll, rx));
        }
        let workers = Workers {
            queues: queues.into(),
        };
        let video = VideoWorkers::start(workers.queues.len(), &workers, meetings.layout);
        let stats = Arc::new(StatsBoard::default());
        let dtls = Arc::new(DtlsIdentity::generate().expect("a certificate for DTLS-SRTP"));
        for (i, (poll, rx)) in ends.into_iter().enumerate() {
            let worker = worker::Worker::new(
                i,
                poll,
                workers.clone(),
                events.clone(),
                stats.clone(),
                dtls.clone(),
            );
            std::thread::Builder::new()
                .name(format!("mra-media-{i}"))
                .spawn(move || worker.run(rx))
                .expect("spawn media thread");
        }
        Arc::new(RtpEngine {
            range,
            ports: PortAllocator::new(range),
            legs: Mutex::new(HashMap::new()),
            hubs: Mutex::new(HashMap::new()),
            events,
            workers,
            video,
            meetings,
            peer_connections: Arc::default(),
            stats,
            dtls,
        })
    }

    /// What the engine carries now (read without asking the workers).
    pub fn counts(&self) -> EngineCounts {
        EngineCounts {
            legs: self.legs.lock().expect("legs lock").len(),
            meeting_hubs: self.hubs.lock().expect("hubs lock").len(),
            peer_connections: self.peer_connections.load(Ordering::Relaxed),
            workers: self.workers.queues.len(),
            video_encoders: self.video.encoders(),
            video_dropped: self.video.dropped(),
            video_slowdown: self.video.slowdown(),
        }
    }

    /// Video encoders running, by meeting.
    pub fn encoders_by_meeting(&self) -> Vec<(String, u64)> {
        self.video.encoders_by_meeting()
    }

    fn command(&self, leg: LegId, c: Command) {
        self.workers.leg(leg, c);
    }

    fn known(&self, id: LegId) -> Result<(), MediaError> {
        if self.legs.lock().expect("legs lock").contains_key(&id) {
            Ok(())
        } else {
            Err(MediaError::UnknownLeg(id))
        }
    }

    /// Sends `command` to the hub of `meeting`, starting the hub if need be.
    fn to_hub(&self, meeting: &str, command: HubCommand) {
        let mut hubs = self.hubs.lock().expect("hubs lock");
        let live = hubs.get(meeting).is_some_and(|h| !h.commands.is_closed());
        if !live {
            let (commands, rx) = mpsc::unbounded_channel();
            let cx = hub::Context {
                service: self.meetings.service.clone(),
                rtc_ip: self.meetings.rtc_ip,
                workers: self.workers.clone(),
                video: self.video.clone(),
                events: self.events.clone(),
                peer_connections: self.peer_connections.clone(),
            };
            tokio::spawn(hub::run(meeting.to_owned(), rx, cx));
            hubs.insert(meeting.to_owned(), HubHandle { commands, legs: 0 });
        }
        let hub = hubs.get_mut(meeting).expect("just made");
        if matches!(command, HubCommand::Add(..)) {
            hub.legs += 1;
        }
        let _ = hub.commands.send(command);
    }

    /// Takes `leg` out of the hub of `meeting`; the last leg out ends it.
    fn leave_hub(&self, meeting: &str, leg: LegId) {
        let mut hubs = self.hubs.lock().expect("hubs lock");
        let Some(hub) = hubs.get_mut(meeting) else {
            return;
        };
        let _ = hub.commands.send(HubCommand::Remove(leg));
        hub.legs = hub.legs.saturating_sub(1);
        if hub.legs == 0 {
            hubs.remove(meeting);
        }
    }
}

impl MediaControl for RtpEngine {
    fn create_leg(&self, id: LegId, request: LegRequest) -> MediaFuture<'_, Vec<BoundStream>> {
        Box::pin(async move {
            let kinds: Vec<StreamKind> = request.streams.iter().map(|s| s.kind).collect();
            if kinds.first() != Some(&StreamKind::Audio) || kinds.contains(&StreamKind::Content) {
                return Err(MediaError::Unsupported(
                    "content streams, or a leg without audio",
                ));
            }
            let pair = || -> Result<_, MediaError> {
                let (rtp, rtcp) = self
                    .ports
                    .bind_pair(request.ip)
                    .ok_or(MediaError::NoPorts(self.range.to_string()))?;
                rtp.set_nonblocking(true)?;
                rtcp.set_nonblocking(true)?;
                Ok((rtp, rtcp))
            };
            let bound = |kind, rtp: &std::net::UdpSocket, rtcp: &std::net::UdpSocket| {
                Ok::<_, MediaError>(BoundStream {
                    kind,
                    rtp: rtp.local_addr()?,
                    rtcp: rtcp.local_addr()?,
                    dtls_fingerprint: Some(self.dtls.fingerprint()),
                })
            };
            let (rtp, rtcp) = pair()?;
            let mut streams = vec![bound(StreamKind::Audio, &rtp, &rtcp)?];
            let video = match kinds.contains(&StreamKind::Video) {
                true => {
                    let (vrtp, vrtcp) = pair()?;
                    streams.push(bound(StreamKind::Video, &vrtp, &vrtcp)?);
                    Some(Box::new(VideoLeg::new(vrtp, vrtcp, rand::random())))
                }
                false => None,
            };
            let ssrc = rand::random();
            let state: Shared = Arc::new(Mutex::new(LegState::new(ssrc)));
            self.command(
                id,
                Command::Add {
                    id,
                    shared: state.clone(),
                    rtp,
                    rtcp,
                    ssrc,
                    video,
                },
            );
            let leg = Leg {
                state,
                meeting: None,
                video: None,
            };
            let old = self.legs.lock().expect("legs lock").insert(id, leg);
            if let Some(meeting) = old.and_then(|mut l| l.meeting.take()) {
                self.leave_hub(&meeting, id);
            }
            Ok(streams)
        })
    }

    fn configure_leg(&self, id: LegId, media: LegMedia) -> MediaFuture<'_, ()> {
        Box::pin(async move {
            let video = VideoParams::of(&media);
            let video_crypto = media.video().and_then(|(s, _)| s.crypto.clone());
            let Some(media) = AudioParams::of(&media) else {
                return Err(MediaError::Unsupported("a leg without audio"));
            };
            let camera_changed = {
                let mut legs = self.legs.lock().expect("legs lock");
                let leg = legs.get_mut(&id).ok_or(MediaError::UnknownLeg(id))?;
                leg.state
                    .lock()
                    .expect("leg state")
                    .configure(media.clone())
                    .map_err(MediaError::Keys)?;
                let codec = video
                    .filter(VideoParams::receives)
                    .map(|v| v.format.published_codec());
                let changed = std::mem::replace(&mut leg.video, codec) != codec;
                leg.meeting.clone().filter(|_| changed).map(|m| (m, codec))
            };
            self.command(id, Command::Configure(id, media));
            self.command(id, Command::ConfigureVideo(id, video, video_crypto));
            if let Some((meeting, codec)) = camera_changed {
                self.to_hub(&meeting, HubCommand::Camera(id, codec));
            }
            Ok(())
        })
    }

    fn destroy_leg(&self, id: LegId) -> MediaFuture<'_, ()> {
        Box::pin(async move {
            let leg = self.legs.lock().expect("legs lock").remove(&id);
            if let Some(meeting) = leg.and_then(|mut l| l.meeting.take()) {
                self.leave_hub(&meeting, id);
            }
            self.command(id, Command::Remove(id));
            Ok(())
        })
    }

    fn join_meeting(&self, id: LegId, join: MeetingJoin) -> MediaFuture<'_, ()> {
        Box::pin(async move {
            let (previous, video) = {
                let mut legs = self.legs.lock().expect("legs lock");
                let leg = legs.get_mut(&id).ok_or(MediaError::UnknownLeg(id))?;
                (leg.meeting.replace(join.meeting.clone()), leg.video)
            };
            if let Some(previous) = previous {
                self.leave_hub(&previous, id);
                self.command(id, Command::Unbridge(id));
            }
            let meeting = join.meeting.clone();
            if let Some(settings) = join.meeting_layout {
                let settings = VideoCommand::MeetingLayout(meeting.as_str().into(), settings);
                self.video.of_meeting(&meeting).send(settings);
            }
            self.to_hub(&meeting, HubCommand::Add(id, join, video));
            Ok(())
        })
    }

    fn play(&self, id: LegId, prompt: Prompt) -> MediaFuture<'_, ()> {
        Box::pin(async move {
            self.known(id)?;
            self.command(id, Command::Play(id, prompt));
            Ok(())
        })
    }

    fn set_muted(&self, id: LegId, muted: bool) -> MediaFuture<'_, ()> {
        Box::pin(async move {
            let meeting = {
                let legs = self.legs.lock().expect("legs lock");
                let leg = legs.get(&id).ok_or(MediaError::UnknownLeg(id))?;
                leg.meeting.clone()
            };
            if let Some(meeting) = meeting {
                self.to_hub(&meeting, HubCommand::Mute(id, muted));
            }
            self.command(id, Command::Mute(id, muted));
            Ok(())
        })
    }

    fn set_layout(&self, id: LegId, change: LayoutChange) -> MediaFuture<'_, ()> {
        Box::pin(async move {
            let meeting = {
                let legs = self.legs.lock().expect("legs lock");
                let leg = legs.get(&id).ok_or(MediaError::UnknownLeg(id))?;
                leg.meeting.clone()
            };
            let meeting = meeting.ok_or(MediaError::Unsupported("not in a meeting"))?;
            let command = VideoCommand::Layout(id, change);
            self.video.of_meeting(&meeting).send(command);
            Ok(())
        })
    }

    fn set_meeting_layout(&self, meeting: String, layout: MeetingLayout) -> MediaFuture<'_, ()> {
        Box::pin(async move {
            let command = VideoCommand::MeetingLayout(meeting.as_str().into(), layout);
            self.video.of_meeting(&meeting).send(command);
            Ok(())
        })
    }

    fn send_digit(&self, id: LegId, digit: char) -> MediaFuture<'_, ()> {
        Box::pin(async move {
            self.known(id)?;
            self.command(id, Command::SendDigit(id, digit));
            Ok(())
        })
    }

    fn send_keyframe(&self, id: LegId) -> MediaFuture<'_, ()> {
        Box::pin(async move {
            self.known(id)?;
            self.command(id, Command::SendKeyframe(id));
            Ok(())
        })
    }

    fn stats(&self, id: LegId) -> MediaFuture<'_, LegStats> {
        let stats = self.stats.get(id).ok_or(MediaError::UnknownLeg(id));
        Box::pin(std::future::ready(stats))
    }
}
