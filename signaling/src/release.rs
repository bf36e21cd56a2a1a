//! Why a call ends (or is refused), in no protocol's terms. The call logic
//! decides it once; each edge says it its own way — SIP as a status code
//! (a final response, or the `Reason` header of our BYE, RFC 3326), H.323
//! as a Q.931 cause with an H.225.0 ReleaseCompleteReason.

use meeting::Refusal;

/// Why a call ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Either side hung up; nothing went wrong.
    Normal,
    /// There is no meeting with the number given.
    UnknownMeeting,
    /// Not admitted: password missing or wrong, or the meeting locked.
    Forbidden,
    /// The meeting has no seat left.
    Full,
    /// The room gave up before it was answered.
    Cancelled,
    /// A timer ran out: no ACK, no session refresh.
    Timeout,
    /// The room no longer knows the call (a refresh found no dialog).
    Gone,
    /// No media both sides can use.
    Incompatible,
    /// Encryption is required and the call cannot be encrypted.
    NotEncrypted,
    /// Something the call needs is unavailable (the meetings directory,
    /// media ports, an H.245 listener), or we are shutting down.
    Unavailable,
    /// The meeting service dropped the meeting.
    MeetingLost,
}

impl From<Refusal> for Release {
    fn from(refusal: Refusal) -> Release {
        match refusal {
            Refusal::UnknownMeeting => Release::UnknownMeeting,
            Refusal::Full => Release::Full,
            Refusal::PasswordRequired | Refusal::WrongPassword | Refusal::Locked => {
                Release::Forbidden
            }
        }
    }
}
