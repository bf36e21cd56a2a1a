//! A room's video on its media worker: the negotiated stream
//! ([`VideoParams`]), what the room's camera sends received, counted and
//! forwarded into its meeting as the room's video track ([`VideoLeg`]),
//! and keyframes asked of the room the way it negotiated
//! ([`keyframe::KeyframeAsker`]).

pub(crate) mod keyframe;
mod leg;
mod params;

pub(crate) use leg::{PublishVideo, VideoLeg};
pub(crate) use params::VideoParams;
