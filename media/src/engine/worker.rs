//! A media worker thread. Meetings are spread over the workers, each
//! meeting on one (with all its local rooms, so mixing takes no locks);
//! a leg starts on its home worker and moves to its meeting's worker when
//! it joins (its home forwards later commands). The worker waits on one
//! poll for its legs' sockets and its command queue: a readable socket is
//! read at once into the leg's jitter buffer (no task per leg, no thread
//! hop). Every 20 ms a worker
//! decodes each leg's next frame from its jitter buffer, detects in-band
//! key tones in the IVR, encodes each bridged room's audio for the meeting,
//! decodes each remote participant once and mixes mix-minus per room (see
//! [`MeetingMix`]), and encodes and sends each leg's frame — a prompt while
//! one is playing; five times a second it publishes its legs' statistics
//! for the admin API. Codec work stays here, off the async runtime; no
//! allocation per frame once legs are set up, except the packet the
//! WebRTC track takes.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};

use super::leg::{Bridge, Leg};
use super::meeting_mix::{Contribution, MeetingMix};
use super::publisher::Publisher;
use super::receive::{self, Received};
use super::stats_board::{StatsBoard, PUBLISH_EVERY};
use super::{Command, Workers};
use crate::audio::{new_codec, Frame, FRAME};
use crate::dtls::{DtlsIdentity, DtlsStream, Ports};
use crate::video::VideoRoute;
use media_api::{LegId, MediaEvent};

const TICK: Duration = Duration::from_millis(20);

/// The poll token of the worker's command queue; a leg's sockets use
/// [`token`].
pub(crate) const WAKE: Token = Token(usize::MAX);

/// The poll token of a leg's audio or video RTP (or RTCP) socket.
fn token(leg: LegId, video: bool, rtcp: bool) -> Token {
    Token((leg.0 as usize) << 2 | usize::from(video) << 1 | usize::from(rtcp))
}

/// The leg and socket a token names: (leg, video, rtcp).
fn leg_of(token: Token) -> (LegId, bool, bool) {
    (
        LegId((token.0 >> 2) as u64),
        token.0 & 2 == 2,
        token.0 & 1 == 1,
    )
}

pub(crate) struct Worker {
    index: usize,
    poll: Poll,
    /// One datagram being read.
    buf: Box<[u8; 2048]>,
    workers: Workers,
    legs: HashMap<LegId, Leg>,
    /// Legs whose home is here that now live on another worker.
    moved: HashMap<LegId, usize>,
    meetings: HashMap<String, MeetingMix>,
    events: UnboundedSender<MediaEvent>,
    stats: Arc<StatsBoard>,
    /// Ticks until the legs' statistics are published again.
    until_publish: u32,
    /// The certificate DTLS-SRTP handshakes show.
    dtls: Arc<DtlsIdentity>,
}

impl Worker {
    pub fn new(
        index: usize,
        poll: Poll,
        workers: Workers,
        events: UnboundedSender<MediaEvent>,
        stats: Arc<StatsBoard>,
        dtls: Arc<DtlsIdentity>,
    ) -> Worker {
        Worker {
            index,
            poll,
            buf: Box::new([0; 2048]),
            workers,
            legs: HashMap::new(),
            moved: HashMap::new(),
            meetings: HashMap::new(),
            events,
            stats,
            until_publish: 0,
            dtls,
        }
    }

    /// Runs until every command sender is gone.
    pub fn run(mut self, commands: Receiver<Command>) {
        let mut events = Events::with_capacity(256);
        let mut next = Instant::now() + TICK;
        loop {
            loop {
                match commands.try_recv() {
                    Ok(c) => self.command(c),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            let now = Instant::now();
            if now >= next {
                self.tick(now);
                next += TICK;
                if now > next + 5 * TICK {
                    next = now + TICK; // fell behind: do not burst to catch up
                }
            }
            let wait = next.saturating_duration_since(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, Some(wait)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    warn!(error = %e, "media worker poll failed");
                }
                continue;
            }
            for event in events.iter() {
                if event.token() != WAKE {
                    self.readable(event.token());
                }
            }
        }
    }

    /// Reads what waits on the socket `token` names.
    fn readable(&mut self, token: Token) {
        let (id, video, rtcp) = leg_of(token);
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        if video {
            if let Some(video) = leg.video.as_mut() {
                video.drain(id, rtcp, &mut self.buf[..]);
            }
            return;
        }
        let socket = if rtcp { &leg.rtcp } else { &leg.rtp };
        let (prompts, events) = (&mut leg.prompts, &self.events);
        let (dtls, sender, shared) = (&mut leg.dtls, &mut leg.sender, &leg.shared);
        receive::drain(
            id,
            socket,
            rtcp,
            &mut self.buf[..],
            shared,
            &mut leg.digits,
            |received| match received {
                Received::Digit(digit) => {
                    prompts.clear();
                    let _ = events.send(MediaEvent::Dtmf { leg: id, digit });
                }
                Received::Dtls(record, from) => {
                    let Some(dtls) = dtls.as_mut() else { return };
                    let keys = dtls.on_record(id.0, rtcp, record, from, socket, Instant::now());
                    if let Some(keys) = keys {
                        let mut st = shared.lock().expect("leg state");
                        keys.install(&mut sender.protection, &mut st.srtp);
                    }
                }
            },
        );
    }

    /// Puts a leg's sockets on this worker's poll, and reads what waited.
    fn register(&mut self, id: LegId, leg: Leg) {
        let mut tokens = Vec::with_capacity(4);
        for (socket, video, rtcp) in leg.sockets() {
            let fd = socket.as_raw_fd();
            let registry = self.poll.registry();
            let t = token(id, video, rtcp);
            tokens.push(t);
            if let Err(e) = registry.register(&mut SourceFd(&fd), t, Interest::READABLE) {
                warn!(leg = id.0, error = %e, "cannot poll the leg's socket");
            }
        }
        if let Some(old) = self.legs.insert(id, leg) {
            self.deregister(&old);
        }
        for t in tokens {
            self.readable(t);
        }
    }

    /// Takes a leg's sockets off this worker's poll.
    fn deregister(&self, leg: &Leg) {
        for (socket, ..) in leg.sockets() {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&socket.as_raw_fd()));
        }
    }

    fn command(&mut self, command: Command) {
        if let Some(leg) = command.leg() {
            if let Some(&to) = self.moved.get(&leg) {
                if matches!(command, Command::Remove(_)) {
                    self.moved.remove(&leg);
                }
                self.workers.to(to, command);
                return;
            }
        }
        match command {
            Command::Add {
                id,
                shared,
                rtp,
                rtcp,
                ssrc,
                video,
            } => self.register(id, Leg::new(shared, rtp, rtcp, ssrc, video)),
            Command::Adopt(id, leg) => self.register(id, *leg),
            Command::Configure(id, media) => {
                let Some(leg) = self.legs.get_mut(&id) else {
                    return;
                };
                let same_codec = leg
                    .media
                    .as_ref()
                    .is_some_and(|m| m.codec == media.codec && m.options == media.options);
                if !same_codec {
                    match new_codec(media.codec, media.options) {
                        Ok(c) => leg.codec = Some(c),
                        Err(e) => warn!(leg = id.0, error = %e, "codec unavailable"),
                    }
                    leg.decoder.clear();
                }
                leg.sender.protection.set(media.crypto.as_ref());
                let ports = Ports {
                    rtp: &leg.rtp,
                    rtcp: &leg.rtcp,
                    remote_rtp: media.remote_rtp,
                    remote_rtcp: media.remote_rtcp,
                    mux: media.rtcp_mux,
                };
                let crypto = media.crypto.as_ref();
                DtlsStream::configure(
                    &mut leg.dtls,
                    id.0,
                    &self.dtls,
                    crypto,
                    ports,
                    Instant::now(),
                );
                leg.media = Some(media);
                let audio_hz = leg.audio_hz();
                if let Some(bridge) = leg.bridge.as_mut() {
                    bridge.publisher.set_audio_hz(audio_hz);
                }
            }
            Command::ConfigureVideo(id, params, crypto) => {
                let video = self.legs.get_mut(&id).and_then(|l| l.video.as_mut());
                if let Some(video) = video {
                    video.configure(id, params, crypto.as_ref(), &self.dtls);
                }
            }
            Command::KeyframeWanted(id) => {
                let video = self.legs.get_mut(&id).and_then(|l| l.video.as_mut());
                if let Some(video) = video {
                    video.keyframe_wanted(id, Instant::now(), &self.events);
                }
            }
            Command::PublishedKeyframeWanted(id) => {
                let video = self.legs.get_mut(&id).and_then(|l| l.video.as_mut());
                if let Some(video) = video {
                    video.published_keyframe_wanted(id, Instant::now(), &self.events);
                }
            }
            Command::SendKeyframe(id) => {
                if let Some(video) = self.legs.get_mut(&id).and_then(|l| l.video.as_mut()) {
                    video.keyframe_asked(id);
                }
            }
            Command::Remove(id) => {
                if let Some(mut leg) = self.legs.remove(&id) {
                    if let Some(v) = leg.video.as_mut() {
                        v.route(id, None);
                    }
                    self.deregister(&leg);
                    self.unbridge(id, leg.bridge);
                    self.stats.forget(id);
                }
            }
            Command::Bridge {
                leg: id,
                meeting,
                participant,
                publish,
                video,
                layout,
            } => {
                let home = self.workers.of_meeting(&meeting);
                if home != self.index {
                    // The meeting lives on another worker: the leg goes there.
                    let Some(leg) = self.legs.remove(&id) else {
                        return;
                    };
                    self.deregister(&leg);
                    self.moved.insert(id, home);
                    self.workers.to(home, Command::Adopt(id, Box::new(leg)));
                    let bridge = Command::Bridge {
                        leg: id,
                        meeting,
                        participant,
                        publish,
                        video,
                        layout,
                    };
                    self.workers.to(home, bridge);
                    return;
                }
                let old = self.legs.get_mut(&id).and_then(|l| l.bridge.take());
                self.unbridge(id, old);
                let Some(leg) = self.legs.get_mut(&id) else {
                    return;
                };
                let video_queue = video.clone();
                if let Some(v) = leg.video.as_mut() {
                    let route = VideoRoute {
                        queue: video,
                        meeting: meeting.as_str().into(),
                        participant: participant.clone(),
                        layout,
                    };
                    v.route(id, Some(route));
                }
                let Some(publisher) = Publisher::new(id, publish, leg.audio_hz()) else {
                    return warn!(leg = id.0, "no Opus encoder");
                };
                let mix = self.meetings.entry(meeting.clone()).or_default();
                mix.add_room(id, participant);
                mix.video = Some(video_queue);
                leg.bridge = Some(Bridge {
                    meeting,
                    publisher,
                    speaker: Default::default(),
                });
            }
            Command::PublishVideo(id, to) => {
                let video = self.legs.get_mut(&id).and_then(|l| l.video.as_mut());
                if let Some(video) = video {
                    video.publish(id, to);
                }
            }
            Command::SendVideo(id, frame) => {
                let video = self.legs.get_mut(&id).and_then(|l| l.video.as_mut());
                if let Some(video) = video {
                    video.send_frame(&frame);
                }
            }
            Command::Unbridge(id) => {
                let leg = self.legs.get_mut(&id);
                let bridge = leg.and_then(|l| {
                    if let Some(v) = l.video.as_mut() {
                        v.publish(id, None);
                        v.route(id, None);
                    }
                    l.bridge.take()
                });
                self.unbridge(id, bridge);
            }
            Command::AddStream(meeting, stream) => {
                self.meetings
                    .entry(meeting)
                    .or_default()
                    .add_stream(*stream);
            }
            Command::RemoveStream(meeting, id) => {
                if let Some(mix) = self.meetings.get_mut(&meeting) {
                    mix.remove_stream(id);
                    if mix.is_empty() {
                        self.meetings.remove(&meeting);
                    }
                }
            }
            Command::Play(id, prompt) => {
                if let Some(leg) = self.legs.get_mut(&id) {
                    leg.prompts.queue(prompt);
                }
            }
            Command::Mute(id, muted) => {
                if let Some(leg) = self.legs.get_mut(&id) {
                    leg.muted = muted;
                }
            }
            Command::SendDigit(id, digit) => {
                if let Some(leg) = self.legs.get_mut(&id) {
                    leg.sender.queue_digit(digit);
                }
            }
        }
    }

    /// Takes a leg out of its meeting's mix.
    fn unbridge(&mut self, id: LegId, bridge: Option<Bridge>) {
        let Some(bridge) = bridge else { return };
        if let Some(mix) = self.meetings.get_mut(&bridge.meeting) {
            mix.remove_room(id);
            if mix.is_empty() {
                self.meetings.remove(&bridge.meeting);
            }
        }
    }

    fn tick(&mut self, now: Instant) {
        for (&id, leg) in self.legs.iter_mut() {
            leg.pull(now);
            let contributes = leg.contributes();
            match leg.bridge.as_mut() {
                Some(bridge) => {
                    let frame = if contributes { &leg.input } else { &SILENCE };
                    bridge.publisher.publish(frame);
                }
                None if leg.heard => {
                    if let Some(digit) = leg.tones.on_frame(&leg.input) {
                        info!(leg = id.0, %digit, "in-band DTMF digit");
                        leg.prompts.clear();
                        let _ = self.events.send(MediaEvent::Dtmf { leg: id, digit });
                    }
                }
                None => {}
            }
        }
        let legs = &self.legs;
        for (meeting, mix) in self.meetings.iter_mut() {
            mix.prepare(now, |id| {
                let leg = legs.get(&id).filter(|l| l.contributes())?;
                Some(Contribution {
                    frame: &leg.input,
                    level: leg.level,
                })
            });
            mix.tell_speaker(meeting);
        }
        for (&id, leg) in self.legs.iter_mut() {
            leg.output.fill(0);
            let contributes = leg.contributes();
            if let Some(bridge) = leg.bridge.as_mut() {
                if let Some(mix) = self.meetings.get_mut(&bridge.meeting) {
                    let own = contributes.then_some(&leg.input);
                    let heard = mix.hear(id, own, &mut bridge.speaker, &mut leg.output);
                    if let Some(participant) = heard {
                        let _ = self.events.send(MediaEvent::ActiveSpeaker {
                            leg: id,
                            participant: participant.to_owned(),
                        });
                    }
                    leg.hears = mix.heard_by_a_room();
                }
            }
            if leg.prompts.is_playing() {
                leg.prompts.next_frame(&mut leg.output);
            }
            leg.push();
            leg.send_rtcp(now);
            if let Some(dtls) = leg.dtls.as_mut() {
                dtls.tick(id.0, now, &leg.rtp, &leg.rtcp);
            }
            if let Some(video) = leg.video.as_mut() {
                video.tick(id, now);
            }
        }
        if self.until_publish == 0 {
            self.stats.publish(self.legs.iter());
            self.until_publish = PUBLISH_EVERY;
        }
        self.until_publish -= 1;
    }
}

const SILENCE: Frame = [0; FRAME];
