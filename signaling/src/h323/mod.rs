//! H.323: the framing and message layers of H.225.0 call signalling
//! (TPKT, Q.931); message types come from the `h323-asn1` crate.

pub mod address;
pub mod capabilities;
pub mod channel_media;
pub mod channels;
pub mod connections;
pub mod fast_start;
pub mod h225_call;
pub mod h235;
pub mod h245;
pub mod h245_address;
pub mod h245_video;
mod h263;
mod h264;
pub mod io;
pub mod leg;
pub mod msd;
pub mod q931;
pub mod ras;
pub mod ras_socket;
pub mod release;
pub mod tpkt;
