//! What an H.323 room's logical channels have settled so far (fast start
//! or H.245, one channel at a time), as the leg's streams for media: the
//! audio codec at its static payload type, and H.264 (or H.263) video
//! whose direction follows the channels open, sent in the room's
//! packetization mode within its limits and bit rate, asked for keyframes
//! through H.245.

use std::net::SocketAddr;

use media_api::{
    AudioCodec, AudioFormat, CodecOptions, Direction, Format, LegMedia, PayloadTypes, StreamKind,
    StreamMedia, VideoCodec, VideoFormat, VideoLimits,
};

use super::channels::VideoChannel;
use super::fast_start::AgreedVideo;

/// A channel towards the room: what it carries and where (RTP, RTCP).
type ToRoom<T> = (T, Option<SocketAddr>, Option<SocketAddr>);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelMedia {
    /// The call's audio codec and where the room receives it (None until
    /// our channel is acked, or once the room closed it).
    pub audio: Option<ToRoom<AudioCodec>>,
    pub video_to_room: Option<ToRoom<VideoChannel>>,
    pub video_from_room: Option<VideoChannel>,
    /// Our most for video, the room's flowControlCommand and the video
    /// share of what our gatekeeper granted the call, kbit/s.
    pub video_kbps: u32,
    pub flow_control_kbps: Option<u32>,
    pub granted_kbps: Option<u32>,
}

impl ChannelMedia {
    pub fn new(video_kbps: u32) -> ChannelMedia {
        ChannelMedia {
            video_kbps,
            ..ChannelMedia::default()
        }
    }

    /// Fast start opened these video channels.
    pub fn fast_started_video(&mut self, video: &AgreedVideo) {
        self.video_to_room = video.to_room.map(|(v, rtp, rtcp)| (v, Some(rtp), rtcp));
        self.video_from_room = video.from_room.map(|(_, v)| v);
    }

    /// The leg's streams, once the audio codec is known.
    pub fn leg_media(&self) -> Option<LegMedia> {
        let (codec, rtp, rtcp) = self.audio?;
        let format = AudioFormat {
            codec,
            options: CodecOptions::default(),
            ptime: 20,
            dtmf_payload_type: None,
        };
        let mut audio = StreamMedia::audio_stream(codec.default_payload_type(), format, rtp);
        audio.remote_rtcp = rtcp.or(audio.remote_rtcp);
        let mut media = LegMedia::of(audio);
        media.streams.extend(self.video());
        Some(media)
    }

    fn video(&self) -> Option<StreamMedia> {
        let to_room = self.video_to_room.filter(|(_, rtp, _)| rtp.is_some());
        let from_room = self.video_from_room;
        let direction = match (to_room.is_some(), from_room.is_some()) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => return None,
        };
        let sent = to_room.map(|(v, ..)| v);
        let mut accepted = PayloadTypes::default();
        if let Some(v) = from_room {
            accepted.insert(v.payload_type);
        }
        let room_kbps = sent.and_then(|v| v.codec.limits().max_kbps);
        let kbps = [
            Some(self.video_kbps),
            room_kbps,
            self.flow_control_kbps,
            self.granted_kbps,
        ]
        .into_iter()
        .flatten()
        .min();
        let codec = sent
            .or(from_room)
            .map_or(VideoCodec::H264, |v| v.codec.codec());
        let format = VideoFormat {
            codec,
            // What the room sends (browsers take it as is, or not).
            profile_level_id: from_room.and_then(|v| v.codec.profile_level_id()),
            packetization_mode: sent.map_or(0, |v| v.mode),
            limits: sent.map_or(VideoLimits::HD1080, |v| v.codec.limits()),
            // No AVPF in H.323: keyframes are asked with H.245.
            feedback: Default::default(),
            accepted,
        };
        Some(StreamMedia {
            kind: StreamKind::Video,
            payload_type: sent.or(from_room).map_or(0, |v| v.payload_type),
            format: Format::Video(format),
            direction,
            bandwidth_kbps: kbps,
            remote_rtp: to_room.and_then(|(_, rtp, _)| rtp),
            remote_rtcp: to_room.and_then(|(_, rtp, rtcp)| {
                rtcp.or(rtp.map(|a| SocketAddr::new(a.ip(), a.port().wrapping_add(1))))
            }),
            rtcp_mux: false,
            crypto: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h323::capabilities::VideoCap;
    use crate::h323::h264::H264;

    fn channel(payload_type: u8, mode: u8, level_idc: u8) -> VideoChannel {
        VideoChannel {
            codec: VideoCap::H264(H264 {
                profile_idc: 0x42,
                level_idc,
                limits: VideoLimits::of_h264_level(level_idc, false),
            }),
            payload_type,
            mode,
        }
    }

    /// An older room's H.263 channels: the stream is H.263, transcoded
    /// for the meeting, sent at its largest format.
    #[test]
    fn h263_channels_make_an_h263_stream() {
        let room = SocketAddr::from(([127, 0, 0, 9], 5000));
        let mut m = ChannelMedia::new(768);
        m.audio = Some((AudioCodec::Pcmu, Some(room), None));
        let cif = VideoLimits {
            max_fs: 396,
            max_mbps: 396 * 30,
            max_fps: None,
            max_kbps: Some(384),
        };
        let h263 = VideoChannel {
            codec: VideoCap::H263(cif),
            payload_type: 34,
            mode: 0,
        };
        m.video_from_room = Some(h263);
        m.video_to_room = Some((h263, Some(SocketAddr::from(([127, 0, 0, 9], 5002))), None));
        let media = m.leg_media().unwrap();
        let (stream, format) = media.video().unwrap();
        assert_eq!((format.codec, stream.payload_type), (VideoCodec::H263, 34));
        assert!(format.accepted.contains(34) && !format.browsers_decode());
        assert_eq!(stream.bandwidth_kbps, Some(384));
        let mode = format.send_mode(384);
        assert_eq!((mode.width, mode.height), (352, 288));
    }

    #[test]
    fn video_follows_the_channels_open() {
        let room = SocketAddr::from(([127, 0, 0, 9], 5000));
        let mut m = ChannelMedia::new(1800);
        assert_eq!(m.leg_media(), None, "no audio codec yet");
        m.audio = Some((AudioCodec::Pcmu, Some(room), None));
        assert_eq!(m.leg_media().unwrap().streams.len(), 1);

        m.video_from_room = Some(channel(109, 1, 31));
        let media = m.leg_media().unwrap();
        let (stream, format) = media.video().unwrap();
        assert_eq!(stream.direction, Direction::RecvOnly);
        assert!(format.accepted.contains(109));

        let video_room = SocketAddr::from(([127, 0, 0, 9], 5002));
        m.video_to_room = Some((channel(96, 0, 22), Some(video_room), None));
        m.flow_control_kbps = Some(768);
        let media = m.leg_media().unwrap();
        let (stream, format) = media.video().unwrap();
        assert_eq!(stream.direction, Direction::SendRecv);
        assert_eq!(stream.payload_type, 96, "we send on our channel's type");
        assert_eq!(format.packetization_mode, 0);
        assert_eq!(format.limits.max_fs, 1620, "level 2.2");
        assert_eq!(stream.bandwidth_kbps, Some(768));
        assert_eq!(stream.remote_rtp, Some(video_room));
        assert_eq!(
            stream.remote_rtcp,
            Some(SocketAddr::from(([127, 0, 0, 9], 5003)))
        );
    }
}
