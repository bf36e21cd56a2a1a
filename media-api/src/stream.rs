//! A leg as a list of streams: what signaling asks media to bind, what
//! media bound, and what was negotiated for each stream.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::{AudioCodec, CodecOptions, Crypto, VideoFormat};

/// Identifies one room leg; signaling picks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LegId(pub u64);

/// What a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamKind {
    Audio,
    Video,
    /// Presentation (BFCP/H.239 content).
    Content,
}

/// SDP stream direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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

/// What to bind for a new leg: on which local address, and its streams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegRequest {
    /// The address the room reached us on (media binds there).
    pub ip: IpAddr,
    pub streams: Vec<StreamRequest>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamRequest {
    pub kind: StreamKind,
}

/// Where media bound a stream, in the order of the request. RTCP may be
/// sent to `rtcp` or, once rtcp-mux is agreed, to `rtp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundStream {
    pub kind: StreamKind,
    pub rtp: SocketAddr,
    pub rtcp: SocketAddr,
    /// The SHA-256 fingerprint of the certificate media shows in DTLS-SRTP
    /// handshakes on these ports (None: no DTLS here).
    #[serde(default)]
    pub dtls_fingerprint: Option<[u8; 32]>,
}

/// What a stream carries, in detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Format {
    Audio(AudioFormat),
    Video(VideoFormat),
}

/// An audio stream's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioFormat {
    pub codec: AudioCodec,
    /// What the room asked of the codec (`a=fmtp`).
    pub options: CodecOptions,
    /// Milliseconds of audio per packet.
    pub ptime: u32,
    /// RFC 4733 telephone-event payload type, if agreed.
    pub dtmf_payload_type: Option<u8>,
}

/// The negotiated parameters of one stream, from our side's point of view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamMedia {
    pub kind: StreamKind,
    pub payload_type: u8,
    pub format: Format,
    /// Our direction.
    pub direction: Direction,
    /// The far end's bandwidth limit for what we send (b=AS/TIAS), kbit/s.
    pub bandwidth_kbps: Option<u32>,
    /// Where the room wants RTP (None while held with c=0.0.0.0).
    pub remote_rtp: Option<SocketAddr>,
    /// Where the room wants RTCP (`a=rtcp`, else the port after RTP).
    pub remote_rtcp: Option<SocketAddr>,
    pub rtcp_mux: bool,
    pub crypto: Option<Crypto>,
}

impl StreamMedia {
    /// An audio stream's format.
    pub fn audio(&self) -> Option<&AudioFormat> {
        match &self.format {
            Format::Audio(audio) => Some(audio),
            Format::Video(_) => None,
        }
    }

    /// Where our RTCP for this stream goes: the RTP address once rtcp-mux
    /// is agreed.
    pub fn rtcp_target(&self) -> Option<SocketAddr> {
        if self.rtcp_mux {
            self.remote_rtp
        } else {
            self.remote_rtcp
        }
    }

    /// A video stream's format.
    pub fn video(&self) -> Option<&VideoFormat> {
        match &self.format {
            Format::Video(video) => Some(video),
            Format::Audio(_) => None,
        }
    }

    /// An audio stream of `format`, sendrecv, RTCP on the port after RTP.
    pub fn audio_stream(
        payload_type: u8,
        format: AudioFormat,
        remote_rtp: Option<SocketAddr>,
    ) -> StreamMedia {
        StreamMedia {
            kind: StreamKind::Audio,
            payload_type,
            format: Format::Audio(format),
            direction: Direction::SendRecv,
            bandwidth_kbps: None,
            remote_rtp,
            remote_rtcp: remote_rtp.map(|a| SocketAddr::new(a.ip(), a.port().wrapping_add(1))),
            rtcp_mux: false,
            crypto: None,
        }
    }
}

/// The negotiated streams of a leg (first answer, re-INVITE, UPDATE,
/// H.245 logical channels).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegMedia {
    pub streams: Vec<StreamMedia>,
}

impl LegMedia {
    /// A leg of one stream.
    pub fn of(stream: StreamMedia) -> LegMedia {
        LegMedia {
            streams: vec![stream],
        }
    }

    /// The leg's audio stream and its format, if it has one.
    pub fn audio(&self) -> Option<(&StreamMedia, &AudioFormat)> {
        self.streams.iter().find_map(|s| Some((s, s.audio()?)))
    }

    /// The leg's video stream and its format, if it has one.
    pub fn video(&self) -> Option<(&StreamMedia, &VideoFormat)> {
        self.streams.iter().find_map(|s| Some((s, s.video()?)))
    }
}
