//! The one admission check for every way into a meeting: the meeting
//! exists, is not locked, and the password is right. Whether there is
//! room is the seats' to decide ([`crate::seats`]), where they are counted.

use subtle::ConstantTimeEq;

use crate::Meeting;

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

/// Checks that a participant giving `password` may join `meeting` (None:
/// no such meeting), capacity aside; returns the meeting, or why not.
pub fn admit(meeting: Option<Meeting>, password: Option<&str>) -> Result<Meeting, Refusal> {
    let meeting = meeting.ok_or(Refusal::UnknownMeeting)?;
    if meeting.locked {
        return Err(Refusal::Locked);
    }
    if let Some(expected) = &meeting.password {
        match password {
            None | Some("") => return Err(Refusal::PasswordRequired),
            // Compared in constant time: how long a refusal takes says
            // nothing of how much of the password was right.
            Some(given) if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) => {
                return Err(Refusal::WrongPassword)
            }
            Some(_) => {}
        }
    }
    Ok(meeting)
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
            layout: Default::default(),
            encryption: None,
        }
    }

    #[test]
    fn decisions() {
        use Refusal::*;
        let open = meeting(None, false);
        let guarded = meeting(Some("4321"), false);
        let locked = meeting(Some("4321"), true);
        let cases: &[(Option<&Meeting>, Option<&str>, Option<Refusal>)] = &[
            (None, Some("4321"), Some(UnknownMeeting)),
            (Some(&open), None, None),
            (Some(&open), Some("999"), None),
            (Some(&guarded), None, Some(PasswordRequired)),
            (Some(&guarded), Some(""), Some(PasswordRequired)),
            (Some(&guarded), Some("1234"), Some(WrongPassword)),
            (Some(&guarded), Some("43210"), Some(WrongPassword)),
            (Some(&guarded), Some("4321"), None),
            (Some(&locked), Some("4321"), Some(Locked)),
        ];
        for (m, pw, want) in cases {
            let got = admit(m.cloned(), *pw);
            assert_eq!(got.as_ref().err(), want.as_ref(), "{m:?} {pw:?}");
            if want.is_none() {
                assert_eq!(got.ok().as_ref(), *m);
            }
        }
    }
}
