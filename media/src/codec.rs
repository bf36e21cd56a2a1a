//! Audio codecs a room leg can negotiate, stream direction, and the
//! negotiated parameters of a leg.

use std::net::SocketAddr;

use crate::audio::CodecOptions;

/// Audio codecs offered to and accepted from rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioCodec {
    Opus,
    G722,
    Pcmu,
    Pcma,
}

impl AudioCodec {
    /// Whether an SDP `rtpmap` encoding name and clock rate denote this codec.
    pub fn matches(self, name: &str, clock_rate: u32) -> bool {
        let (n, r) = match self {
            AudioCodec::Opus => ("opus", 48000),
            AudioCodec::G722 => ("G722", 8000),
            AudioCodec::Pcmu => ("PCMU", 8000),
            AudioCodec::Pcma => ("PCMA", 8000),
        };
        name.eq_ignore_ascii_case(n) && clock_rate == r
    }

    /// Audio sample rate the codec carries (G.722's RTP clock says 8000).
    pub fn audio_rate(self) -> u32 {
        match self {
            AudioCodec::Pcmu | AudioCodec::Pcma => 8000,
            AudioCodec::G722 => 16000,
            AudioCodec::Opus => 48000,
        }
    }

    /// RTP clock rate (G.722 uses 8000 by RFC 3551's historical error).
    pub fn clock_rate(self) -> u32 {
        match self {
            AudioCodec::Opus => 48000,
            _ => 8000,
        }
    }

    /// `rtpmap` value after the payload type.
    pub fn rtpmap(self) -> &'static str {
        match self {
            AudioCodec::Opus => "opus/48000/2",
            AudioCodec::G722 => "G722/8000",
            AudioCodec::Pcmu => "PCMU/8000",
            AudioCodec::Pcma => "PCMA/8000",
        }
    }

    /// `fmtp` parameters we advertise.
    pub fn fmtp(self) -> Option<&'static str> {
        match self {
            AudioCodec::Opus => Some("minptime=10;useinbandfec=1"),
            _ => None,
        }
    }

    /// Payload type used in our offers.
    pub fn default_payload_type(self) -> u8 {
        match self {
            AudioCodec::Opus => 111,
            AudioCodec::G722 => 9,
            AudioCodec::Pcmu => 0,
            AudioCodec::Pcma => 8,
        }
    }

    /// Parses a configuration name (`opus`, `g722`, `pcmu`, `pcma`).
    pub fn from_name(name: &str) -> Option<AudioCodec> {
        match name.to_ascii_lowercase().as_str() {
            "opus" => Some(AudioCodec::Opus),
            "g722" => Some(AudioCodec::G722),
            "pcmu" | "g711u" => Some(AudioCodec::Pcmu),
            "pcma" | "g711a" => Some(AudioCodec::Pcma),
            _ => None,
        }
    }
}

/// SDP stream direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// Our direction in an answer to a remote offer with this direction (RFC 3264 6.1).
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    pub fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Whether the room is on hold (we may not send to it).
    pub fn is_hold(self) -> bool {
        matches!(self, Direction::RecvOnly | Direction::Inactive)
    }
}

/// Negotiated parameters of a room leg, from our side's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegMedia {
    pub codec: AudioCodec,
    /// What the room asked of the codec (`a=fmtp`).
    pub options: CodecOptions,
    pub payload_type: u8,
    pub dtmf_payload_type: Option<u8>,
    pub ptime: u32,
    /// Where the room wants RTP (None while held with c=0.0.0.0).
    pub remote: Option<SocketAddr>,
    /// Our direction.
    pub direction: Direction,
    pub rtcp_mux: bool,
}
