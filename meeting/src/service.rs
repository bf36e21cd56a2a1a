//! The boundary between a room connector and "a meeting service": a
//! signaling session is a pair of message channels speaking the protocol
//! of [`crate::protocol`]; media flows over real WebRTC. The embedded SFU
//! is one implementation; docs/external-meeting-service.md says how another
//! plugs in.

use tokio::sync::mpsc;

use crate::protocol::{ClientMessage, ServerMessage};

/// One participant's signaling session. Dropping `to_service` leaves the meeting.
pub struct Session {
    pub to_service: mpsc::Sender<ClientMessage>,
    pub from_service: mpsc::Receiver<ServerMessage>,
}

/// A meeting service participants connect to.
pub trait MeetingService: Send + Sync + 'static {
    /// Opens a session; its first message must be `join`.
    fn connect(&self) -> Session;
}
