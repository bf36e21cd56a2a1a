//! Admission and the IVR dialogue of a call: taking a seat in the meeting
//! and the answer, digits, re-prompts and giving up.

use std::time::Instant;

use media_api::layout::LayoutChange;
use media_api::LegId;
use meeting::{Refusal, Seat, SeatRequest};
use tracing::{info, warn};

use super::{Action, Controller, RoomSignaling};
use crate::call::Phase;
use crate::ivr::{Ivr, Prompt, Stage, Step};
use crate::release::Release;

/// Why a clear call is not taken into a meeting that requires encryption.
pub(super) const ENCRYPTION_REQUIRED: &str = "Encryption is required in this meeting";

impl Controller {
    /// Asks the meeting side to admit the call into the number it gave.
    pub(super) fn take_seat(&mut self, leg: LegId) {
        let call = &self.calls[&leg];
        let Some(number) = call.number.clone() else {
            return;
        };
        let request = SeatRequest {
            number,
            password: call.password.clone(),
            holder: call.display_name.clone(),
        };
        self.out.push_back(Action::TakeSeat { leg, request });
    }

    /// Gives back the call's seat, if it holds one.
    pub(super) fn release_seat(&mut self, leg: LegId) {
        if let Some(seat) = self.calls.get_mut(&leg).and_then(|c| c.seat.take()) {
            self.out.push_back(Action::ReleaseSeat { seat });
        }
    }

    /// The meeting side's answer to [`Action::TakeSeat`]: the seat, why
    /// not, or why no decision could be made.
    pub fn on_seat(
        &mut self,
        leg: LegId,
        result: Result<Result<Seat, Refusal>, String>,
        room: &mut dyn RoomSignaling,
        now: Instant,
    ) {
        let waiting = self
            .calls
            .get(&leg)
            .is_some_and(|c| !c.ending && c.seat.is_none());
        if !waiting {
            // The call ended, or was admitted already, while we asked.
            if let Ok(Ok(seat)) = result {
                self.out.push_back(Action::ReleaseSeat { seat: seat.id });
            }
            return;
        };
        let decision = match result {
            Ok(decision) => decision,
            Err(e) => {
                warn!(leg = leg.0, error = %e, "admission failed");
                let text = "Meeting directory unavailable";
                self.end(leg, Release::Unavailable, text, room, now);
                return;
            }
        };
        match decision {
            Ok(seat) => self.admitted(leg, seat, room, now),
            Err(r) if r.retryable() && self.cfg.ivr_enabled => {
                let (stage, why) = match r {
                    Refusal::UnknownMeeting => (Stage::Number, Prompt::UnknownMeeting),
                    _ => (Stage::Password, Prompt::WrongPassword),
                };
                let step = match self.calls.get_mut(&leg).map(|c| &mut c.phase) {
                    Some(Phase::Ivr(ivr)) if r == Refusal::PasswordRequired => {
                        ivr.need_password(now)
                    }
                    Some(Phase::Ivr(ivr)) => ivr.refused(stage, why, now),
                    _ => {
                        let failures = u8::from(r != Refusal::PasswordRequired);
                        self.enter_ivr(leg, stage, failures, room, now);
                        return;
                    }
                };
                self.ivr_step(leg, step, r, room, now);
            }
            Err(r) => {
                self.stats.calls_refused += 1;
                info!(leg = leg.0, reason = r.text(), "refused");
                if self.calls[&leg].answered {
                    let prompt = match r {
                        Refusal::Locked => Prompt::Locked,
                        Refusal::Full => Prompt::Full,
                        Refusal::UnknownMeeting => Prompt::UnknownMeeting,
                        _ => Prompt::WrongPassword,
                    };
                    self.out.push_back(Action::Prompt { leg, prompt });
                }
                self.end(leg, r.into(), r.text(), room, now);
            }
        }
        self.reschedule(leg);
    }

    /// The call has its seat: it is answered (or told it is joining, from
    /// the IVR) and joins the meeting.
    fn admitted(&mut self, leg: LegId, seat: Seat, room: &mut dyn RoomSignaling, now: Instant) {
        let must_encrypt = seat.meeting.requires_encryption();
        if must_encrypt && !self.calls[&leg].encrypted() {
            // Refused before any prompt: nothing of the meeting reaches a
            // clear room (from the IVR, the call just ends).
            self.stats.calls_refused += 1;
            info!(leg = leg.0, meeting = %seat.meeting.number, "refused: the meeting requires encryption");
            self.out.push_back(Action::ReleaseSeat { seat: seat.id });
            self.end(leg, Release::NotEncrypted, ENCRYPTION_REQUIRED, room, now);
            return;
        }
        let number = seat.meeting.number;
        self.stats.calls_admitted += 1;
        let call = self.calls.get_mut(&leg).expect("live call");
        call.must_encrypt = must_encrypt;
        info!(leg = leg.0, meeting = %number, "admitted");
        call.seat = Some(seat.id);
        call.phase = Phase::Joined {
            meeting: number.clone(),
        };
        call.meeting_layout = Some(seat.meeting.layout);
        let join = call.join(number);
        if call.answered {
            let prompt = Prompt::Joining;
            self.out.push_back(Action::Prompt { leg, prompt });
        } else {
            self.answer(leg, room, now);
        }
        self.out.push_back(Action::JoinMeeting { leg, join });
    }

    pub(super) fn enter_ivr(
        &mut self,
        leg: LegId,
        stage: Stage,
        failures: u8,
        room: &mut dyn RoomSignaling,
        now: Instant,
    ) {
        if !self.cfg.ivr_enabled {
            let refusal = match stage {
                Stage::Number => Refusal::UnknownMeeting,
                Stage::Password => Refusal::WrongPassword,
            };
            self.stats.calls_refused += 1;
            self.end(leg, refusal.into(), refusal.text(), room, now);
            return;
        }
        self.stats.ivr_entered += 1;
        let (ivr, step) = Ivr::start(self.cfg.ivr, stage, failures, now);
        let call = self.calls.get_mut(&leg).expect("live call");
        info!(leg = leg.0, ?stage, "IVR");
        call.phase = Phase::Ivr(ivr);
        if !call.answered {
            self.answer(leg, room, now);
        }
        self.ivr_step(leg, step, Refusal::UnknownMeeting, room, now);
    }

    pub(super) fn ivr_step(
        &mut self,
        leg: LegId,
        step: Step,
        last_refusal: Refusal,
        room: &mut dyn RoomSignaling,
        now: Instant,
    ) {
        match step {
            Step::Say(prompts) => {
                self.say(leg, prompts);
                let typeahead = match self.calls.get_mut(&leg).map(|c| &mut c.phase) {
                    Some(Phase::Ivr(ivr)) => ivr.take_typeahead(),
                    _ => String::new(),
                };
                for digit in typeahead.chars() {
                    self.on_digit(leg, digit, room, now);
                }
            }
            Step::Submit(stage, digits) => {
                let call = self.calls.get_mut(&leg).expect("live call");
                match stage {
                    Stage::Number => {
                        call.number = Some(digits);
                        call.password = None;
                    }
                    Stage::Password => call.password = Some(digits),
                }
                self.take_seat(leg);
            }
            Step::GiveUp(prompts) => {
                self.stats.calls_refused += 1;
                self.say(leg, prompts);
                let stage = match &self.calls[&leg].phase {
                    Phase::Ivr(ivr) => ivr.stage(),
                    _ => Stage::Number,
                };
                let refusal = match (stage, last_refusal) {
                    (_, Refusal::WrongPassword) | (Stage::Password, _) => Refusal::WrongPassword,
                    _ => Refusal::UnknownMeeting,
                };
                self.end(leg, refusal.into(), refusal.text(), room, now);
            }
        }
        self.reschedule(leg);
    }

    fn say(&mut self, leg: LegId, prompts: Vec<Prompt>) {
        let prompts = prompts
            .into_iter()
            .map(|prompt| Action::Prompt { leg, prompt });
        self.out.extend(prompts);
    }

    /// A keypad digit from the room (RTP event, SIP INFO, H.245 or Q.931).
    pub fn on_digit(
        &mut self,
        leg: LegId,
        digit: char,
        room: &mut dyn RoomSignaling,
        now: Instant,
    ) {
        let Some(call) = self.calls.get_mut(&leg).filter(|c| !c.ending) else {
            return;
        };
        if let Phase::Joined { .. } = call.phase {
            // In the meeting: `*8` is the next layout (as on Pexip).
            if std::mem::replace(&mut call.star, digit == '*') && digit == '8' {
                let change = LayoutChange::Next;
                self.out.push_back(Action::SetLayout { leg, change });
            }
            return;
        }
        let Phase::Ivr(ivr) = &mut call.phase else {
            return;
        };
        if let Some(step) = ivr.digit(digit, now) {
            self.ivr_step(leg, step, Refusal::UnknownMeeting, room, now);
        }
        self.reschedule(leg);
    }
}
