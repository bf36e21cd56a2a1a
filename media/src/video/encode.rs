//! Encoding a picture for rooms, once per distinct [`Output`] (codec,
//! packetization, resolution, frame rate, bitrate): H.264 constrained
//! baseline with openh264, VP8 with FFmpeg's libvpx, H.263 with FFmpeg's
//! encoder, cut into RTP payloads the way the rooms negotiated — H.264
//! mode 1 with STAP-A and FU-A (rtc-rtp's payloader), mode 0 with one NAL
//! unit per packet (the encoder keeps slices under the MTU), VP8 as RFC
//! 7741, H.263 as RFC 2190 (GOBs, or macroblocks where a GOB is larger
//! than a packet).

use bytes::Bytes;
use ffmpeg_next::codec::packet::side_data::Type as SideData;
use ffmpeg_next::codec::{self, Context, Id};
use ffmpeg_next::format::Pixel;
use ffmpeg_next::{picture, Dictionary, Packet};
use openh264::encoder::{
    BitRate, Complexity, Encoder as H264Encoder, EncoderConfig, FrameRate, FrameType,
    IntraFramePeriod, Profile, RateControlMode, UsageType,
};
use openh264::formats::YUVSlices;
use openh264::OpenH264API;
use rtc_rtp::codec::h264::H264Payloader;
use rtc_rtp::codec::vp8::Vp8Payloader;
use rtc_rtp::packetizer::Payloader;

use super::h263::{self, MbInfo};
use super::params::VideoParams;
use super::picture::Picture;
use media_api::{SendMode, VideoCodec};

/// Largest RTP payload we send (a 1500-byte path less IP, UDP, RTP and
/// SRTP overhead, with room for tunnels).
pub const MTU: usize = 1200;

/// What a set of rooms takes alike: one encoder serves them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Output {
    pub codec: VideoCodec,
    pub packetization_mode: u8,
    pub mode: SendMode,
    pub kbps: u32,
}

impl Output {
    /// What a room takes: its codec and packetization, the largest rung
    /// of the resolution ladder its decoder and bandwidth allow (the
    /// call's, under the room's own `cap` from TMMBR or REMB), and a
    /// bitrate within both and worth that resolution.
    pub(crate) fn for_room(params: &VideoParams, cap: Option<u32>) -> Output {
        let format = params.format;
        let negotiated = params.bandwidth_kbps.unwrap_or(DEFAULT_KBPS);
        let bandwidth = cap.map_or(negotiated, |cap| cap.min(negotiated));
        let kbps = format
            .limits
            .max_kbps
            .map_or(bandwidth, |m| m.min(bandwidth));
        let mode = format.send_mode(kbps);
        Output {
            codec: format.codec,
            packetization_mode: format.packetization_mode,
            mode,
            kbps: kbps.min(worth_kbps(mode.height)),
        }
    }
}

/// The most bitrate worth spending on a picture `height` lines high.
pub fn worth_kbps(height: u32) -> u32 {
    match height {
        1080.. => 3000,
        720.. => 1800,
        448.. => 1000,
        360.. => 700,
        288.. => 512,
        _ => 300,
    }
}

/// What we assume a room takes when it said nothing.
const DEFAULT_KBPS: u32 = 1024;

/// A coded frame in RTP payloads, shared by every room that takes it.
#[derive(Debug)]
pub struct EncodedFrame {
    pub payloads: Vec<Bytes>,
    pub keyframe: bool,
    /// Capture time on the 90 kHz clock.
    pub timestamp: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("openh264: {0}")]
    H264(#[from] openh264::Error),
    #[error("FFmpeg: {0}")]
    Ffmpeg(#[from] ffmpeg_next::Error),
}

enum Inner {
    H264 {
        encoder: Box<H264Encoder>,
        payloader: H264Payloader,
        annex_b: Vec<u8>,
    },
    /// FFmpeg's encoder of VP8 or H.263.
    Ffmpeg {
        encoder: Box<codec::encoder::Video>,
        payloads: FfmpegPayloads,
        /// Ticks a second of the encoder's time base.
        clock: i64,
        frame: Picture,
        packet: Packet,
    },
}

/// How an FFmpeg encoder's packets are cut into RTP payloads.
enum FfmpegPayloads {
    Vp8(Vp8Payloader),
    /// RFC 2190, at the macroblocks the encoder reports.
    H263,
}

impl FfmpegPayloads {
    fn cut(&mut self, packet: &Packet, out: &mut Vec<Bytes>) {
        let data = packet.data().unwrap_or_default();
        match self {
            FfmpegPayloads::Vp8(vp8) => out.extend(
                vp8.payload(MTU, &Bytes::copy_from_slice(data))
                    .unwrap_or_default(),
            ),
            FfmpegPayloads::H263 => {
                let mb_info = packet
                    .side_data()
                    .find(|d| d.kind() == SideData::H263MbInfo)
                    .map(|d| MbInfo::parse_all(d.data()))
                    .unwrap_or_default();
                out.extend(h263::packetise(data, &mb_info, MTU));
            }
        }
    }
}

pub struct VideoEncoder {
    output: Output,
    inner: Inner,
    keyframe_wanted: bool,
}

impl VideoEncoder {
    pub fn new(output: Output) -> Result<VideoEncoder, EncodeError> {
        let SendMode { width, height, fps } = output.mode;
        let bps = output.kbps.max(64) * 1000;
        let inner = match output.codec {
            VideoCodec::H264 => {
                let mut config = EncoderConfig::new()
                    .usage_type(UsageType::CameraVideoRealTime)
                    .rate_control_mode(RateControlMode::Bitrate)
                    .bitrate(BitRate::from_bps(bps))
                    .max_frame_rate(FrameRate::from_hz(fps as f32))
                    .profile(Profile::Baseline)
                    .complexity(Complexity::Low)
                    .intra_frame_period(IntraFramePeriod::from_num_frames(fps * 10));
                if output.packetization_mode == 0 {
                    config = config.max_slice_len(MTU as u32);
                }
                let encoder = H264Encoder::with_api_config(OpenH264API::from_source(), config)?;
                Inner::H264 {
                    encoder: Box::new(encoder),
                    payloader: H264Payloader::default(),
                    annex_b: Vec::new(),
                }
            }
            VideoCodec::Vp8 | VideoCodec::H263 => {
                ffmpeg_next::init()?;
                let vp8 = output.codec == VideoCodec::Vp8;
                let id = if vp8 { Id::VP8 } else { Id::H263 };
                // H.263 counts time in 1/30000 s units of its picture clock.
                let clock = if vp8 { 90_000 } else { 30_000 };
                let found =
                    ffmpeg_next::encoder::find(id).ok_or(ffmpeg_next::Error::EncoderNotFound)?;
                let mut enc = Context::new_with_codec(found).encoder().video()?;
                enc.set_width(width);
                enc.set_height(height);
                enc.set_format(Pixel::YUV420P);
                enc.set_time_base((1, clock));
                enc.set_frame_rate(Some((fps as i32, 1)));
                enc.set_bit_rate(bps as usize);
                enc.set_gop(fps * 10);
                enc.set_max_b_frames(0);
                let mut options = Dictionary::new();
                if vp8 {
                    options.set("deadline", "realtime");
                    options.set("cpu-used", "8");
                    options.set("lag-in-frames", "0");
                    options.set("error-resilient", "1");
                } else {
                    // GOB headers as packets fill, and where macroblocks
                    // start, for RFC 2190's packets.
                    let payload = (MTU - 8).to_string();
                    options.set("ps", &payload);
                    options.set("mb_info", &payload);
                }
                let encoder = enc.open_as_with(found, options)?;
                Inner::Ffmpeg {
                    encoder: Box::new(encoder),
                    payloads: if vp8 {
                        let mut payloader = Vp8Payloader::default();
                        payloader.enable_picture_id = true;
                        FfmpegPayloads::Vp8(payloader)
                    } else {
                        FfmpegPayloads::H263
                    },
                    clock: i64::from(clock),
                    frame: Picture::new(Pixel::YUV420P, width, height),
                    packet: Packet::empty(),
                }
            }
        };
        Ok(VideoEncoder {
            output,
            inner,
            keyframe_wanted: true,
        })
    }

    /// The next frame is a keyframe.
    pub fn want_keyframe(&mut self) {
        self.keyframe_wanted = true;
    }

    /// Encodes `picture` (the output's size) taken at `millis`; None when
    /// the rate control skipped it.
    pub fn encode(
        &mut self,
        picture: &Picture,
        millis: u64,
    ) -> Result<Option<EncodedFrame>, EncodeError> {
        let timestamp = (millis * 90) as u32;
        let keyframe_wanted = std::mem::take(&mut self.keyframe_wanted);
        let (payloads, keyframe) = match &mut self.inner {
            Inner::H264 {
                encoder,
                payloader,
                annex_b,
            } => {
                if keyframe_wanted {
                    encoder.force_intra_frame();
                }
                let yuv = YUVSlices::new(
                    (picture.data(0), picture.data(1), picture.data(2)),
                    (picture.width() as usize, picture.height() as usize),
                    (picture.stride(0), picture.stride(1), picture.stride(2)),
                );
                let stream = encoder.encode_at(&yuv, openh264::Timestamp::from_millis(millis))?;
                let keyframe = matches!(stream.frame_type(), FrameType::IDR | FrameType::I);
                if matches!(stream.frame_type(), FrameType::Skip | FrameType::Invalid) {
                    return Ok(None);
                }
                let payloads = if self.output.packetization_mode == 0 {
                    single_nal_units(&stream)
                } else {
                    annex_b.clear();
                    stream.write_vec(annex_b);
                    payloader
                        .payload(MTU, &Bytes::copy_from_slice(annex_b))
                        .unwrap_or_default()
                };
                (payloads, keyframe)
            }
            Inner::Ffmpeg {
                encoder,
                payloads: cutter,
                clock,
                frame,
                packet,
            } => {
                frame.clone_from(picture);
                frame.set_pts(Some(millis as i64 * *clock / 1000));
                frame.set_kind(if keyframe_wanted {
                    picture::Type::I
                } else {
                    picture::Type::None
                });
                encoder.send_frame(frame)?;
                let mut payloads = Vec::new();
                let mut keyframe = false;
                while encoder.receive_packet(packet).is_ok() {
                    keyframe |= packet.is_key();
                    cutter.cut(packet, &mut payloads);
                }
                if payloads.is_empty() {
                    return Ok(None);
                }
                (payloads, keyframe)
            }
        };
        Ok(Some(EncodedFrame {
            payloads,
            keyframe,
            timestamp,
        }))
    }
}

/// Packetization mode 0: each NAL unit of the frame alone in a packet
/// (start codes removed; the encoder kept slices under [`MTU`]).
fn single_nal_units(stream: &openh264::encoder::EncodedBitStream<'_>) -> Vec<Bytes> {
    let mut payloads = Vec::new();
    for layer in (0..stream.num_layers()).filter_map(|i| stream.layer(i)) {
        for nal in (0..layer.nal_count()).filter_map(|i| layer.nal_unit(i)) {
            let start = match nal {
                [0, 0, 0, 1, ..] => 4,
                [0, 0, 1, ..] => 3,
                _ => 0,
            };
            if nal.len() > start {
                payloads.push(Bytes::copy_from_slice(&nal[start..]));
            }
        }
    }
    payloads
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::assemble::{Assembled, FrameAssembler};
    use crate::video::decode::VideoDecoder;
    use crate::video::picture::{black, fill};

    /// Encodes a red picture, packetises it, assembles and decodes it
    /// again: the colour survives, and the packets fit the MTU.
    fn round_trip(codec: VideoCodec, packetization_mode: u8) {
        round_trip_at(codec, packetization_mode, (640, 360), 800);
    }

    fn round_trip_at(
        codec: VideoCodec,
        packetization_mode: u8,
        (width, height): (u32, u32),
        kbps: u32,
    ) {
        let output = Output {
            codec,
            packetization_mode,
            mode: SendMode {
                width,
                height,
                fps: 30,
            },
            kbps,
        };
        let mut encoder = VideoEncoder::new(output).unwrap();
        let mut picture = black(width, height);
        fill(&mut picture, [81, 90, 240]); // red
        let mut assembler = FrameAssembler::new(codec);
        let mut decoder = VideoDecoder::new(codec).unwrap();
        let mut seq = 0u16;
        let mut decoded = 0;
        for n in 0..5u64 {
            let Some(frame) = encoder.encode(&picture, n * 33).unwrap() else {
                continue;
            };
            assert_eq!(frame.keyframe, n == 0, "frame {n}");
            let last = frame.payloads.len() - 1;
            for (i, payload) in frame.payloads.into_iter().enumerate() {
                assert!(payload.len() <= MTU);
                seq = seq.wrapping_add(1);
                let now = std::time::Instant::now();
                assembler.push(now, seq, frame.timestamp, i == last, payload, |out| {
                    if let Assembled::Frame { data, .. } = out {
                        if decoder.decode(data).unwrap() {
                            decoded += 1;
                        }
                    }
                });
            }
        }
        assert!(decoded >= 4, "{decoded} frames decoded");
        let p = decoder.picture();
        let at = |plane: usize, x: usize, y: usize| p.data(plane)[y * p.stride(plane) + x];
        let (x, y) = (width as usize / 2, height as usize / 2);
        let (y, u, v) = (at(0, x, y), at(1, x / 2, y / 2), at(2, x / 2, y / 2));
        assert!(
            y.abs_diff(81) < 8 && u.abs_diff(90) < 8 && v.abs_diff(240) < 8,
            "{y} {u} {v}"
        );
    }

    #[test]
    fn h264_mode_1_survives_packetisation_and_decoding() {
        round_trip(VideoCodec::H264, 1);
    }

    #[test]
    fn h264_mode_0_sends_nal_units_under_the_mtu() {
        round_trip(VideoCodec::H264, 0);
    }

    #[test]
    fn vp8_survives_packetisation_and_decoding() {
        round_trip(VideoCodec::Vp8, 1);
    }

    #[test]
    fn h263_survives_rfc_2190_packetisation_and_decoding() {
        round_trip_at(VideoCodec::H263, 0, (704, 576), 1500);
    }

    /// A picture of noise: its GOBs are larger than a packet, so they are
    /// cut at macroblocks (mode B), and the frames still decode whole.
    #[test]
    fn h263_gobs_larger_than_a_packet_are_cut_at_macroblocks() {
        let output = Output {
            codec: VideoCodec::H263,
            packetization_mode: 0,
            mode: SendMode {
                width: 704,
                height: 576,
                fps: 30,
            },
            kbps: 4000,
        };
        let mut encoder = VideoEncoder::new(output).unwrap();
        let mut picture = black(704, 576);
        let mut seed = 7u32;
        for byte in picture.data_mut(0) {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *byte = (seed >> 16) as u8;
        }
        let frame = encoder.encode(&picture, 0).unwrap().unwrap();
        assert!(frame.keyframe);
        assert!(frame.payloads.iter().all(|p| p.len() <= MTU));
        let mode_b = frame.payloads.iter().filter(|p| p[0] >> 6 == 0b10).count();
        assert!(
            mode_b > 0,
            "{} packets, none in mode B",
            frame.payloads.len()
        );
        let mut assembler = FrameAssembler::new(VideoCodec::H263);
        let mut decoder = VideoDecoder::new(VideoCodec::H263).unwrap();
        let last = frame.payloads.len() - 1;
        let mut decoded = false;
        for (i, payload) in frame.payloads.into_iter().enumerate() {
            let now = std::time::Instant::now();
            assembler.push(now, i as u16, 0, i == last, payload, |out| {
                if let Assembled::Frame { data, .. } = out {
                    decoded = decoder.decode(data).unwrap();
                }
            });
        }
        assert!(decoded);
        assert_eq!(decoder.picture().width(), 704);
    }
}
