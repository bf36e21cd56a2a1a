//! The protocol-neutral call controller: every room call's admission
//! (a seat taken once, from the meeting side), IVR, media leg, meeting
//! join and release reason, whatever signaling carries it. Sans-IO: fed
//! the rooms' [`RoomEvent`]s, seats, media answers and `now`; it acts on a
//! room through [`RoomSignaling`] and returns [`Action`]s for the meeting
//! side and media. SIP and H.323 are edges behind the trait; nothing here
//! names either.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use media_api::layout::LayoutChange;
use media_api::{BoundStream, LegId, LegMedia, MeetingJoin, StreamKind};
use meeting::{Seat, SeatId, SeatRequest};
use tracing::{info, warn};

mod admission;
pub mod room;
#[cfg(test)]
mod tests;

pub use room::{RoomEvent, RoomSignaling};

use crate::call::{Call, LocalMedia, NewCall, Phase};
use crate::ivr::{IvrConfig, Prompt, Stage};
use crate::release::Release;

/// Settings of the controller.
#[derive(Debug, Clone, Default)]
pub struct ControllerConfig {
    pub ivr: IvrConfig,
    pub ivr_enabled: bool,
    /// The address rooms are told for our media (NAT, a load balancer);
    /// None: the address media bound.
    pub advertised: Option<IpAddr>,
}

/// What the meeting side and media must do.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Admit the call into meeting `request.number`: answer with
    /// [`Controller::on_seat`].
    TakeSeat {
        leg: LegId,
        request: SeatRequest,
    },
    /// The call holding `seat` has left its meeting.
    ReleaseSeat {
        seat: SeatId,
    },
    /// Bind a media leg on `ip`, with a video stream if `video`: answer
    /// with [`Controller::on_leg_created`].
    CreateLeg {
        leg: LegId,
        ip: IpAddr,
        video: bool,
    },
    ConfigureLeg {
        leg: LegId,
        media: LegMedia,
    },
    DestroyLeg {
        leg: LegId,
    },
    /// Join the leg to its meeting as a participant.
    JoinMeeting {
        leg: LegId,
        join: MeetingJoin,
    },
    Prompt {
        leg: LegId,
        prompt: Prompt,
    },
    /// Send the room a keyframe of its picture.
    SendKeyframe {
        leg: LegId,
    },
    /// Change the layout of the picture the room is sent.
    SetLayout {
        leg: LegId,
        change: LayoutChange,
    },
}

/// Call counters for /metrics.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct CallStats {
    pub calls_total: u64,
    pub calls_admitted: u64,
    pub calls_refused: u64,
    pub calls_cancelled: u64,
    pub ivr_entered: u64,
}

/// Every call of a signaling process.
pub struct Controller {
    cfg: ControllerConfig,
    calls: HashMap<LegId, Call>,
    heap: BinaryHeap<Reverse<(Instant, LegId)>>,
    out: VecDeque<Action>,
    pub stats: CallStats,
}

impl Controller {
    pub fn new(cfg: ControllerConfig) -> Controller {
        Controller {
            cfg,
            calls: HashMap::new(),
            heap: BinaryHeap::new(),
            out: VecDeque::new(),
            stats: CallStats::default(),
        }
    }

    pub fn call(&self, leg: LegId) -> Option<&Call> {
        self.calls.get(&leg)
    }

    pub fn calls(&self) -> impl Iterator<Item = &Call> {
        self.calls.values()
    }

    /// Seats the calls hold.
    pub fn seats_held(&self) -> usize {
        self.calls.values().filter(|c| c.seat.is_some()).count()
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.out.pop_front()
    }

    /// Earliest IVR deadline.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, leg))) = self.heap.peek().copied() {
            if self
                .calls
                .get(&leg)
                .is_some_and(|c| c.scheduled == Some(at))
            {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    pub fn on_timer(&mut self, room: &mut dyn RoomSignaling, now: Instant) {
        while let Some(Reverse((at, leg))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            let Some(call) = self.calls.get_mut(&leg).filter(|c| c.scheduled == Some(at)) else {
                continue;
            };
            call.scheduled = None;
            let step = match &mut call.phase {
                Phase::Ivr(ivr) if !call.ending => ivr.on_timer(now),
                _ => None,
            };
            if let Some(step) = step {
                self.ivr_step(leg, step, meeting::Refusal::UnknownMeeting, room, now);
            }
            self.reschedule(leg);
        }
    }

    pub fn on_event(&mut self, event: RoomEvent, room: &mut dyn RoomSignaling, now: Instant) {
        match event {
            RoomEvent::Incoming(new) => self.incoming(new, room, now),
            RoomEvent::Cancelled { leg } => {
                if self.calls.get(&leg).is_some_and(|c| !c.answered) {
                    self.stats.calls_cancelled += 1;
                    self.end(leg, Release::Cancelled, "", room, now);
                }
            }
            RoomEvent::Media { leg, media } => self.configure(leg, media, room, now),
            RoomEvent::Digit { leg, digit } => self.on_digit(leg, digit, room, now),
            RoomEvent::KeyframeWanted { leg } => {
                if self.calls.get(&leg).is_some_and(|c| c.media.is_some()) {
                    self.out.push_back(Action::SendKeyframe { leg });
                }
            }
            RoomEvent::Ringing { leg } => {
                if let Some(Phase::Dialing { ringing, .. }) =
                    self.calls.get_mut(&leg).map(|c| &mut c.phase)
                {
                    *ringing = true;
                }
            }
            RoomEvent::Answered { leg } => self.room_answered(leg),
            RoomEvent::Failed { leg, why, text } => self.end(leg, why, &text, room, now),
            RoomEvent::Gone { leg } => self.gone(leg, room),
        }
    }

    /// A room called in: admission into the number it dialed, or the IVR
    /// to ask for one.
    fn incoming(&mut self, new: NewCall, room: &mut dyn RoomSignaling, now: Instant) {
        self.stats.calls_total += 1;
        let leg = new.leg;
        let dialed = new.number.is_some();
        self.calls.insert(leg, Call::new(new, Phase::Lookup));
        match dialed {
            true => self.take_seat(leg),
            false => self.enter_ivr(leg, Stage::Number, 0, room, now),
        }
    }

    /// Starts calling a room into the meeting of `seat` (taken for it);
    /// its signaling places the call once the media leg is bound.
    pub fn dial(&mut self, new: NewCall, seat: Seat) {
        let meeting = seat.meeting;
        let must_encrypt = meeting.requires_encryption();
        let leg = new.leg;
        let new = NewCall {
            number: Some(meeting.number.clone()),
            password: meeting.password.clone(),
            ..new
        };
        let phase = Phase::Dialing {
            meeting: meeting.number,
            ringing: false,
        };
        let mut call = Call::new(new, phase);
        call.seat = Some(seat.id);
        call.meeting_layout = Some(meeting.layout);
        call.must_encrypt = must_encrypt;
        call.answered = true;
        self.out.push_back(Action::CreateLeg {
            leg,
            ip: call.local_ip,
            video: call.video,
        });
        self.calls.insert(leg, call);
    }

    /// The room is to be answered: a media leg first (the answer carries
    /// its address).
    fn answer(&mut self, leg: LegId, room: &mut dyn RoomSignaling, now: Instant) {
        let call = self.calls.get_mut(&leg).expect("live call");
        call.answered = true;
        self.out.push_back(Action::CreateLeg {
            leg,
            ip: call.local_ip,
            video: call.video,
        });
        room.answering(call, now);
    }

    /// Media's answer to [`Action::CreateLeg`].
    pub fn on_leg_created(
        &mut self,
        leg: LegId,
        result: Result<Vec<BoundStream>, String>,
        room: &mut dyn RoomSignaling,
        now: Instant,
    ) {
        let Some(call) = self.calls.get_mut(&leg).filter(|c| !c.ending) else {
            if !self.calls.contains_key(&leg) {
                self.out.push_back(Action::DestroyLeg { leg });
            }
            return;
        };
        let audio_of = |all: Vec<BoundStream>| {
            let audio = all.iter().find(|b| b.kind == StreamKind::Audio).copied();
            audio
                .map(|a| (a, all))
                .ok_or_else(|| "no audio stream bound".to_owned())
        };
        let bound = match result.and_then(audio_of) {
            Ok(b) => b,
            Err(e) => {
                warn!(leg = leg.0, error = %e, "no media leg");
                self.end(leg, Release::Unavailable, "No media resources", room, now);
                return;
            }
        };
        // What rooms are told: the advertised address, if there is one.
        let seen = |a: SocketAddr| SocketAddr::new(self.cfg.advertised.unwrap_or(a.ip()), a.port());
        let seen = |b: BoundStream| BoundStream {
            rtp: seen(b.rtp),
            rtcp: seen(b.rtcp),
            ..b
        };
        let (audio, all) = bound;
        let video = all.iter().find(|b| b.kind == StreamKind::Video).copied();
        call.local_media = Some(LocalMedia {
            audio: seen(audio),
            video: video.map(seen),
        });
        if video.is_none() {
            // Media bound no video: the room's is declined.
            if let Some(media) = call.media.as_mut() {
                media.streams.retain(|s| s.kind != StreamKind::Video);
            }
        }
        let dialing = matches!(call.phase, Phase::Dialing { .. });
        if let Some(media) = call.media.clone().filter(|_| !dialing) {
            self.out.push_back(Action::ConfigureLeg { leg, media });
        }
        room.media_ready(call, now);
    }

    /// Media agreed with the room, or changed.
    /// Media agreed with the room: the leg is configured, unless its
    /// meeting requires encryption and the media is in clear (the call
    /// ends).
    fn configure(
        &mut self,
        leg: LegId,
        media: LegMedia,
        room: &mut dyn RoomSignaling,
        now: Instant,
    ) {
        let Some(call) = self.calls.get_mut(&leg) else {
            return;
        };
        call.media = Some(media.clone());
        if call.must_encrypt && !call.encrypted() {
            info!(
                leg = leg.0,
                "media agreed in clear in a meeting that requires encryption"
            );
            self.end(
                leg,
                Release::NotEncrypted,
                admission::ENCRYPTION_REQUIRED,
                room,
                now,
            );
            return;
        }
        self.out.push_back(Action::ConfigureLeg { leg, media });
    }

    /// A room we called answered: it joins the meeting.
    fn room_answered(&mut self, leg: LegId) {
        let Some(call) = self.calls.get_mut(&leg) else {
            return;
        };
        let Phase::Dialing { meeting, .. } = std::mem::replace(&mut call.phase, Phase::Lookup)
        else {
            return;
        };
        info!(leg = leg.0, %meeting, "the room answered; joining");
        call.phase = Phase::Joined {
            meeting: meeting.clone(),
        };
        let join = call.join(meeting);
        self.stats.calls_admitted += 1;
        self.out.push_back(Action::JoinMeeting { leg, join });
    }

    /// Ends the call for `why` (`text` says more, for people): its seat is
    /// given back now, the room is told as its protocol says.
    pub fn end(
        &mut self,
        leg: LegId,
        why: Release,
        text: &str,
        room: &mut dyn RoomSignaling,
        now: Instant,
    ) {
        let Some(call) = self.calls.get_mut(&leg).filter(|c| !c.ending) else {
            return;
        };
        call.ending = true;
        self.release_seat(leg);
        room.release(&self.calls[&leg], why, text, now);
    }

    /// The call is over on the wire: its seat and media leg go.
    fn gone(&mut self, leg: LegId, room: &mut dyn RoomSignaling) {
        self.release_seat(leg);
        let Some(call) = self.calls.remove(&leg) else {
            return;
        };
        room.forget(leg);
        if call.answered {
            self.out.push_back(Action::DestroyLeg { leg });
        }
        info!(leg = leg.0, "call ended");
    }

    /// Ends every call.
    pub fn shutdown(&mut self, room: &mut dyn RoomSignaling, now: Instant) {
        let legs: Vec<LegId> = self.calls.keys().copied().collect();
        for leg in legs {
            self.end(leg, Release::Unavailable, "Shutting down", room, now);
        }
    }

    fn reschedule(&mut self, leg: LegId) {
        let Some(call) = self.calls.get_mut(&leg) else {
            return;
        };
        let next = call.next_deadline();
        if next != call.scheduled {
            call.scheduled = next;
            if let Some(at) = next {
                self.heap.push(Reverse((at, leg)));
            }
        }
    }
}
