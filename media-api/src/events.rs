//! The events: what media tells signaling about its legs and itself.

use serde::{Deserialize, Serialize};

use crate::LegId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MediaEvent {
    /// A DTMF digit arrived (RFC 4733 event or in-band tones).
    Dtmf { leg: LegId, digit: char },
    /// The loudest participant the room hears changed (a meeting
    /// participant id).
    ActiveSpeaker { leg: LegId, participant: String },
    /// The leg is no longer in its meeting (refused, or the service ended
    /// the session); `reason` says why.
    MeetingLost { leg: LegId, reason: String },
    /// Ask the room for a keyframe through its signaling (SIP INFO
    /// `picture_fast_update`, H.245 `videoFastUpdatePicture`): it has no
    /// RTCP feedback for it.
    KeyframeWanted { leg: LegId },
}
