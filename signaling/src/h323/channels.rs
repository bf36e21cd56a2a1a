//! Logical channels as H.245 OpenLogicalChannel requests, sent over H.245
//! or proposed in fast start: one we send on (forward), and one we would
//! receive on (fast start's reverse proposal: nullData forward, the media
//! back to our RTP address). Audio is session 1; video is session 2:
//! H.264 with its dynamic payload type and packetization mode, or H.263
//! on its static payload type in RFC 2190 packets.

use std::net::SocketAddr;

use h323_asn1::h245::{
    DataType, H2250LogicalChannelParameters,
    H2250LogicalChannelParametersMediaPacketization as Packetization, LogicalChannelNumber,
    OpenLogicalChannel, OpenLogicalChannelForwardLogicalChannelParameters,
    OpenLogicalChannelForwardLogicalChannelParametersMultiplexParameters as Forward,
    OpenLogicalChannelReverseLogicalChannelParameters,
    OpenLogicalChannelReverseLogicalChannelParametersMultiplexParameters as Reverse,
    VideoCapability,
};
use media_api::{AudioCodec, VideoLimits};

use super::capabilities::{audio, video_of, VideoCap};
use super::h245_address::h245_transport;
use super::{h263, h264};

/// RTP session of audio (H.225.0).
pub const AUDIO_SESSION: u8 = 1;
/// RTP session of video.
pub const VIDEO_SESSION: u8 = 2;

/// What a channel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carried {
    Audio(AudioCodec),
    /// H.264 constrained baseline at `level_idc` raised to `limits`, at
    /// most `kbps`, on `payload_type` in packetization `mode`.
    H264 {
        level_idc: u8,
        limits: VideoLimits,
        kbps: u32,
        payload_type: u8,
        mode: u8,
    },
    /// H.263 in QCIF, CIF or 4CIF, at most `kbps`.
    H263 {
        kbps: u32,
    },
}

impl Carried {
    fn data_type(self) -> Option<DataType> {
        Some(match self {
            Carried::Audio(codec) => DataType::audioData(audio(codec)?),
            Carried::H264 {
                level_idc,
                limits,
                kbps,
                ..
            } => DataType::videoData(VideoCapability::genericVideoCapability(h264::capability(
                level_idc, limits, kbps,
            ))),
            Carried::H263 { kbps } => {
                DataType::videoData(VideoCapability::h263VideoCapability(h263::capability(kbps)))
            }
        })
    }

    /// H.225.0 parameters: RTP to `media` (when the receiver is us), RTCP
    /// to `control`.
    fn rtp_parameters(
        self,
        media: Option<SocketAddr>,
        control: SocketAddr,
    ) -> H2250LogicalChannelParameters {
        let session = match self {
            Carried::Audio(_) => AUDIO_SESSION,
            Carried::H264 { .. } | Carried::H263 { .. } => VIDEO_SESSION,
        };
        let p = H2250LogicalChannelParameters::required(session)
            .with_media_channel(media.map(h245_transport))
            .with_media_guaranteed_delivery(false)
            .with_media_control_channel(h245_transport(control))
            .with_silence_suppression(false);
        match self {
            Carried::Audio(_) | Carried::H263 { .. } => p,
            Carried::H264 {
                payload_type, mode, ..
            } => p
                .with_dynamic_rtppayload_type(payload_type)
                .with_media_packetization(Packetization::rtpPayloadType(h264::packetization(
                    mode,
                    Some(payload_type),
                ))),
        }
    }
}

/// The channel we send `what` on (our RTCP in it); None for a codec H.323
/// does not carry.
pub fn sending(number: u16, what: Carried, rtcp: SocketAddr) -> Option<OpenLogicalChannel> {
    let forward = OpenLogicalChannelForwardLogicalChannelParameters::required(
        what.data_type()?,
        Forward::h2250LogicalChannelParameters(what.rtp_parameters(None, rtcp)),
    );
    Some(OpenLogicalChannel::required(
        LogicalChannelNumber(number),
        forward,
    ))
}

/// The channel we would receive `what` on, at `rtp` and `rtcp`.
pub fn receiving(
    number: u16,
    what: Carried,
    rtp: SocketAddr,
    rtcp: SocketAddr,
) -> Option<OpenLogicalChannel> {
    let forward = OpenLogicalChannelForwardLogicalChannelParameters::required(
        DataType::nullData(()),
        Forward::none(()),
    );
    let reverse = OpenLogicalChannelReverseLogicalChannelParameters::required(what.data_type()?)
        .with_multiplex_parameters(Reverse::h2250LogicalChannelParameters(
            what.rtp_parameters(Some(rtp), rtcp),
        ));
    Some(
        OpenLogicalChannel::required(LogicalChannelNumber(number), forward)
            .with_reverse_logical_channel_parameters(reverse),
    )
}

/// The payload type and packetization mode of a channel's H.225.0
/// parameters (mode 0, H.241's default, when it names none).
pub fn video_payload(p: &H2250LogicalChannelParameters) -> (Option<u8>, u8) {
    let described = match &p.media_packetization {
        Some(Packetization::rtpPayloadType(t)) => Some(t),
        _ => None,
    };
    let payload_type = p
        .dynamic_rtppayload_type
        .or(described.and_then(|t| t.payload_type));
    let mode = described.and_then(h264::mode_of).unwrap_or(0);
    (payload_type, mode)
}

/// A video channel as a room proposed or opened it: its codec, the
/// payload type and the (H.264) packetization mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoChannel {
    pub codec: VideoCap,
    pub payload_type: u8,
    pub mode: u8,
}

impl VideoChannel {
    /// The channel of `data_type` with these parameters, if it is H.264
    /// or H.263.
    pub fn of(data_type: &DataType, p: &H2250LogicalChannelParameters) -> Option<VideoChannel> {
        let DataType::videoData(video) = data_type else {
            return None;
        };
        let codec = video_of(video)?;
        let (payload_type, mode) = video_payload(p);
        let default = match codec {
            VideoCap::H264(_) => DEFAULT_VIDEO_PAYLOAD_TYPE,
            VideoCap::H263(_) => H263_PAYLOAD_TYPE,
        };
        Some(VideoChannel {
            codec,
            payload_type: payload_type.unwrap_or(default),
            mode,
        })
    }
}

/// H.263's static payload type (RFC 3551).
pub const H263_PAYLOAD_TYPE: u8 = 34;

/// The payload type of H.264 channels that name none, and of ours.
pub const DEFAULT_VIDEO_PAYLOAD_TYPE: u8 = 109;
