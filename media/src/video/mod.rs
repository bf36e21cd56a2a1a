//! Video. On a room's media worker: the negotiated stream
//! ([`VideoParams`]), what the room's camera sends received, counted and
//! forwarded into its meeting as the room's video track ([`VideoLeg`]),
//! the meeting's picture sent to the room, and keyframes asked of the room
//! the way it negotiated ([`keyframe::KeyframeAsker`]), lost packets
//! repaired by NACK both ways, the room's TMMBR/REMB capping what it is
//! sent. On the video
//! workers ([`VideoWorkers`]): each meeting's cameras decoded once, scaled
//! once per tile size, composed in each room's layout once per distinct
//! picture and encoded once per distinct output, for the rooms that take
//! it; a room's camera browsers do not decode transcoded for the meeting.

mod assemble;
pub mod compose;
mod decode;
mod encode;
mod encoder_count;
mod h263;
pub(crate) mod keyframe;
mod label;
mod leg;
mod nack;
mod name_card;
mod params;
mod picture;
mod pictures;
mod presence;
mod publish;
mod rate;
mod roster;
mod router;
mod send;
mod source;
mod text;
mod workers;

pub use assemble::{Assembled, AssemblyStats, FrameAssembler};
pub use decode::{DecodeError, VideoDecoder};
pub use encode::{EncodeError, EncodedFrame, Output, VideoEncoder, MTU};
pub(crate) use leg::{PublishVideo, VideoLeg, VideoRoute};
pub(crate) use params::VideoParams;
pub use picture::{black, fill, paste, Fitter, Picture};
pub(crate) use roster::Member;
pub(crate) use router::{SentFrame, VideoCommand};
pub(crate) use source::KeyframeAsk;
pub(crate) use workers::{VideoQueue, VideoWorkers};
