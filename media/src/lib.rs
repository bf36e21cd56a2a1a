//! Media for room calls. Signaling drives it through the narrow
//! [`MediaControl`] interface (an in-process call in `mra run`, shaped so a
//! networked media node can implement it): create a leg, configure it with
//! the negotiated parameters, put it in a meeting (where it becomes a
//! WebRTC participant, see [`connector`]), play prompts, read its stats,
//! destroy it. Legs report [`MediaEvent`]s.

pub mod audio;
mod codec;
mod connector;
mod delay_peak;
mod engine;
pub mod jitter;
pub mod mixer;
mod ports;
pub mod prompts;
pub mod rtp_stats;
pub mod telephone_event;
pub mod tones;

pub use codec::{AudioCodec, Direction, LegMedia};
pub use engine::{LegStats, MeetingLink, RtpEngine};
pub use ports::PortRange;
pub use prompts::Prompt;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

/// Identifies one room leg; signaling picks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u64);

/// What legs tell signaling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// A DTMF digit arrived (RFC 4733 event or in-band tones).
    Dtmf { leg: LegId, digit: char },
    /// The loudest participant the room hears changed (a meeting
    /// participant id).
    ActiveSpeaker { leg: LegId, participant: String },
    /// The leg is no longer in its meeting (refused, or the service ended
    /// the session); `reason` says why.
    MeetingLost { leg: LegId, reason: String },
}

/// How a leg joins its meeting: as a participant of the meeting service,
/// with the password the room gave and the name the others see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingJoin {
    pub meeting: String,
    pub password: Option<String>,
    pub display_name: String,
}

/// Why a media request failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("no free RTP port in {0}")]
    NoPorts(PortRange),
    #[error("unknown leg {0:?}")]
    UnknownLeg(LegId),
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
}

/// Boxed future returned by media control calls.
pub type MediaFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, MediaError>> + Send + 'a>>;

/// The control interface signaling uses to manage legs.
pub trait MediaControl: Send + Sync + 'static {
    /// Allocates RTP/RTCP ports on `ip` and starts listening; returns the RTP address for SDP.
    fn create_leg(&self, leg: LegId, ip: std::net::IpAddr) -> MediaFuture<'_, SocketAddr>;
    /// Applies negotiated parameters (first answer, re-INVITE, UPDATE).
    fn configure_leg(&self, leg: LegId, media: LegMedia) -> MediaFuture<'_, ()>;
    /// Stops the leg and frees its ports.
    fn destroy_leg(&self, leg: LegId) -> MediaFuture<'_, ()>;
    /// Joins the leg to its meeting as a participant: it hears the others,
    /// they hear it.
    fn join_meeting(&self, leg: LegId, join: MeetingJoin) -> MediaFuture<'_, ()>;
    /// Queues a spoken prompt (a key press stops the queue).
    fn play(&self, leg: LegId, prompt: Prompt) -> MediaFuture<'_, ()>;
    /// Keeps the room's audio out of its meeting (it still hears the others).
    fn set_muted(&self, leg: LegId, muted: bool) -> MediaFuture<'_, ()>;
    /// Sends a DTMF digit to the room as RFC 4733 events.
    fn send_digit(&self, leg: LegId, digit: char) -> MediaFuture<'_, ()>;
    /// The leg's media statistics.
    fn stats(&self, leg: LegId) -> MediaFuture<'_, LegStats>;
}
