//! Admission and the IVR dialogue of a call: taking a seat in the meeting
//! and the answer, digits, re-prompts and giving up.

use std::time::Instant;

use media_api::{LegId, MeetingJoin};
use meeting::{Refusal, Seat};
use tracing::{info, warn};

use super::*;

impl Core {
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
        self.out.push_back(Output::TakeSeat { leg, request });
    }

    /// Gives back the call's seat, if it holds one.
    pub(super) fn release_seat(&mut self, leg: LegId) {
        if let Some(seat) = self.calls.get_mut(&leg).and_then(|c| c.seat.take()) {
            self.out.push_back(Output::ReleaseSeat { seat });
        }
    }

    pub(super) fn on_seat(
        &mut self,
        leg: LegId,
        result: Result<Result<Seat, Refusal>, String>,
        now: Instant,
    ) {
        let waiting = self
            .calls
            .get(&leg)
            .is_some_and(|c| !c.ending && c.seat.is_none());
        if !waiting {
            // The call ended, or was admitted already, while we asked.
            if let Ok(Ok(seat)) = result {
                self.out.push_back(Output::ReleaseSeat { seat: seat.id });
            }
            return;
        };
        let decision = match result {
            Ok(decision) => decision,
            Err(e) => {
                warn!(leg = leg.0, error = %e, "admission failed");
                self.end(
                    leg,
                    Release::Unavailable,
                    "Meeting directory unavailable",
                    now,
                );
                return;
            }
        };
        match decision {
            Ok(seat) => {
                let number = seat.meeting.number;
                self.stats.calls_admitted += 1;
                let call = self.calls.get_mut(&leg).expect("live call");
                info!(leg = leg.0, meeting = %number, "admitted");
                call.seat = Some(seat.id);
                call.phase = Phase::Joined {
                    meeting: number.clone(),
                };
                let join = MeetingJoin {
                    meeting: number,
                    password: call.password.clone(),
                    display_name: call.display_name.clone(),
                };
                let answered = call.answered;
                if answered {
                    self.out.push_back(Output::Prompt {
                        leg,
                        prompt: Prompt::Joining,
                    });
                } else {
                    self.answer(leg);
                }
                self.out.push_back(Output::JoinMeeting { leg, join });
            }
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
                        self.enter_ivr(leg, stage, failures, now);
                        return;
                    }
                };
                self.ivr_step(leg, step, r, now);
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
                    self.out.push_back(Output::Prompt { leg, prompt });
                }
                self.end(leg, r.into(), r.text(), now);
            }
        }
        self.reschedule(leg);
    }

    pub(super) fn enter_ivr(&mut self, leg: LegId, stage: Stage, failures: u8, now: Instant) {
        if !self.cfg.ivr_enabled {
            let refusal = match stage {
                Stage::Number => Refusal::UnknownMeeting,
                Stage::Password => Refusal::WrongPassword,
            };
            self.stats.calls_refused += 1;
            self.end(leg, refusal.into(), refusal.text(), now);
            return;
        }
        self.stats.ivr_entered += 1;
        let (ivr, step) = Ivr::start(self.cfg.ivr, stage, failures, now);
        let call = self.calls.get_mut(&leg).expect("live call");
        info!(leg = leg.0, ?stage, "IVR");
        call.phase = Phase::Ivr(ivr);
        if !call.answered {
            self.answer(leg);
        }
        self.ivr_step(leg, step, Refusal::UnknownMeeting, now);
    }

    pub(super) fn ivr_step(&mut self, leg: LegId, step: Step, last_refusal: Refusal, now: Instant) {
        match step {
            Step::Say(prompts) => {
                self.out.extend(
                    prompts
                        .into_iter()
                        .map(|prompt| Output::Prompt { leg, prompt }),
                );
                let typeahead = match self.calls.get_mut(&leg).map(|c| &mut c.phase) {
                    Some(Phase::Ivr(ivr)) => ivr.take_typeahead(),
                    _ => String::new(),
                };
                for digit in typeahead.chars() {
                    self.on_digit(leg, digit, now);
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
                self.out.extend(
                    prompts
                        .into_iter()
                        .map(|prompt| Output::Prompt { leg, prompt }),
                );
                let stage = match &self.calls[&leg].phase {
                    Phase::Ivr(ivr) => ivr.stage(),
                    _ => Stage::Number,
                };
                let refusal = match (stage, last_refusal) {
                    (_, Refusal::WrongPassword) | (Stage::Password, _) => Refusal::WrongPassword,
                    _ => Refusal::UnknownMeeting,
                };
                self.end(leg, refusal.into(), refusal.text(), now);
            }
        }
        self.reschedule(leg);
    }

    pub(super) fn on_digit(&mut self, leg: LegId, digit: char, now: Instant) {
        let Some(Phase::Ivr(ivr)) = self.calls.get_mut(&leg).map(|c| &mut c.phase) else {
            return;
        };
        if let Some(step) = ivr.digit(digit, now) {
            self.ivr_step(leg, step, Refusal::UnknownMeeting, now);
        }
        self.reschedule(leg);
    }
}
