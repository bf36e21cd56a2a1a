//! The boundary between the call controller and a room's signaling: what
//! the controller asks of a room ([`RoomSignaling`], implemented for SIP
//! dialogs and H.323 calls) and what the room's signaling reports
//! ([`RoomEvent`]). Nothing here names a protocol.

use std::time::Instant;

use media_api::{LegId, LegMedia};

use crate::call::{Call, NewCall};
use crate::release::Release;

/// What the controller asks of the signaling that carries a call.
pub trait RoomSignaling {
    /// The room is being answered and its media leg is being created:
    /// start what the protocol needs meanwhile (H.323: the H.245
    /// connection).
    fn answering(&mut self, call: &Call, now: Instant);

    /// The call's media leg is bound at `call.local_media`: answer the
    /// room (a call it made) or call it (a call-out).
    fn media_ready(&mut self, call: &Call, now: Instant);

    /// Release the call on the wire for `why` (`text` says more, for
    /// people); report [`RoomEvent::Gone`] once it is over.
    fn release(&mut self, call: &Call, why: Release, text: &str, now: Instant);

    /// The call is over: forget its signaling state.
    fn forget(&mut self, leg: LegId);
}

/// What a room's signaling reports to the controller.
#[derive(Debug)]
pub enum RoomEvent {
    /// A room calls in.
    Incoming(NewCall),
    /// The room gave up before it was answered (CANCEL).
    Cancelled { leg: LegId },
    /// Media agreed with the room, or changed by it.
    Media { leg: LegId, media: LegMedia },
    /// A keypad digit.
    Digit { leg: LegId, digit: char },
    /// The room asked (by signaling) for a keyframe of what it is sent.
    KeyframeWanted { leg: LegId },
    /// A room we call is ringing.
    Ringing { leg: LegId },
    /// A room we call answered.
    Answered { leg: LegId },
    /// The call has to end for `why` (a timer, a protocol failure, the
    /// room ending the session).
    Failed {
        leg: LegId,
        why: Release,
        text: String,
    },
    /// The call is over on the wire: the room hung up or released it, or
    /// our release completed, or a room we called never answered.
    Gone { leg: LegId },
}
