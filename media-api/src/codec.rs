//! Audio codecs a stream can carry and the parameters the far end asked of
//! them.

use serde::{Deserialize, Serialize};

/// Audio codecs offered to and accepted from rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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

/// Parameters the far end asked for in SDP (`a=fmtp`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodecOptions {
    /// Opus in-band FEC (`useinbandfec=1`).
    pub fec: bool,
    /// Opus discontinuous transmission (`usedtx=1`).
    pub dtx: bool,
    /// Highest audio rate worth encoding (Opus `maxplaybackrate`): the
    /// encoder limits its bandwidth to it.
    pub max_playback_rate: Option<u32>,
}
