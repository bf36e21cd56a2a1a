//! A leg's audio as the engine works with it: the negotiated audio stream
//! of a [`LegMedia`] in one flat set of parameters.

use std::net::SocketAddr;

use media_api::{AudioCodec, CodecOptions, Crypto, Direction, LegMedia};

/// The negotiated parameters of a leg's audio, from our side's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AudioParams {
    pub codec: AudioCodec,
    pub options: CodecOptions,
    pub payload_type: u8,
    pub dtmf_payload_type: Option<u8>,
    pub ptime: u32,
    /// Where the room wants RTP (None while held with c=0.0.0.0).
    pub remote_rtp: Option<SocketAddr>,
    pub remote_rtcp: Option<SocketAddr>,
    /// Our direction.
    pub direction: Direction,
    pub rtcp_mux: bool,
    /// SRTP keys, when the stream is encrypted.
    pub crypto: Option<Crypto>,
}

impl AudioParams {
    /// The audio stream of `media`, if it has one.
    pub fn of(media: &LegMedia) -> Option<AudioParams> {
        let (stream, audio) = media.audio()?;
        Some(AudioParams {
            codec: audio.codec,
            options: audio.options,
            payload_type: stream.payload_type,
            dtmf_payload_type: audio.dtmf_payload_type,
            ptime: audio.ptime,
            remote_rtp: stream.remote_rtp,
            remote_rtcp: stream.rtcp_target(),
            direction: stream.direction,
            rtcp_mux: stream.rtcp_mux,
            crypto: stream.crypto.clone(),
        })
    }
}
