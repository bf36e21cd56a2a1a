//! The IVR dialogue as a sans-IO state machine: it collects the meeting
//! number then the password, digit by digit (`#` submits, `*` clears), with
//! first-digit and inter-digit timeouts and a limit on failed attempts.
//! Digits keyed while an entry is being checked are kept (type-ahead) and
//! handed back once the IVR listens again.

use std::time::{Duration, Instant};

/// What the IVR is asking for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Number,
    Password,
}

pub use media_api::Prompt;

/// IVR timing and retry limits.
#[derive(Debug, Clone, Copy)]
pub struct IvrConfig {
    pub first_digit_timeout: Duration,
    pub inter_digit_timeout: Duration,
    pub max_attempts: u8,
}

impl Default for IvrConfig {
    fn default() -> Self {
        IvrConfig {
            first_digit_timeout: Duration::from_secs(15),
            inter_digit_timeout: Duration::from_secs(5),
            max_attempts: 3,
        }
    }
}

/// What the IVR wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Play these prompts, keep listening.
    Say(Vec<Prompt>),
    /// The caller entered this for the current stage.
    Submit(Stage, String),
    /// Too many failed attempts: say these prompts and end the call.
    GiveUp(Vec<Prompt>),
}

/// One caller's IVR dialogue.
#[derive(Debug)]
pub struct Ivr {
    cfg: IvrConfig,
    stage: Stage,
    digits: String,
    failures: u8,
    deadline: Option<Instant>,
    /// Digits that arrived while an entry was being checked.
    typeahead: String,
}

impl Ivr {
    /// Starts at `stage` with `failures` attempts already spent; returns the opening prompts.
    pub fn start(cfg: IvrConfig, stage: Stage, failures: u8, now: Instant) -> (Ivr, Step) {
        let mut ivr = Ivr {
            cfg,
            stage,
            digits: String::new(),
            failures: 0,
            deadline: None,
            typeahead: String::new(),
        };
        let mut prompts = vec![Prompt::Welcome];
        if failures > 0 {
            prompts.push(if stage == Stage::Number {
                Prompt::UnknownMeeting
            } else {
                Prompt::WrongPassword
            });
        }
        ivr.failures = failures;
        let step = ivr.ask(prompts, now);
        (ivr, step)
    }

    pub fn stage(&self) -> Stage {
        self.stage
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    fn ask(&mut self, mut prompts: Vec<Prompt>, now: Instant) -> Step {
        prompts.push(match self.stage {
            Stage::Number => Prompt::EnterNumber,
            Stage::Password => Prompt::EnterPassword,
        });
        self.digits.clear();
        self.deadline = Some(now + self.cfg.first_digit_timeout);
        Step::Say(prompts)
    }

    /// Digits keyed while the last entry was being checked, oldest first;
    /// feed them back through [`Ivr::digit`] after the next prompt.
    pub fn take_typeahead(&mut self) -> String {
        std::mem::take(&mut self.typeahead)
    }

    /// A DTMF digit from any source.
    pub fn digit(&mut self, d: char, now: Instant) -> Option<Step> {
        if self.deadline.is_none() {
            if self.typeahead.len() < 2 * meeting::record::MAX_DIGITS {
                self.typeahead.push(d);
            }
            return None;
        }
        match d {
            '#' => self.submit(),
            '*' => {
                self.digits.clear();
                self.deadline = Some(now + self.cfg.first_digit_timeout);
                None
            }
            '0'..='9' => {
                if self.digits.len() < meeting::record::MAX_DIGITS {
                    self.digits.push(d);
                }
                self.deadline = Some(now + self.cfg.inter_digit_timeout);
                None
            }
            _ => None,
        }
    }

    fn submit(&mut self) -> Option<Step> {
        self.deadline?;
        self.deadline = None;
        Some(Step::Submit(self.stage, std::mem::take(&mut self.digits)))
    }

    /// Runs the digit timer.
    pub fn on_timer(&mut self, now: Instant) -> Option<Step> {
        if self.deadline.is_none_or(|d| d > now) {
            return None;
        }
        if !self.digits.is_empty() {
            return self.submit();
        }
        Some(self.failed(self.stage, Prompt::NoInput, now))
    }

    /// The entry for `stage` was refused; asks again or gives up.
    pub fn refused(&mut self, stage: Stage, why: Prompt, now: Instant) -> Step {
        self.failed(stage, why, now)
    }

    /// The number was accepted; the password is needed next.
    pub fn need_password(&mut self, now: Instant) -> Step {
        self.stage = Stage::Password;
        self.failures = 0;
        self.ask(Vec::new(), now)
    }

    fn failed(&mut self, stage: Stage, why: Prompt, now: Instant) -> Step {
        if stage != self.stage {
            self.stage = stage;
            self.failures = 0;
        }
        self.failures += 1;
        if self.failures >= self.cfg.max_attempts {
            self.deadline = None;
            return Step::GiveUp(vec![why, Prompt::Goodbye]);
        }
        self.ask(vec![why], now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> Instant {
        static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *BASE.get_or_init(Instant::now) + Duration::from_secs(s)
    }

    #[test]
    fn collects_number_with_hash_and_clears_with_star() {
        let (mut ivr, step) = Ivr::start(IvrConfig::default(), Stage::Number, 0, t(0));
        assert_eq!(step, Step::Say(vec![Prompt::Welcome, Prompt::EnterNumber]));
        for d in "99*123".chars() {
            assert_eq!(ivr.digit(d, t(1)), None);
        }
        assert_eq!(
            ivr.digit('#', t(2)),
            Some(Step::Submit(Stage::Number, "123".into()))
        );
        assert_eq!(
            ivr.digit('#', t(2)),
            None,
            "nothing is pending after a submit"
        );
    }

    #[test]
    fn digits_keyed_while_an_entry_is_checked_are_kept() {
        let (mut ivr, _) = Ivr::start(IvrConfig::default(), Stage::Password, 0, t(0));
        ivr.digit('1', t(1));
        assert!(matches!(ivr.digit('#', t(1)), Some(Step::Submit(..))));
        for d in "22#".chars() {
            assert_eq!(ivr.digit(d, t(1)), None, "checking, not listening");
        }
        assert!(matches!(
            ivr.refused(Stage::Password, Prompt::WrongPassword, t(2)),
            Step::Say(_)
        ));
        assert_eq!(ivr.take_typeahead(), "22#");
        assert_eq!(ivr.take_typeahead(), "");
    }

    #[test]
    fn three_wrong_passwords_give_up_counting_the_dialed_one() {
        let (mut ivr, step) = Ivr::start(IvrConfig::default(), Stage::Password, 1, t(0));
        assert_eq!(
            step,
            Step::Say(vec![
                Prompt::Welcome,
                Prompt::WrongPassword,
                Prompt::EnterPassword
            ])
        );
        assert!(matches!(
            ivr.refused(Stage::Password, Prompt::WrongPassword, t(1)),
            Step::Say(_)
        ));
        assert_eq!(
            ivr.refused(Stage::Password, Prompt::WrongPassword, t(2)),
            Step::GiveUp(vec![Prompt::WrongPassword, Prompt::Goodbye])
        );
    }

    #[test]
    fn timeouts_submit_pending_digits_or_count_as_failures() {
        let cfg = IvrConfig::default();
        let (mut ivr, _) = Ivr::start(cfg, Stage::Number, 0, t(0));
        ivr.digit('4', t(1));
        assert_eq!(ivr.deadline(), Some(t(1) + cfg.inter_digit_timeout));
        assert_eq!(
            ivr.on_timer(t(6)),
            Some(Step::Submit(Stage::Number, "4".into()))
        );
        let (mut ivr, _) = Ivr::start(cfg, Stage::Number, 0, t(0));
        assert_eq!(ivr.on_timer(t(14)), None);
        assert_eq!(
            ivr.on_timer(t(15)),
            Some(Step::Say(vec![Prompt::NoInput, Prompt::EnterNumber]))
        );
        assert!(matches!(ivr.on_timer(t(30)), Some(Step::Say(_))));
        assert!(matches!(ivr.on_timer(t(45)), Some(Step::GiveUp(_))));
    }

    #[test]
    fn password_stage_after_number_resets_failures() {
        let (mut ivr, _) = Ivr::start(IvrConfig::default(), Stage::Number, 2, t(0));
        assert_eq!(
            ivr.need_password(t(1)),
            Step::Say(vec![Prompt::EnterPassword])
        );
        assert!(matches!(
            ivr.refused(Stage::Password, Prompt::WrongPassword, t(2)),
            Step::Say(_)
        ));
    }
}
