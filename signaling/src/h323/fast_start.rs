//! Fast connect (H.323 8.1.7): the caller proposes, in its Setup, the
//! logical channels it would send and receive; the called side picks one
//! audio codec carried both ways and H.264 video each way it is proposed,
//! and answers with those proposals completed by its RTP and RTCP
//! addresses (the caller's sending channel gets where the callee
//! receives; its receiving channel keeps its number and gets the callee's
//! RTCP). The rest (codecs we do not speak) is declined by leaving it out.
//! Both sides are here: answering a room's proposals, and proposing ours
//! when we call a room and reading its answer.

use std::net::SocketAddr;

use h323_asn1::h245::{
    DataType, H2250LogicalChannelParameters, OpenLogicalChannel,
    OpenLogicalChannelForwardLogicalChannelParametersMultiplexParameters as Forward,
    OpenLogicalChannelReverseLogicalChannelParametersMultiplexParameters as Reverse,
};
use media_api::{AudioCodec, BoundStream, VideoCodec, VideoLimits};

use super::capabilities::codec_of;
use super::channels::{receiving, sending, Carried, VideoChannel, DEFAULT_VIDEO_PAYLOAD_TYPE};
use super::h245_address::{h245_socket_addr, h245_transport};

/// The media fast start settled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreed {
    pub codec: AudioCodec,
    /// Where the room receives RTP and RTCP.
    pub room_rtp: SocketAddr,
    pub room_rtcp: Option<SocketAddr>,
    /// The video channels agreed, if any.
    pub video: Option<AgreedVideo>,
}

/// Video as fast start settled it: each way optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgreedVideo {
    /// What the room receives and where (RTP, RTCP).
    pub to_room: Option<(VideoChannel, SocketAddr, Option<SocketAddr>)>,
    /// The room's channel to us: its number and what it carries.
    pub from_room: Option<(u16, VideoChannel)>,
}

/// Our answer to a caller's proposals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastStart {
    /// Encoded OpenLogicalChannel answers for Alerting/Connect.
    pub answers: Vec<Vec<u8>>,
    pub agreed: Agreed,
}

/// What a proposed channel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Audio(AudioCodec),
    Video(VideoChannel),
}

/// A channel of a Setup's proposals or of their answer.
struct Proposal {
    olc: OpenLogicalChannel,
    kind: Kind,
    /// True for a channel the called side sends on (reverse parameters),
    /// false for one the caller sends on.
    callee_sends: bool,
}

/// The parameters of a proposal's channel.
fn parameters(
    olc: &mut OpenLogicalChannel,
    callee_sends: bool,
) -> Option<&mut H2250LogicalChannelParameters> {
    if callee_sends {
        match olc
            .reverse_logical_channel_parameters
            .as_mut()?
            .multiplex_parameters
            .as_mut()?
        {
            Reverse::h2250LogicalChannelParameters(p) => Some(p),
            _ => None,
        }
    } else {
        match &mut olc.forward_logical_channel_parameters.multiplex_parameters {
            Forward::h2250LogicalChannelParameters(p) => Some(p),
            _ => None,
        }
    }
}

/// Answers the caller's proposals with `codecs` in our order of
/// preference, and video when we bound it (`video`: where, and the
/// codecs we take in our order); None when no audio codec goes both ways
/// (the call then opens its channels over H.245).
pub fn answer(
    proposals: &[Vec<u8>],
    codecs: &[AudioCodec],
    audio: BoundStream,
    video: Option<(BoundStream, &[VideoCodec])>,
) -> Option<FastStart> {
    let read: Vec<Proposal> = proposals
        .iter()
        .filter_map(|p| h323_asn1::decode::<OpenLogicalChannel>(p).ok())
        .filter_map(proposal)
        .collect();
    let find = |codec: AudioCodec, callee_sends: bool| {
        read.iter()
            .find(|p| p.kind == Kind::Audio(codec) && p.callee_sends == callee_sends)
    };
    let (codec, to_room, from_room) = codecs
        .iter()
        .find_map(|&c| Some((c, find(c, true)?, find(c, false)?)))?;
    let mut answers = Vec::new();
    let (room_rtp, room_rtcp) = answer_to_room(to_room, audio, &mut answers)?;
    answer_from_room(from_room, audio, &mut answers)?;

    let video = video.map(|(ours, taken)| {
        let rank = |p: &Proposal| match p.kind {
            Kind::Video(v) => taken.iter().position(|&c| c == v.codec.codec()),
            Kind::Audio(_) => None,
        };
        let first = |callee_sends: bool| {
            read.iter()
                .filter(|p| p.callee_sends == callee_sends)
                .filter_map(|p| Some((rank(p)?, p)))
                .min_by_key(|(rank, _)| *rank)
                .map(|(_, p)| p)
        };
        let channel = |p: &Proposal| match p.kind {
            Kind::Video(v) => v,
            Kind::Audio(_) => unreachable!("video proposals only"),
        };
        let to_room = first(true).and_then(|p| {
            let (rtp, rtcp) = answer_to_room(p, ours, &mut answers)?;
            Some((channel(p), rtp, rtcp))
        });
        let from_room = first(false).and_then(|p| {
            answer_from_room(p, ours, &mut answers)?;
            Some((p.olc.forward_logical_channel_number.0, channel(p)))
        });
        AgreedVideo { to_room, from_room }
    });
    Some(FastStart {
        answers,
        agreed: Agreed {
            codec,
            room_rtp,
            room_rtcp,
            video: video.filter(|v| v.to_room.is_some() || v.from_room.is_some()),
        },
    })
}

/// Answers a channel we send on: the room's RTP and RTCP taken out, our
/// RTCP put in.
fn answer_to_room(
    p: &Proposal,
    ours: BoundStream,
    answers: &mut Vec<Vec<u8>>,
) -> Option<(SocketAddr, Option<SocketAddr>)> {
    let mut olc = p.olc.clone();
    let h2250 = parameters(&mut olc, true)?;
    let rtp = h2250
        .media_channel
        .take()
        .as_ref()
        .and_then(h245_socket_addr)?;
    let rtcp = h2250
        .media_control_channel
        .replace(h245_transport(ours.rtcp))
        .as_ref()
        .and_then(h245_socket_addr);
    answers.push(h323_asn1::encode(&olc).ok()?);
    Some((rtp, rtcp))
}

/// Answers a channel the room sends on: our RTP and RTCP put in.
fn answer_from_room(p: &Proposal, ours: BoundStream, answers: &mut Vec<Vec<u8>>) -> Option<()> {
    let mut olc = p.olc.clone();
    let h2250 = parameters(&mut olc, false)?;
    h2250.media_channel = Some(h245_transport(ours.rtp));
    h2250.media_control_channel = Some(h245_transport(ours.rtcp));
    answers.push(h323_asn1::encode(&olc).ok()?);
    Some(())
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
        .flat_map(|&c| {
            [
                receiving(next(), Carried::Audio(c), rtp, rtcp),
                sending(next(), Carried::Audio(c), rtcp),
            ]
        })
        .flatten()
        .filter_map(|olc| h323_asn1::encode(&olc).ok())
        .collect()
}

/// The first channel number of our video proposals (audio's count up from 1).
const FIRST_VIDEO_CHANNEL: u16 = 101;

/// Our H.264 proposals when we call, after the audio ones: the channel we
/// would receive on (at `ours`; up to 1080p) and the one we would send on
/// (level 3.1, 720p30), each in packetization mode 1 and then mode 0 for
/// rooms that take only single NAL units; at most `kbps`.
pub fn propose_video(ours: BoundStream, kbps: u32) -> Vec<Vec<u8>> {
    let h264 = |limits, mode| Carried::H264 {
        level_idc: 31,
        limits,
        kbps,
        payload_type: DEFAULT_VIDEO_PAYLOAD_TYPE,
        mode,
    };
    let level = VideoLimits::of_h264_level(31, false);
    let n = FIRST_VIDEO_CHANNEL;
    [
        receiving(n, h264(VideoLimits::HD1080, 1), ours.rtp, ours.rtcp),
        receiving(n + 1, h264(VideoLimits::HD1080, 0), ours.rtp, ours.rtcp),
        sending(n + 2, h264(level, 1), ours.rtcp),
        sending(n + 3, h264(level, 0), ours.rtcp),
    ]
    .into_iter()
    .flatten()
    .filter_map(|olc| h323_asn1::encode(&olc).ok())
    .collect()
}

/// What the called room's fast-start answer settled: the audio channel we
/// send on, as it completed it with its RTP address, and the video
/// channels it took; None when it accepted no audio (the call then opens
/// its channels over H.245).
pub fn accepted(answers: &[Vec<u8>], codecs: &[AudioCodec]) -> Option<Agreed> {
    let read: Vec<Proposal> = answers
        .iter()
        .filter_map(|a| h323_asn1::decode::<OpenLogicalChannel>(a).ok())
        .filter_map(proposal)
        .collect();
    let mut agreed = accepted_audio(&read, codecs)?;
    let video = AgreedVideo {
        to_room: read.iter().find_map(|p| match p.kind {
            Kind::Video(v) if !p.callee_sends => {
                let (rtp, rtcp) = room_addresses(p)?;
                Some((v, rtp, rtcp))
            }
            _ => None,
        }),
        from_room: read.iter().find_map(|p| match p.kind {
            Kind::Video(v) if p.callee_sends => Some((p.olc.forward_logical_channel_number.0, v)),
            _ => None,
        }),
    };
    agreed.video = Some(video).filter(|v| v.to_room.is_some() || v.from_room.is_some());
    Some(agreed)
}

/// The audio channel we send on, as the called room completed it.
fn accepted_audio(read: &[Proposal], codecs: &[AudioCodec]) -> Option<Agreed> {
    read.iter().filter(|p| !p.callee_sends).find_map(|p| {
        let Kind::Audio(codec) = p.kind else {
            return None;
        };
        let (room_rtp, room_rtcp) = room_addresses(p).filter(|_| codecs.contains(&codec))?;
        Some(Agreed {
            codec,
            room_rtp,
            room_rtcp,
            video: None,
        })
    })
}

/// Where the called room receives on a channel we send on (RTP, RTCP),
/// as its answer completed our proposal.
fn room_addresses(p: &Proposal) -> Option<(SocketAddr, Option<SocketAddr>)> {
    let mut olc = p.olc.clone();
    let h2250 = parameters(&mut olc, false)?;
    let rtp = h2250.media_channel.as_ref().and_then(h245_socket_addr)?;
    let rtcp = h2250
        .media_control_channel
        .as_ref()
        .and_then(h245_socket_addr);
    Some((rtp, rtcp))
}

fn proposal(mut olc: OpenLogicalChannel) -> Option<Proposal> {
    let callee_sends = olc.reverse_logical_channel_parameters.is_some();
    let data_type = match &olc.reverse_logical_channel_parameters {
        Some(reverse) => reverse.data_type.clone(),
        None => olc.forward_logical_channel_parameters.data_type.clone(),
    };
    let h2250 = parameters(&mut olc, callee_sends)?;
    let kind = match &data_type {
        DataType::audioData(a) => Kind::Audio(codec_of(a)?),
        video => Kind::Video(VideoChannel::of(video, h2250)?),
    };
    Some(Proposal {
        olc,
        kind,
        callee_sends,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use media_api::StreamKind;

    fn bound(kind: StreamKind, port: u16) -> BoundStream {
        BoundStream {
            kind,
            rtp: SocketAddr::from(([127, 0, 0, 1], port)),
            rtcp: SocketAddr::from(([127, 0, 0, 1], port + 1)),
            dtls_fingerprint: None,
        }
    }

    /// Our call-out proposals answered by a room that answers as we do
    /// (mode 1 taken each way), then read back: audio and H.264 both ways,
    /// at the room's addresses.
    #[test]
    fn a_called_room_takes_our_video_in_fast_start() {
        let codecs = [AudioCodec::Pcmu];
        let (our_audio, our_video) = (
            bound(StreamKind::Audio, 30000),
            bound(StreamKind::Video, 30002),
        );
        let mut proposals = propose(&codecs, our_audio.rtp, our_audio.rtcp);
        proposals.extend(propose_video(our_video, 1920));
        let (room_audio, room_video) = (
            bound(StreamKind::Audio, 40000),
            bound(StreamKind::Video, 40002),
        );
        let taken = [VideoCodec::H264];
        let answer =
            answer(&proposals, &codecs, room_audio, Some((room_video, &taken))).expect("answered");
        let room_took = answer.agreed.video.expect("video answered");
        assert_eq!(room_took.to_room.map(|(v, ..)| v.mode), Some(1));

        let agreed = accepted(&answer.answers, &codecs).expect("audio accepted");
        assert_eq!(agreed.room_rtp, room_audio.rtp);
        let video = agreed.video.expect("video accepted");
        let (sent, rtp, rtcp) = video.to_room.expect("our channel to the room");
        assert_eq!((rtp, rtcp), (room_video.rtp, Some(room_video.rtcp)));
        assert_eq!(
            (sent.mode, sent.payload_type),
            (1, DEFAULT_VIDEO_PAYLOAD_TYPE)
        );
        let (number, received) = video.from_room.expect("the room's channel to us");
        assert_eq!((number, received.mode), (FIRST_VIDEO_CHANNEL, 1));
    }

    #[test]
    fn a_called_room_without_video_leaves_it_out() {
        let codecs = [AudioCodec::Pcmu];
        let ours = bound(StreamKind::Audio, 30000);
        let mut proposals = propose(&codecs, ours.rtp, ours.rtcp);
        proposals.extend(propose_video(bound(StreamKind::Video, 30002), 1920));
        let answer = answer(&proposals, &codecs, bound(StreamKind::Audio, 40000), None).unwrap();
        let agreed = accepted(&answer.answers, &codecs).expect("audio accepted");
        assert_eq!(agreed.video, None);
    }

    #[test]
    fn h263_is_answered_only_when_we_take_it_and_h264_first() {
        let codecs = [AudioCodec::Pcmu];
        let (audio, video) = (
            bound(StreamKind::Audio, 30000),
            bound(StreamKind::Video, 30002),
        );
        let h263 = Carried::H263 { kbps: 768 };
        let mut old_room = propose(&codecs, audio.rtp, audio.rtcp);
        old_room.extend(
            [
                receiving(11, h263, video.rtp, video.rtcp),
                sending(12, h263, video.rtcp),
            ]
            .iter()
            .flatten()
            .map(|o| h323_asn1::encode(o).unwrap()),
        );
        let ours = bound(StreamKind::Audio, 40000);
        let ours_video = bound(StreamKind::Video, 40002);
        let answered = |proposals: &[Vec<u8>], taken: &[VideoCodec]| {
            answer(proposals, &codecs, ours, Some((ours_video, taken)))
                .expect("audio answered")
                .agreed
                .video
                .and_then(|v| v.to_room)
                .map(|(v, ..)| v.codec.codec())
        };
        assert_eq!(
            answered(&old_room, &[VideoCodec::H264, VideoCodec::H263]),
            Some(VideoCodec::H263)
        );
        assert_eq!(answered(&old_room, &[VideoCodec::H264]), None);

        let mut both = old_room.clone();
        both.extend(propose_video(video, 1920));
        assert_eq!(
            answered(&both, &[VideoCodec::H264, VideoCodec::H263]),
            Some(VideoCodec::H264),
            "H.264 first, though the room proposed H.263 first"
        );
    }
}
