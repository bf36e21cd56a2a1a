//! Audio logical channels as H.245 OpenLogicalChannel requests, sent over
//! H.245 or proposed in fast start: one we send on (audio forward), and
//! one we would receive on (fast start's reverse proposal: nullData
//! forward, audio back to our RTP address).

use std::net::SocketAddr;

use h323_asn1::h245::{
    DataType, H2250LogicalChannelParameters, LogicalChannelNumber, OpenLogicalChannel,
    OpenLogicalChannelForwardLogicalChannelParameters,
    OpenLogicalChannelForwardLogicalChannelParametersMultiplexParameters as Forward,
    OpenLogicalChannelReverseLogicalChannelParameters,
    OpenLogicalChannelReverseLogicalChannelParametersMultiplexParameters as Reverse,
};
use media_api::AudioCodec;

use super::capabilities::audio;
use super::h245_address::h245_transport;

/// RTP session of audio (H.225.0).
pub const AUDIO_SESSION: u8 = 1;

/// H.225.0 parameters of an audio channel: RTP to `media` (when the
/// receiver is us), RTCP to `control`.
fn rtp_parameters(media: Option<SocketAddr>, control: SocketAddr) -> H2250LogicalChannelParameters {
    H2250LogicalChannelParameters::required(AUDIO_SESSION)
        .with_media_channel(media.map(h245_transport))
        .with_media_guaranteed_delivery(false)
        .with_media_control_channel(h245_transport(control))
        .with_silence_suppression(false)
}

/// The channel we send `codec` on (our RTCP in it); None for a codec H.323
/// does not carry.
pub fn sending(number: u16, codec: AudioCodec, rtcp: SocketAddr) -> Option<OpenLogicalChannel> {
    let forward = OpenLogicalChannelForwardLogicalChannelParameters::required(
        DataType::audioData(audio(codec)?),
        Forward::h2250LogicalChannelParameters(rtp_parameters(None, rtcp)),
    );
    Some(OpenLogicalChannel::required(
        LogicalChannelNumber(number),
        forward,
    ))
}

/// The channel we would receive `codec` on, at `rtp` and `rtcp`.
pub fn receiving(
    number: u16,
    codec: AudioCodec,
    rtp: SocketAddr,
    rtcp: SocketAddr,
) -> Option<OpenLogicalChannel> {
    let forward = OpenLogicalChannelForwardLogicalChannelParameters::required(
        DataType::nullData(()),
        Forward::none(()),
    );
    let reverse = OpenLogicalChannelReverseLogicalChannelParameters::required(DataType::audioData(
        audio(codec)?,
    ))
    .with_multiplex_parameters(Reverse::h2250LogicalChannelParameters(rtp_parameters(
        Some(rtp),
        rtcp,
    )));
    Some(
        OpenLogicalChannel::required(LogicalChannelNumber(number), forward)
            .with_reverse_logical_channel_parameters(reverse),
    )
}
