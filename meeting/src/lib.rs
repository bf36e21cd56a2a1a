//! The meeting domain shared by every way in (SIP and H.323 rooms, browsers):
//! meeting records and their validation ([`record`]), the directory that
//! stores them ([`directory`]), and the single admission decision
//! ([`admission`]). The embedded WebRTC meeting service grows here too.

pub mod admission;
pub mod directory;
pub mod record;

pub use admission::{admit, Admission, Refusal};
pub use directory::{Directory, DirectoryError};
pub use record::{Meeting, MeetingError, NewMeeting};
