//! Fast connect (H.323 8.1.7): the caller proposes, in its Setup, the
//! logical channels it would send and receive; we pick one audio codec
//! carried both ways, and answer with those two proposals completed by our
//! RTP and RTCP addresses (the caller's sending channel gets where we
//! receive; its receiving channel keeps its number and gets our RTCP).
//! The rest (video, codecs we do not speak) is declined by leaving it out.

use std::net::SocketAddr;

use h323_asn1::h245::{
    DataType, OpenLogicalChannel,
    OpenLogicalChannelForwardLogicalChannelParametersMultiplexParameters as Forward,
    OpenLogicalChannelReverseLogicalChannelParametersMultiplexParameters as Reverse,
};
use media::AudioCodec;

use super::capabilities::codec_of;
use super::h245::{h245_socket_addr, h245_transport};

/// The accepted fast-start channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastStart {
    /// Encoded OpenLogicalChannel answers for Alerting/Connect.
    pub answers: Vec<Vec<u8>>,
    pub codec: AudioCodec,
    /// Where the caller receives RTP and RTCP.
    pub room_rtp: SocketAddr,
    pub room_rtcp: Option<SocketAddr>,
}

/// A proposal read from the Setup.
struct Proposal {
    olc: OpenLogicalChannel,
    codec: AudioCodec,
    /// True when the caller would receive on it (reverse parameters).
    room_receives: bool,
}

/// Answers the caller's proposals with `codecs` in our order of
/// preference; None when no codec goes both ways (the call then opens its
/// channels over H.245).
pub fn answer(
    proposals: &[Vec<u8>],
    codecs: &[AudioCodec],
    rtp: SocketAddr,
    rtcp: SocketAddr,
) -> Option<FastStart> {
    let read: Vec<Proposal> = proposals
        .iter()
        .filter_map(|p| h323_asn1::decode::<OpenLogicalChannel>(p).ok())
        .filter_map(proposal)
        .collect();
    let find = |codec: AudioCodec, room_receives: bool| {
        read.iter()
            .find(|p| p.codec == codec && p.room_receives == room_receives)
    };
    let (codec, to_room, from_room) = codecs
        .iter()
        .find_map(|&c| Some((c, find(c, true)?, find(c, false)?)))?;

    let mut to_room = to_room.olc.clone();
    let reverse = to_room.reverse_logical_channel_parameters.as_mut()?;
    let Some(Reverse::h2250LogicalChannelParameters(h2250)) = reverse.multiplex_parameters.as_mut()
    else {
        return None;
    };
    let room_rtp = h2250
        .media_channel
        .take()
        .as_ref()
        .and_then(h245_socket_addr)?;
    let room_rtcp = h2250
        .media_control_channel
        .replace(h245_transport(rtcp))
        .as_ref()
        .and_then(h245_socket_addr);

    let mut from_room = from_room.olc.clone();
    let Forward::h2250LogicalChannelParameters(h2250) = &mut from_room
        .forward_logical_channel_parameters
        .multiplex_parameters
    else {
        return None;
    };
    h2250.media_channel = Some(h245_transport(rtp));
    h2250.media_control_channel = Some(h245_transport(rtcp));

    Some(FastStart {
        answers: [to_room, from_room]
            .iter()
            .filter_map(|o| h323_asn1::encode(o).ok())
            .collect(),
        codec,
        room_rtp,
        room_rtcp,
    })
}

fn proposal(olc: OpenLogicalChannel) -> Option<Proposal> {
    let audio = |t: &DataType| match t {
        DataType::audioData(a) => codec_of(a),
        _ => None,
    };
    let (codec, over_rtp, room_receives) = match &olc.reverse_logical_channel_parameters {
        Some(reverse) => (
            audio(&reverse.data_type)?,
            matches!(
                reverse.multiplex_parameters,
                Some(Reverse::h2250LogicalChannelParameters(_))
            ),
            true,
        ),
        None => {
            let forward = &olc.forward_logical_channel_parameters;
            (
                audio(&forward.data_type)?,
                matches!(
                    forward.multiplex_parameters,
                    Forward::h2250LogicalChannelParameters(_)
                ),
                false,
            )
        }
    };
    over_rtp.then_some(Proposal {
        olc,
        codec,
        room_receives,
    })
}
