//! The boundary between a media node and "a meeting service": a signaling
//! session is a pair of message channels speaking the protocol of
//! [`crate::protocol`] (a media node opens one gateway session per meeting
//! for all its rooms there); media flows over real WebRTC. The embedded SFU
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
    /// Opens a participant's session; its first message must be `join`.
    fn connect(&self) -> Session;
    /// Opens a media node's gateway session for the rooms it carries in
    /// one meeting; its first message must be `gateway`.
    fn connect_gateway(&self) -> Session;
}
