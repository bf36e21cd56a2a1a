//! How SIP says why a call ends: the status code and reason phrase of a
//! final response, also the `cause` of our BYE's `Reason` header.

use crate::release::Release;

/// Status code and reason phrase for `release`.
pub fn status(release: Release) -> (u16, &'static str) {
    match release {
        Release::Normal => (200, "OK"),
        Release::UnknownMeeting => (404, "Not Found"),
        Release::Forbidden => (403, "Forbidden"),
        Release::Full => (486, "Busy Here"),
        Release::Cancelled => (487, "Request Terminated"),
        Release::Timeout => (408, "Request Timeout"),
        Release::Gone => (481, "Call/Transaction Does Not Exist"),
        Release::Incompatible | Release::NotEncrypted => (488, "Not Acceptable Here"),
        Release::Unavailable => (503, "Service Unavailable"),
        Release::MeetingLost => (480, "Temporarily Unavailable"),
    }
}
