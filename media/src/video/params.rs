//! A leg's video as the engine works with it: the negotiated video stream
//! of a [`LegMedia`] in one flat set of parameters.

use std::net::SocketAddr;

use media_api::{Direction, LegMedia, VideoFormat};

/// The negotiated parameters of a leg's video, from our side's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VideoParams {
    pub format: VideoFormat,
    pub payload_type: u8,
    /// Where the room wants RTP and RTCP (None while held).
    pub remote_rtp: Option<SocketAddr>,
    pub remote_rtcp: Option<SocketAddr>,
    pub direction: Direction,
    pub rtcp_mux: bool,
    /// What the room said it takes (`b=AS`/`b=TIAS`, within our maximum).
    pub bandwidth_kbps: Option<u32>,
}

impl VideoParams {
    /// The video stream of `media`, if it has one.
    pub fn of(media: &LegMedia) -> Option<VideoParams> {
        let (stream, format) = media.video()?;
        Some(VideoParams {
            format: *format,
            payload_type: stream.payload_type,
            remote_rtp: stream.remote_rtp,
            remote_rtcp: stream.rtcp_target(),
            direction: stream.direction,
            rtcp_mux: stream.rtcp_mux,
            bandwidth_kbps: stream.bandwidth_kbps,
        })
    }

    /// Whether the room sends us its camera.
    pub fn receives(&self) -> bool {
        matches!(self.direction, Direction::SendRecv | Direction::RecvOnly)
    }

    /// Whether the room takes our picture.
    pub fn sends(&self) -> bool {
        matches!(self.direction, Direction::SendRecv | Direction::SendOnly)
    }
}
