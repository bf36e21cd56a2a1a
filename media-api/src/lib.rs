//! The media control interface, as plain serde types: what signaling and
//! the admin API know of media. A leg is a list of streams (audio and
//! video; content to come); media binds each and says where
//! ([`BoundStream`]), is told what was negotiated ([`StreamMedia`]), puts
//! the leg in a meeting, and reports [`MediaEvent`]s. [`MediaControl`] is
//! async and keeps nothing shared across it, so a media node can serve it
//! over a network connection; commands for different legs never wait on
//! each other.

mod codec;
mod control;
mod encryption;
mod events;
pub mod layout;
mod prompt;
mod srtp;
mod stats;
mod stream;
mod video;

pub use codec::{AudioCodec, CodecOptions};
pub use control::{MediaControl, MediaError, MediaFuture, MeetingJoin};
pub use encryption::Encryption;
pub use events::MediaEvent;
pub use prompt::Prompt;
pub use srtp::{Crypto, DtlsRole, SrtpKey, SrtpSuite};
pub use stats::{JitterStats, LegStats, VideoStats};
pub use stream::{
    AudioFormat, BoundStream, Direction, Format, LegId, LegMedia, LegRequest, StreamKind,
    StreamMedia, StreamRequest,
};
pub use video::{
    h263_format_macroblocks, macroblocks, Feedback, KeyframeRequest, PayloadTypes, SendMode,
    VideoCodec, VideoFormat, VideoLimits, H263_SIZES, LADDER,
};
