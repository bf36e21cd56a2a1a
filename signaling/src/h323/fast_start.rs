//! Fast connect (H.323 8.1.7): the caller proposes, in its Setup, the
//! logical channels it would send and receive; the called side picks one
//! audio codec carried both ways and answers with those two proposals
//! completed by its RTP and RTCP addresses (the caller's sending channel
//! gets where the callee receives; its receiving channel keeps its number
//! and gets the callee's RTCP). The rest (video, codecs we do not speak)
//! is declined by leaving it out. Both sides are here: answering a room's
//! proposals, and proposing ours when we call a room and reading its
//! answer.

use std::net::SocketAddr;

use h323_asn1::h245::{
    DataType, OpenLogicalChannel,
    OpenLogicalChannelForwardLogicalChannelParametersMultiplexParameters as Forward,
    OpenLogicalChannelReverseLogicalChannelParametersMultiplexParameters as Reverse,
};
use media_api::AudioCodec;

use super::capabilities::codec_of;
use super::channels::{receiving, sending};
use super::h245_address::{h245_socket_addr, h245_transport};

/// The media fast start settled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreed {
    pub codec: AudioCodec,
    /// Where the room receives RTP and RTCP.
    pub room_rtp: SocketAddr,
    pub room_rtcp: Option<SocketAddr>,
}

/// Our answer to a caller's proposals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastStart {
    /// Encoded OpenLogicalChannel answers for Alerting/Connect.
    pub answers: Vec<Vec<u8>>,
    pub agreed: Agreed,
}

/// An audio channel of a Setup's proposals or of their answer.
struct Proposal {
    olc: OpenLogicalChannel,
    codec: AudioCodec,
    /// True for a channel the called side sends on (reverse parameters),
    /// false for one the caller sends on.
    callee_sends: bool,
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
    let find = |codec: AudioCodec, callee_sends: bool| {
        read.iter()
            .find(|p| p.codec == codec && p.callee_sends == callee_sends)
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
        agreed: Agreed {
            codec,
            room_rtp,
            room_rtcp,
        },
    })
}

/// Our proposals when we call: for each codec in our order, the channel we
/// would receive on (at `rtp`, `rtcp`) and the one we would send on.
pub fn propose(codecs: &[AudioCodec], rtp: SocketAddr, rtcp: SocketAddr) -> Vec<Vec<u8>> {
    let mut number = 0;
    let mut next = || {
        number += 1;
        number
    };
    codecs
        .iter()
        .flat_map(|&c| [receiving(next(), c, rtp, rtcp), sending(next(), c, rtcp)])
        .flatten()
        .filter_map(|olc| h323_asn1::encode(&olc).ok())
        .collect()
}

/// What the called room's fast-start answer settled: the channel we send
/// on, as it completed it with its RTP address; None when it accepted
/// none (the call then opens its channels over H.245).
pub fn accepted(answers: &[Vec<u8>], codecs: &[AudioCodec]) -> Option<Agreed> {
    answers
        .iter()
        .filter_map(|a| h323_asn1::decode::<OpenLogicalChannel>(a).ok())
        .filter_map(proposal)
        .filter(|p| !p.callee_sends && codecs.contains(&p.codec))
        .find_map(|p| {
            let Forward::h2250LogicalChannelParameters(h2250) = &p
                .olc
                .forward_logical_channel_parameters
                .multiplex_parameters
            else {
                return None;
            };
            Some(Agreed {
                codec: p.codec,
                room_rtp: h2250.media_channel.as_ref().and_then(h245_socket_addr)?,
                room_rtcp: h2250
                    .media_control_channel
                    .as_ref()
                    .and_then(h245_socket_addr),
            })
        })
}

fn proposal(olc: OpenLogicalChannel) -> Option<Proposal> {
    let audio = |t: &DataType| match t {
        DataType::audioData(a) => codec_of(a),
        _ => None,
    };
    let (codec, over_rtp, callee_sends) = match &olc.reverse_logical_channel_parameters {
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
        callee_sends,
    })
}
