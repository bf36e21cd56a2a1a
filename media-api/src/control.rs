//! The commands: what signaling asks of media, leg by leg.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::layout::{Layout, LayoutChange, MeetingLayout};
use crate::{BoundStream, LegId, LegMedia, LegRequest, LegStats, Prompt};

/// How a leg joins its meeting: as a participant of the meeting service,
/// with the password the room gave and the name the others see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingJoin {
    pub meeting: String,
    pub password: Option<String>,
    pub display_name: String,
    /// The room's own layout (its dial string's layout field).
    pub layout: Option<Layout>,
    /// The meeting's layout settings, as stored (None: not known here;
    /// those in force stay).
    pub meeting_layout: Option<MeetingLayout>,
}

/// Why a media request failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("no free RTP port in {0}")]
    NoPorts(String),
    #[error("unknown leg {0:?}")]
    UnknownLeg(LegId),
    #[error("not supported: {0}")]
    Unsupported(&'static str),
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The keys given for SRTP cannot be used.
    #[error("SRTP keys: {0}")]
    Keys(String),
}

/// Boxed future returned by media control calls.
pub type MediaFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, MediaError>> + Send + 'a>>;

/// The control interface signaling uses to manage legs.
pub trait MediaControl: Send + Sync + 'static {
    /// Binds the leg's streams on the requested address and starts
    /// listening; returns where, stream by stream, for SDP and H.245.
    fn create_leg(&self, leg: LegId, request: LegRequest) -> MediaFuture<'_, Vec<BoundStream>>;
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
    /// Changes the layout of the picture the room takes.
    fn set_layout(&self, leg: LegId, change: LayoutChange) -> MediaFuture<'_, ()>;
    /// Changes a meeting's layout settings for the rooms in it (and those
    /// that join later until the next join says otherwise).
    fn set_meeting_layout(&self, meeting: String, layout: MeetingLayout) -> MediaFuture<'_, ()>;
    /// Sends a DTMF digit to the room as RFC 4733 events.
    fn send_digit(&self, leg: LegId, digit: char) -> MediaFuture<'_, ()>;
    /// The room asked for a keyframe of the picture we send it (by
    /// signaling: SIP INFO `picture_fast_update`, H.245
    /// `videoFastUpdatePicture`).
    fn send_keyframe(&self, leg: LegId) -> MediaFuture<'_, ()>;
    /// The leg's media statistics.
    fn stats(&self, leg: LegId) -> MediaFuture<'_, LegStats>;
}
