//! The media thread: every 20 ms it decodes each leg's next frame from its
//! jitter buffer, detects in-band key tones in the IVR, mixes each meeting
//! (everyone minus themselves), picks active speakers, and encodes and sends
//! each leg's frame — a prompt while one is playing. Codec work stays here,
//! off the async runtime. No allocation per frame once legs are set up.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};

use super::receive::Shared;
use super::sender::Sender;
use super::{Command, LegStats};
use crate::audio::{new_codec, Codec, Frame, FRAME};
use crate::jitter::Pop;
use crate::mixer::{level, Mixer, SpeakerDetector};
use crate::prompts::PromptPlayer;
use crate::tones::ToneDetector;
use crate::{Direction, LegId, LegMedia, MediaEvent};

const TICK: Duration = Duration::from_millis(20);

/// One leg as the media thread sees it.
struct Leg {
    shared: Shared,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    media: Option<LegMedia>,
    codec: Option<Box<dyn Codec>>,
    meeting: Option<String>,
    muted: bool,
    prompts: PromptPlayer,
    tones: ToneDetector,
    decoded: Vec<i16>,
    payload: Vec<u8>,
    next_payload: Vec<u8>,
    input: Frame,
    heard: bool,
    level: u8,
    output: Frame,
    sender: Sender,
}

impl Leg {
    /// Whether the room's audio goes into its meeting.
    fn contributes(&self) -> bool {
        self.heard
            && !self.muted
            && self
                .media
                .as_ref()
                .is_some_and(|m| m.direction == Direction::SendRecv)
    }

    /// Decodes the next 20 ms from the jitter buffer into `input`.
    fn pull(&mut self) {
        let Some(codec) = self.codec.as_mut() else {
            self.heard = false;
            return;
        };
        let ptime_samples = self
            .media
            .as_ref()
            .map_or(960, |m| m.ptime.clamp(10, 120) as usize * 48);
        while self.decoded.len() < FRAME {
            // Copy the payload out so decoding runs without the lock.
            let popped = {
                let mut st = self.shared.lock().expect("leg state");
                match st.jitter.pop() {
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
        self.heard = n > 0;
        self.input[..n].copy_from_slice(&self.decoded[..n]);
        self.input[n..].fill(0);
        self.decoded.drain(..n);
        self.level = level(&self.input);
    }

    /// Sends `output` if the negotiated direction lets us.
    fn push(&mut self) {
        let (Some(media), Some(codec)) = (self.media.as_ref(), self.codec.as_mut()) else {
            return;
        };
        if !matches!(media.direction, Direction::SendRecv | Direction::SendOnly) {
            return;
        }
        let Some(to) = self.shared.lock().expect("leg state").remote_rtp else {
            return;
        };
        self.sender
            .push_frame(&self.output, media, codec.as_mut(), &self.rtp, to);
    }

    fn send_rtcp(&mut self, now: Instant) {
        if !self.sender.rtcp_due(now) {
            return;
        }
        let (block, to) = {
            let mut st = self.shared.lock().expect("leg state");
            (st.stats.report_block(now), st.remote_rtcp)
        };
        if let Some(to) = to {
            let report = self.sender.report(block);
            let socket = if self.media.as_ref().is_some_and(|m| m.rtcp_mux) {
                &self.rtp
            } else {
                &self.rtcp
            };
            let _ = socket.send_to(&report, to);
        }
    }

    fn stats(&self) -> LegStats {
        let st = self.shared.lock().expect("leg state");
        let expected = st.stats.expected();
        LegStats {
            codec: self.media.as_ref().map(|m| m.codec.rtpmap()),
            remote: st.remote_rtp.map(|a| a.to_string()),
            packets_received: st.stats.received(),
            packets_lost: st.stats.lost(),
            loss_percent: if expected > 0 {
                (st.stats.lost().max(0) as f64 * 100.0 / expected as f64 * 10.0).round() / 10.0
            } else {
                0.0
            },
            jitter_ms: (st.stats.jitter_ms() * 10.0).round() / 10.0,
            rtt_ms: st.rtt.map(|d| (d.as_secs_f64() * 10000.0).round() / 10.0),
            packets_sent: self.sender.packets,
            level: self.level,
            muted: self.muted,
            jitter_buffer: st.jitter.stats(),
            their_fraction_lost: st.their_report.as_ref().map(|r| r.fraction_lost),
        }
    }
}

/// A meeting's mixing state, reused frame after frame.
#[derive(Default)]
struct Meeting {
    members: Vec<LegId>,
    inputs: Vec<Frame>,
    contributes: Vec<bool>,
    outputs: Vec<Frame>,
    levels: Vec<(LegId, u8)>,
    mixer: Mixer,
    speaker: SpeakerDetector,
}

pub(crate) struct Worker {
    legs: HashMap<LegId, Leg>,
    meetings: HashMap<String, Meeting>,
    events: UnboundedSender<MediaEvent>,
}

impl Worker {
    pub fn new(events: UnboundedSender<MediaEvent>) -> Worker {
        Worker {
            legs: HashMap::new(),
            meetings: HashMap::new(),
            events,
        }
    }

    /// Runs until every command sender is gone.
    pub fn run(mut self, commands: Receiver<Command>) {
        let mut next = Instant::now() + TICK;
        loop {
            loop {
                let wait = next.saturating_duration_since(Instant::now());
                match commands.recv_timeout(wait) {
                    Ok(c) => self.command(c),
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            let now = Instant::now();
            self.tick(now);
            next += TICK;
            if now > next + 5 * TICK {
                next = now + TICK; // fell behind: do not burst to catch up
            }
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Add {
                id,
                shared,
                rtp,
                rtcp,
                ssrc,
            } => {
                let leg = Leg {
                    shared,
                    rtp,
                    rtcp,
                    media: None,
                    codec: None,
                    meeting: None,
                    muted: false,
                    prompts: PromptPlayer::default(),
                    tones: ToneDetector::default(),
                    decoded: Vec::with_capacity(8 * FRAME),
                    payload: Vec::with_capacity(1500),
                    next_payload: Vec::with_capacity(1500),
                    input: [0; FRAME],
                    heard: false,
                    level: 127,
                    output: [0; FRAME],
                    sender: Sender::new(ssrc, Instant::now()),
                };
                self.legs.insert(id, leg);
            }
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
                    leg.decoded.clear();
                }
                leg.media = Some(media);
            }
            Command::Remove(id) => {
                if let Some(leg) = self.legs.remove(&id) {
                    if let Some(m) = leg.meeting {
                        self.leave(id, &m);
                    }
                }
            }
            Command::Join(id, meeting) => {
                let Some(leg) = self.legs.get_mut(&id) else {
                    return;
                };
                if let Some(old) = leg.meeting.replace(meeting.clone()) {
                    self.leave(id, &old);
                }
                let m = self.meetings.entry(meeting).or_default();
                m.members.push(id);
                m.inputs.push([0; FRAME]);
                m.outputs.push([0; FRAME]);
                m.contributes.push(false);
            }
            Command::Play(id, prompt) => {
                if let Some(leg) = self.legs.get_mut(&id) {
                    leg.prompts.queue(prompt);
                }
            }
            Command::BargeIn(id) => {
                if let Some(leg) = self.legs.get_mut(&id) {
                    leg.prompts.clear();
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
            Command::Stats(id, reply) => {
                let _ = reply.send(self.legs.get(&id).map(Leg::stats));
            }
        }
    }

    fn leave(&mut self, id: LegId, meeting: &str) {
        let Some(m) = self.meetings.get_mut(meeting) else {
            return;
        };
        if let Some(i) = m.members.iter().position(|l| *l == id) {
            m.members.swap_remove(i);
            m.inputs.swap_remove(i);
            m.outputs.swap_remove(i);
            m.contributes.swap_remove(i);
        }
        if m.members.is_empty() {
            self.meetings.remove(meeting);
        }
    }

    fn tick(&mut self, now: Instant) {
        for (&id, leg) in self.legs.iter_mut() {
            leg.pull();
            if leg.meeting.is_none() && leg.heard {
                if let Some(digit) = leg.tones.on_frame(&leg.input) {
                    info!(leg = id.0, %digit, "in-band DTMF digit");
                    leg.prompts.clear();
                    let _ = self.events.send(MediaEvent::Dtmf { leg: id, digit });
                }
            }
            leg.output.fill(0);
        }
        for (name, m) in self.meetings.iter_mut() {
            m.levels.clear();
            for (i, id) in m.members.iter().enumerate() {
                let leg = &self.legs[id];
                m.inputs[i] = leg.input;
                m.contributes[i] = leg.contributes();
                m.levels
                    .push((*id, if m.contributes[i] { leg.level } else { 127 }));
            }
            m.mixer.mix(&m.inputs, &m.contributes, &mut m.outputs);
            for (i, id) in m.members.iter().enumerate() {
                if let Some(leg) = self.legs.get_mut(id) {
                    leg.output = m.outputs[i];
                }
            }
            if let Some(leg) = m.speaker.update(&m.levels) {
                let _ = self.events.send(MediaEvent::ActiveSpeaker {
                    meeting: name.clone(),
                    leg,
                });
            }
        }
        for leg in self.legs.values_mut() {
            if leg.prompts.is_playing() {
                leg.prompts.next_frame(&mut leg.output);
            }
            leg.push();
            leg.send_rtcp(now);
        }
    }
}
