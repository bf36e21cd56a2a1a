//! Media for room calls. Signaling drives it through the narrow
//! [`MediaControl`] interface of `media-api` (an in-process call in `mra
//! run`, shaped so a networked media node can implement it): create a leg
//! (its streams bound, their addresses returned), configure it with the
//! negotiated parameters, put it in a meeting (where it becomes a
//! participant through the meeting's hub on this node, see [`hub`]), play
//! prompts, read its stats, destroy it. Legs report [`MediaEvent`]s.

pub mod audio;
mod delay_peak;
mod dtls;
mod engine;
mod hub;
pub mod jitter;
pub mod mixer;
mod params;
mod ports;
pub mod prompts;
pub mod rtp_stats;
mod srtp;
pub mod telephone_event;
pub mod tones;
pub mod video;

pub use engine::{EngineCounts, MeetingLink, RtpEngine};
pub use ports::PortRange;
