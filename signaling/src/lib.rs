//! Call signaling for room systems: SIP protocol layers ([`sip`]), dial
//! strings, SDP offer/answer, the IVR, and the call logic that admits rooms
//! into meetings ([`core`]), plus the thin tokio driver ([`driver`]).

pub mod call;
pub mod controller;
pub mod core;
pub mod dialstring;
pub mod driver;
mod flows;
pub mod h323;
pub mod ivr;
mod keepalive;
pub mod local_udp;
mod media_queue;
pub mod proxied;
pub mod release;
pub mod sdp;
pub mod sip;
mod sip_stream;
pub mod tls;
