//! The one admission decision for every way into a meeting: the meeting
//! exists, is not locked, the password is right, and there is room.

use crate::Meeting;

/// Admission outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Join the meeting.
    Admit,
    /// Not admitted; the caller may be asked again or turned away.
    Refuse(Refusal),
}

/// Why a participant is not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No meeting with that number.
    UnknownMeeting,
    /// The meeting has a password and none was given.
    PasswordRequired,
    /// The password given is not the meeting's.
    WrongPassword,
    /// The meeting is locked.
    Locked,
    /// The meeting has reached its participant limit.
    Full,
}

impl Refusal {
    /// Text for logs, SIP Warning/Reason headers and the browser page.
    pub fn text(self) -> &'static str {
        match self {
            Refusal::UnknownMeeting => "Meeting not found",
            Refusal::PasswordRequired => "Meeting password required",
            Refusal::WrongPassword => "Wrong meeting password",
            Refusal::Locked => "Meeting is locked",
            Refusal::Full => "Meeting is full",
        }
    }

    /// Whether asking the caller again (IVR) can turn this into an admission.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            Refusal::UnknownMeeting | Refusal::PasswordRequired | Refusal::WrongPassword
        )
    }
}

/// Decides whether a participant giving `password` may join `meeting`,
/// which has `participants` members now and may hold `max_participants`.
pub fn admit(
    meeting: Option<&Meeting>,
    password: Option<&str>,
    participants: usize,
    max_participants: usize,
) -> Admission {
    let Some(meeting) = meeting else {
        return Admission::Refuse(Refusal::UnknownMeeting);
    };
    if meeting.locked {
        return Admission::Refuse(Refusal::Locked);
    }
    if let Some(expected) = &meeting.password {
        match password {
            None | Some("") => return Admission::Refuse(Refusal::PasswordRequired),
            Some(given) if !constant_time_eq(given.as_bytes(), expected.as_bytes()) => {
                return Admission::Refuse(Refusal::WrongPassword)
            }
            Some(_) => {}
        }
    }
    if participants >= max_participants {
        return Admission::Refuse(Refusal::Full);
    }
    Admission::Admit
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meeting(password: Option<&str>, locked: bool) -> Meeting {
        Meeting {
            number: "123456789".into(),
            password: password.map(Into::into),
            host_pin: None,
            name: "m".into(),
            locked,
        }
    }

    #[test]
    fn decisions() {
        use Refusal::*;
        let open = meeting(None, false);
        let guarded = meeting(Some("4321"), false);
        let locked = meeting(Some("4321"), true);
        let cases: &[(Option<&Meeting>, Option<&str>, usize, Admission)] = &[
            (None, Some("4321"), 0, Admission::Refuse(UnknownMeeting)),
            (Some(&open), None, 0, Admission::Admit),
            (Some(&open), Some("999"), 0, Admission::Admit),
            (Some(&guarded), None, 0, Admission::Refuse(PasswordRequired)),
            (
                Some(&guarded),
                Some(""),
                0,
                Admission::Refuse(PasswordRequired),
            ),
            (
                Some(&guarded),
                Some("1234"),
                0,
                Admission::Refuse(WrongPassword),
            ),
            (
                Some(&guarded),
                Some("43210"),
                0,
                Admission::Refuse(WrongPassword),
            ),
            (Some(&guarded), Some("4321"), 0, Admission::Admit),
            (Some(&guarded), Some("4321"), 10, Admission::Refuse(Full)),
            (Some(&locked), Some("4321"), 0, Admission::Refuse(Locked)),
        ];
        for (m, pw, n, want) in cases {
            assert_eq!(&admit(*m, *pw, *n, 10), want, "{m:?} {pw:?} {n}");
        }
    }
}
