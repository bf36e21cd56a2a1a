//! Video streams: the codecs rooms send and take (H.264 by RFC 6184, VP8
//! by RFC 7741, H.263 by RFC 2190 for older rooms), what a room can decode (its H.264 level raised by
//! `max-fs`/`max-mbps`, which rooms use because the level understates what
//! they take), the RTCP feedback agreed with it, and the picture we send it
//! from those limits and the bandwidth.

use serde::{Deserialize, Serialize};

/// Video codecs offered to and accepted from rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    H264,
    Vp8,
    /// H.263 (1996) in RFC 2190 packets: older rooms that have nothing else.
    H263,
}

impl VideoCodec {
    /// Whether an SDP `rtpmap` encoding name and clock rate denote this codec.
    pub fn matches(self, name: &str, clock_rate: u32) -> bool {
        name.eq_ignore_ascii_case(self.name()) && clock_rate == 90000
    }

    /// The encoding name (`rtpmap`), also the MIME subtype.
    /// Its media type (`video/H264`), as WebRTC stacks name it.
    pub fn mime(self) -> &'static str {
        match self {
            VideoCodec::H264 => "video/H264",
            VideoCodec::Vp8 => "video/VP8",
            VideoCodec::H263 => "video/H263",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            VideoCodec::H264 => "H264",
            VideoCodec::Vp8 => "VP8",
            VideoCodec::H263 => "H263",
        }
    }

    /// Payload type used in our offers.
    pub fn default_payload_type(self) -> u8 {
        match self {
            VideoCodec::H264 => 97,
            VideoCodec::Vp8 => 100,
            // RFC 3551's static payload type.
            VideoCodec::H263 => 34,
        }
    }

    /// Parses a configuration name (`h264`, `vp8`, `h263`).
    pub fn from_name(name: &str) -> Option<VideoCodec> {
        match name.to_ascii_lowercase().as_str() {
            "h264" => Some(VideoCodec::H264),
            "vp8" => Some(VideoCodec::Vp8),
            "h263" => Some(VideoCodec::H263),
            _ => None,
        }
    }
}

/// Sizes in 16×16 macroblocks and rates in macroblocks per second: how
/// much picture a decoder takes (H.264 Table A-1, raised by `max-fs`,
/// `max-mbps`; VP8's `max-fs`/`max-fr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoLimits {
    /// Largest frame, in macroblocks.
    pub max_fs: u32,
    /// Most macroblocks per second.
    pub max_mbps: u32,
    /// Highest frame rate, if the room set one.
    pub max_fps: Option<u32>,
    /// Highest bit rate the decoder takes, kbit/s (H.264 `max-br` or the level's).
    pub max_kbps: Option<u32>,
}

impl VideoLimits {
    /// What a 1080p30 decoder takes (what we take, and assume of a VP8
    /// room that says nothing).
    pub const HD1080: VideoLimits = VideoLimits {
        max_fs: 8160,
        max_mbps: 244_800,
        max_fps: None,
        max_kbps: None,
    };

    /// The limits of H.264 `level_idc` (Table A-1); `level_1b` is the
    /// constraint_set3 flag that turns level 1.1 of the baseline and main
    /// profiles into level 1b.
    pub fn of_h264_level(level_idc: u8, level_1b: bool) -> VideoLimits {
        let (max_mbps, max_fs, max_kbps) = match level_idc {
            11 if level_1b => (1485, 99, 128),
            9 => (1485, 99, 128),
            10 => (1485, 99, 64),
            11 => (3000, 396, 192),
            12 => (6000, 396, 384),
            13 => (11880, 396, 768),
            20 => (11880, 396, 2000),
            21 => (19800, 792, 4000),
            22 => (20250, 1620, 4000),
            30 => (40500, 1620, 10000),
            31 => (108_000, 3600, 14000),
            32 => (216_000, 5120, 20000),
            40 => (245_760, 8192, 20000),
            41 => (245_760, 8192, 50000),
            42 => (522_240, 8704, 50000),
            50 => (589_824, 22080, 135_000),
            51 => (983_040, 36864, 240_000),
            52.. => (2_073_600, 36864, 240_000),
            // Unknown low levels: assume the least.
            _ => (1485, 99, 64),
        };
        VideoLimits {
            max_fs,
            max_mbps,
            max_fps: None,
            max_kbps: Some(max_kbps),
        }
    }
}

/// RTCP feedback agreed with the room (RFC 4585, RFC 5104, REMB): what we
/// may send it and what it may send us.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    /// Generic NACK (`nack`).
    pub nack: bool,
    /// Picture loss indication (`nack pli`).
    pub pli: bool,
    /// Full intra request (`ccm fir`, RFC 5104).
    pub fir: bool,
    /// Temporary maximum media bit rate (`ccm tmmbr`).
    pub tmmbr: bool,
    /// Receiver estimated maximum bit rate (`goog-remb`).
    pub remb: bool,
}

impl Feedback {
    /// How to ask the room for a keyframe: PLI where agreed, else an RFC
    /// 5104 FIR, else a SIP INFO (RFC 5168) for rooms without AVPF.
    pub fn keyframe_request(self) -> KeyframeRequest {
        if self.pli {
            KeyframeRequest::Pli
        } else if self.fir {
            KeyframeRequest::Fir
        } else {
            KeyframeRequest::Signaling
        }
    }
}

/// The ways of asking a room for a keyframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyframeRequest {
    Pli,
    Fir,
    /// Through the call's signaling: SIP INFO `picture_fast_update`,
    /// H.245 `videoFastUpdatePicture`.
    Signaling,
}

/// A set of RTP payload types (0–127).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadTypes(pub u128);

impl PayloadTypes {
    pub fn insert(&mut self, pt: u8) {
        if pt < 128 {
            self.0 |= 1 << pt;
        }
    }

    pub fn contains(self, pt: u8) -> bool {
        pt < 128 && self.0 & (1 << pt) != 0
    }
}

/// A video stream's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoFormat {
    pub codec: VideoCodec,
    /// H.264 `profile-level-id` (profile_idc, profile-iop, level_idc).
    pub profile_level_id: Option<[u8; 3]>,
    /// H.264 packetization mode: 0 (one NAL unit per packet) or 1 (STAP-A, FU-A).
    pub packetization_mode: u8,
    /// What the room decodes.
    pub limits: VideoLimits,
    pub feedback: Feedback,
    /// Every payload type of this stream the room may send (all the video
    /// formats it offered or we offered: some send on one not answered).
    pub accepted: PayloadTypes,
}

impl VideoFormat {
    /// Whether browsers decode what the room sends as is: VP8, or H.264
    /// of a profile they take (constrained baseline, baseline, main) —
    /// else the room's camera is transcoded for the meeting.
    pub fn browsers_decode(&self) -> bool {
        match self.codec {
            VideoCodec::Vp8 => true,
            VideoCodec::H264 => self
                .profile_level_id
                .is_none_or(|[profile, ..]| matches!(profile, 0x42 | 0x4d)),
            VideoCodec::H263 => false,
        }
    }

    /// The codec the room's camera is published in: its own where
    /// browsers decode it, else H.264 (transcoded).
    pub fn published_codec(&self) -> VideoCodec {
        if self.browsers_decode() {
            self.codec
        } else {
            VideoCodec::H264
        }
    }

    /// The picture we send the room within `kbps`: a rung of the ladder
    /// of its codec (H.263 has fixed picture sizes) that it decodes.
    pub fn send_mode(&self, kbps: u32) -> SendMode {
        match self.codec {
            VideoCodec::H263 => self.limits.send_mode_on(&H263_SIZES, kbps),
            VideoCodec::H264 | VideoCodec::Vp8 => self.limits.send_mode_on(&LADDER, kbps),
        }
    }
}

/// A picture size and rate we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SendMode {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

/// The resolution ladder: (width, height, least kbit/s worth sending it).
pub const LADDER: [(u32, u32, u32); 5] = [
    (1920, 1080, 2500),
    (1280, 720, 1200),
    (800, 448, 700),
    (640, 360, 400),
    (320, 180, 0),
];

/// H.263's picture formats we send (4CIF, CIF, QCIF), with the least
/// kbit/s worth each.
pub const H263_SIZES: [(u32, u32, u32); 3] = [(704, 576, 768), (352, 288, 256), (176, 144, 0)];

/// The most macroblocks of an H.263 picture format, by its SDP name
/// (RFC 4629 §8.1.1; also used with RFC 2190's `H263`).
pub fn h263_format_macroblocks(name: &str) -> Option<u32> {
    let (w, h) = match name.to_ascii_uppercase().as_str() {
        "SQCIF" => (128, 96),
        "QCIF" => (176, 144),
        "CIF" => (352, 288),
        "CIF4" => (704, 576),
        "CIF16" => (1408, 1152),
        _ => return None,
    };
    Some(macroblocks(w, h))
}

/// Macroblocks in a `width`×`height` picture.
pub fn macroblocks(width: u32, height: u32) -> u32 {
    width.div_ceil(16) * height.div_ceil(16)
}

impl VideoLimits {
    /// The largest rung of `ladder` the room decodes at 30 fps (or the
    /// most frames its macroblock rate allows, at least 15) within
    /// `kbps`, and the frame rate.
    pub fn send_mode_on(&self, ladder: &[(u32, u32, u32)], kbps: u32) -> SendMode {
        let fits = |&&(w, h, least): &&(u32, u32, u32)| {
            let mbs = macroblocks(w, h);
            kbps >= least && mbs <= self.max_fs && self.max_mbps / mbs >= 15
        };
        let smallest = ladder.last().expect("a ladder has rungs");
        let &(width, height, _) = ladder.iter().find(fits).unwrap_or(smallest);
        let mbs = macroblocks(width, height);
        let fps = (self.max_mbps / mbs)
            .min(self.max_fps.unwrap_or(30))
            .clamp(1, 30);
        SendMode { width, height, fps }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cisco_level_2_2_with_max_fs_takes_1080p() {
        let level = VideoLimits::of_h264_level(22, false);
        assert_eq!(level.send_mode_on(&LADDER, 6000).height, 360); // 1620 MBs at level 2.2
        let raised = VideoLimits {
            max_fs: 8160,
            max_mbps: 490_000,
            ..level
        };
        let mode = raised.send_mode_on(&LADDER, 6000);
        assert_eq!((mode.width, mode.height, mode.fps), (1920, 1080, 30));
        assert_eq!(raised.send_mode_on(&LADDER, 1500).height, 720);
        assert_eq!(raised.send_mode_on(&LADDER, 200).height, 180);
    }

    #[test]
    fn the_macroblock_rate_limits_frames() {
        let limits = VideoLimits::of_h264_level(31, false); // 720p at 30
        let mode = limits.send_mode_on(&LADDER, 4000);
        assert_eq!((mode.height, mode.fps), (720, 30));
        let slow = VideoLimits {
            max_mbps: 54000,
            ..limits
        };
        assert_eq!(slow.send_mode_on(&LADDER, 4000).height, 720);
        assert_eq!(slow.send_mode_on(&LADDER, 4000).fps, 15);
    }

    #[test]
    fn payload_type_sets() {
        let mut set = PayloadTypes::default();
        set.insert(97);
        set.insert(126);
        set.insert(200);
        assert!(set.contains(97) && set.contains(126) && !set.contains(96));
    }
}
