//! The meeting domain shared by every way in (SIP and H.323 rooms, browsers):
//! meeting records and their validation ([`record`]), the directory that
//! stores them ([`directory`]), the single admission decision
//! ([`admission`]) and the seats that hold it ([`seats`]), and the embedded meeting service: its signaling
//! [`protocol`], the [`service`] boundary media hubs use, the [`sfu`], and
//! the [`web`] front (page and WebSocket).

pub mod admission;
pub mod directory;
pub mod protocol;
pub mod record;
pub mod rtc;
pub mod seats;
pub mod service;
pub mod sfu;
pub mod speaker;
pub mod tls;
pub mod web;

pub use admission::{admit, Refusal};
pub use directory::{Directory, DirectoryError};
pub use record::{Meeting, MeetingError, NewMeeting};
pub use seats::{LocalSeats, Seat, SeatId, SeatRequest, Seats};
pub use service::{MeetingService, Session};
pub use sfu::{starts_keyframe, Sfu, SfuConfig};
pub use web::WebConfig;
