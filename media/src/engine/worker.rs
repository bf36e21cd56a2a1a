//! The media thread: every 20 ms it decodes each leg's next frame from its
//! jitter buffer, detects in-band key tones in the IVR, passes the room's
//! audio to its meeting and mixes what the meeting sends back (see
//! [`Bridge`]), and encodes and sends each leg's frame — a prompt while one
//! is playing. Codec work stays here, off the async runtime. No allocation
//! per frame once legs are set up, except the packet the WebRTC track takes.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};

use super::bridge::{Bridge, MeetingAudio, Publisher};
use super::inbound::FrameDecoder;
use super::receive::{LegState, Shared};
use super::sender::Sender;
use super::{Command, LegStats};
use crate::audio::{new_codec, Codec, Frame, FRAME};
use crate::mixer::level;
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
    decoder: FrameDecoder,
    bridge: Option<Bridge>,
    muted: bool,
    prompts: PromptPlayer,
    tones: ToneDetector,
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
    fn pull(&mut self, now: Instant) {
        let Some(codec) = self.codec.as_mut() else {
            self.heard = false;
            return;
        };
        let ptime = self.media.as_ref().map_or(20, |m| m.ptime);
        self.heard = self.decoder.pull(
            now,
            &self.shared,
            |st: &mut LegState| &mut st.inbound.jitter,
            codec.as_mut(),
            ptime,
            &mut self.input,
        );
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
            (st.inbound.stats.report_block(now), st.remote_rtcp)
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
        let stats = &st.inbound.stats;
        let expected = stats.expected();
        LegStats {
            codec: self.media.as_ref().map(|m| m.codec.rtpmap()),
            remote: st.remote_rtp.map(|a| a.to_string()),
            packets_received: stats.received(),
            packets_lost: stats.lost(),
            loss_percent: if expected > 0 {
                (stats.lost().max(0) as f64 * 100.0 / expected as f64 * 10.0).round() / 10.0
            } else {
                0.0
            },
            jitter_ms: (stats.jitter_ms() * 10.0).round() / 10.0,
            rtt_ms: st.rtt.map(|d| (d.as_secs_f64() * 10000.0).round() / 10.0),
            packets_sent: self.sender.packets,
            level: self.level,
            muted: self.muted,
            jitter_buffer: st.inbound.jitter.stats(),
            meeting_streams: self.bridge.as_ref().map_or(0, Bridge::streams),
            their_fraction_lost: st.their_report.as_ref().map(|r| r.fraction_lost),
        }
    }
}

pub(crate) struct Worker {
    legs: HashMap<LegId, Leg>,
    audio: MeetingAudio,
    events: UnboundedSender<MediaEvent>,
}

impl Worker {
    pub fn new(events: UnboundedSender<MediaEvent>) -> Worker {
        Worker {
            legs: HashMap::new(),
            audio: MeetingAudio::default(),
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
                    decoder: FrameDecoder::default(),
                    bridge: None,
                    muted: false,
                    prompts: PromptPlayer::default(),
                    tones: ToneDetector::default(),
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
                    leg.decoder.clear();
                }
                leg.media = Some(media);
            }
            Command::Remove(id) => {
                if let Some(bridge) = self.legs.remove(&id).and_then(|l| l.bridge) {
                    bridge.close(&mut self.audio);
                }
            }
            Command::Bridge {
                leg: id,
                meeting,
                publish,
            } => {
                let Some(leg) = self.legs.get_mut(&id) else {
                    return;
                };
                // No wider than the room's own audio: narrowband Opus for G.711.
                let audio_hz = leg.media.as_ref().map_or(48000, |m| {
                    m.options
                        .max_playback_rate
                        .unwrap_or(48000)
                        .min(m.codec.audio_rate())
                });
                let Some(publisher) = Publisher::new(publish, audio_hz) else {
                    return warn!(leg = id.0, "no Opus encoder");
                };
                if let Some(old) = leg.bridge.replace(Bridge::new(meeting, publisher)) {
                    old.close(&mut self.audio);
                }
            }
            Command::Unbridge(id) => {
                if let Some(bridge) = self.legs.get_mut(&id).and_then(|l| l.bridge.take()) {
                    bridge.close(&mut self.audio);
                }
            }
            Command::AddStream(id, stream) => {
                if let Some(bridge) = self.legs.get_mut(&id).and_then(|l| l.bridge.as_mut()) {
                    bridge.add(stream, &mut self.audio);
                }
            }
            Command::RemoveStream(id, stream) => {
                if let Some(bridge) = self.legs.get_mut(&id).and_then(|l| l.bridge.as_mut()) {
                    bridge.remove(stream, &mut self.audio);
                }
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

    fn tick(&mut self, now: Instant) {
        for (&id, leg) in self.legs.iter_mut() {
            leg.pull(now);
            let contributes = leg.contributes();
            match leg.bridge.as_mut() {
                Some(bridge) => bridge.publish(if contributes { &leg.input } else { &SILENCE }),
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
        self.audio.decode(now);
        for (&id, leg) in self.legs.iter_mut() {
            leg.output.fill(0);
            if let Some(bridge) = leg.bridge.as_mut() {
                if let Some(participant) = bridge.hear(&self.audio, &mut leg.output) {
                    let _ = self.events.send(MediaEvent::ActiveSpeaker {
                        leg: id,
                        participant: participant.to_owned(),
                    });
                }
            }
            if leg.prompts.is_playing() {
                leg.prompts.next_frame(&mut leg.output);
            }
            leg.push();
            leg.send_rtcp(now);
        }
    }
}

const SILENCE: Frame = [0; FRAME];
