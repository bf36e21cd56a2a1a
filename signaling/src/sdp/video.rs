//! The video m-line (the room's camera): H.264 (RFC 6184), VP8 (RFC
//! 7741) or, for rooms with nothing else, H.263 (RFC 2190; its picture
//! formats and MPIs as RFC 4629 writes them) chosen from the offer, what the room decodes read from its level
//! and `max-fs`/`max-mbps`/`max-fps`/`max-br` (rooms understate their level
//! and state the rest), `b=AS`/`b=TIAS` at media or session level, the
//! RTCP feedback both sides do, and every payload type the room offered
//! for the chosen codec accepted (some send on one not answered). Vendor formats we do
//! not do (Polycom LPR, H264-SVC, H.265, SIRENLPR, H.224) are left out of
//! the answer. Our answers and offers always carry `max-fs`/`max-mbps`
//! (Polycom DMA refuses video without them).

use media_api::{
    h263_format_macroblocks, Direction, Feedback, Format, PayloadTypes, StreamKind, StreamMedia,
    VideoCodec, VideoFormat, VideoLimits,
};
use rtc_sdp::{MediaDescription, SessionDescription};

use super::{
    avp, bandwidth_of, endpoint, fmtp_of, fmtp_value, media_line, remote_rtcp, SdpError, AUDIO_KBPS,
};

/// What we offer and accept for video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoOffer {
    /// In our order of preference.
    pub codecs: Vec<VideoCodec>,
    /// The most we take and send for video, kbit/s (the call rate less audio).
    pub max_kbps: u32,
}

/// What we decode: 1080p at 30 frames a second.
const OURS: VideoLimits = VideoLimits::HD1080;

/// The profile-level-id we offer: constrained baseline, level 4.0.
const OUR_PROFILE_LEVEL_ID: &str = "42e028";

/// Payload type of our mode-0 H.264 format in offers.
const H264_MODE0_PAYLOAD_TYPE: u8 = 98;

/// One video format the room offered.
struct Candidate {
    pt: u8,
    codec: VideoCodec,
    profile_level_id: Option<[u8; 3]>,
    mode: u8,
}

impl Candidate {
    /// How much we like it, given our codec order: H.264 in mode 1 (FU-A
    /// for large frames) with a baseline profile browsers take first.
    fn rank(&self, ours: &[VideoCodec]) -> (usize, u8, u8) {
        let codec = ours
            .iter()
            .position(|c| *c == self.codec)
            .unwrap_or(usize::MAX);
        let baseline = self
            .profile_level_id
            .is_none_or(|[profile, ..]| profile == 0x42);
        (codec, u8::from(self.mode != 1), u8::from(!baseline))
    }
}

fn profile_level_id(hex: &str) -> Option<[u8; 3]> {
    if hex.len() != 6 {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

/// The room's video line (the first with a port), if it offers a format
/// we take; returns its m-line's index.
pub(super) fn remote(
    sd: &SessionDescription,
    offer: &VideoOffer,
) -> Result<Option<(usize, StreamMedia)>, SdpError> {
    let Some((index, md)) = sd
        .media_descriptions
        .iter()
        .enumerate()
        .find(|(_, m)| m.media_name.media == "video" && m.media_name.port.value != 0)
    else {
        return Ok(None);
    };
    if is_content(md) {
        return Ok(None);
    }
    let rtpmaps = md.codecs();
    let mut offered = Vec::new();
    let mut candidates = Vec::new();
    for pt in md
        .media_name
        .formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
    {
        // RFC 3551's static H.263 needs no rtpmap.
        // (an fmtp alone makes an entry without a name).
        let (name, clock_rate) = match rtpmaps.get(&pt).filter(|c| !c.name.is_empty()) {
            Some(c) => (c.name.as_str(), c.clock_rate),
            None if pt == VideoCodec::H263.default_payload_type() => ("H263", 90000),
            None => continue,
        };
        let Some(codec) = offer
            .codecs
            .iter()
            .copied()
            .find(|codec| codec.matches(name, clock_rate))
        else {
            continue;
        };
        offered.push((pt, codec));
        let fmtp = fmtp_of(md, pt);
        let profile_level_id = match codec {
            // RFC 6184 8.1: absent means constrained baseline, level 1.0.
            VideoCodec::H264 => Some(
                fmtp_value::<String>(&fmtp, "profile-level-id")
                    .and_then(|p| profile_level_id(&p))
                    .unwrap_or([0x42, 0x00, 0x0a]),
            ),
            VideoCodec::Vp8 | VideoCodec::H263 => None,
        };
        let mode = fmtp_value(&fmtp, "packetization-mode").unwrap_or(0);
        if codec == VideoCodec::H264 && mode > 1 {
            continue; // interleaved mode: not done
        }
        candidates.push(Candidate {
            pt,
            codec,
            profile_level_id,
            mode,
        });
    }
    let Some(chosen) = candidates.iter().min_by_key(|c| c.rank(&offer.codecs)) else {
        return Ok(None);
    };
    // A packet of another codec would be read as this one's.
    let mut accepted = PayloadTypes::default();
    for &(pt, _) in offered.iter().filter(|(_, c)| *c == chosen.codec) {
        accepted.insert(pt);
    }
    let fmtp = fmtp_of(md, chosen.pt);
    let (remote_rtp, direction) = endpoint(sd, md)?;
    let session_kbps = bandwidth_of(&sd.bandwidth).map(|k| k.saturating_sub(AUDIO_KBPS));
    let bandwidth_kbps = bandwidth_of(&md.bandwidth)
        .or(session_kbps)
        .map_or(offer.max_kbps, |k| k.min(offer.max_kbps));
    let format = VideoFormat {
        codec: chosen.codec,
        profile_level_id: chosen.profile_level_id,
        packetization_mode: chosen.mode,
        limits: limits(chosen, &fmtp),
        feedback: feedback(md, chosen.pt),
        accepted,
    };
    Ok(Some((
        index,
        StreamMedia {
            kind: StreamKind::Video,
            payload_type: chosen.pt,
            format: Format::Video(format),
            direction,
            bandwidth_kbps: Some(bandwidth_kbps),
            remote_rtp,
            remote_rtcp: remote_rtp.map(|rtp| remote_rtcp(md, rtp)),
            rtcp_mux: md.attribute("rtcp-mux").is_some(),
            crypto: None,
        },
    )))
}

/// A presentation line (`a=content:slides`, BFCP's `a=label` streams):
/// content, not the camera.
fn is_content(md: &MediaDescription) -> bool {
    md.attribute("content")
        .flatten()
        .is_some_and(|c| c.trim() != "main")
}

/// What the room decodes: its level's limits raised by `max-fs`,
/// `max-mbps` (H.264), set by `max-fs`/`max-fr` (VP8), or its largest
/// H.263 picture format at the rate its MPI allows.
fn limits(c: &Candidate, fmtp: &[(String, String)]) -> VideoLimits {
    if c.codec == VideoCodec::H263 {
        return h263_limits(fmtp);
    }
    let base = match c.profile_level_id {
        Some([profile, iop, level]) => {
            VideoLimits::of_h264_level(level, level == 11 && iop & 0x10 != 0 && profile != 100)
        }
        None => OURS,
    };
    let max_fps = match c.codec {
        // H.264 `max-fps` is in frames per 100 seconds.
        VideoCodec::H264 => fmtp_value::<u32>(fmtp, "max-fps").map(|f| (f / 100).max(1)),
        VideoCodec::Vp8 | VideoCodec::H263 => fmtp_value(fmtp, "max-fr"),
    };
    VideoLimits {
        max_fs: fmtp_value(fmtp, "max-fs").map_or(base.max_fs, |fs: u32| fs.max(base.max_fs)),
        max_mbps: fmtp_value(fmtp, "max-mbps").map_or(base.max_mbps, |m: u32| m.max(base.max_mbps)),
        max_fps,
        max_kbps: fmtp_value(fmtp, "max-br").or(base.max_kbps),
    }
}

/// H.263 picture formats (`CIF=1;QCIF=1`: 30/1.001/MPI frames a second
/// of that format at most); none named means QCIF and CIF at full rate
/// (what every H.263 room decodes).
fn h263_limits(fmtp: &[(String, String)]) -> VideoLimits {
    let mut formats: Vec<(u32, u32)> = fmtp
        .iter()
        .filter_map(|(name, mpi)| {
            let mpi: u32 = mpi.parse().ok()?;
            Some((h263_format_macroblocks(name)?, mpi.clamp(1, 32)))
        })
        .collect();
    if formats.is_empty() {
        formats = vec![(99, 1), (396, 1)];
    }
    VideoLimits {
        max_fs: formats.iter().map(|&(mbs, _)| mbs).max().unwrap_or(99),
        max_mbps: formats
            .iter()
            .map(|&(mbs, mpi)| mbs * 30 / mpi)
            .max()
            .unwrap_or(0),
        max_fps: None,
        max_kbps: None,
    }
}

/// The feedback the room offered for `pt` (or `*`) that we do too.
fn feedback(md: &MediaDescription, pt: u8) -> Feedback {
    let mut fb = Feedback::default();
    let pt = pt.to_string();
    for value in md
        .attributes
        .iter()
        .filter(|a| a.key == "rtcp-fb")
        .filter_map(|a| a.value.as_deref())
    {
        let mut words = value.split_whitespace();
        if !words.next().is_some_and(|p| p == "*" || p == pt) {
            continue;
        }
        let kind = words.next().unwrap_or("").to_ascii_lowercase();
        let parameter = words.next().unwrap_or("").to_ascii_lowercase();
        match (kind.as_str(), parameter.as_str()) {
            ("nack", "") => fb.nack = true,
            ("nack", "pli") => fb.pli = true,
            ("ccm", "fir") => fb.fir = true,
            ("ccm", "tmmbr") => fb.tmmbr = true,
            ("goog-remb", _) => fb.remb = true,
            _ => {}
        }
    }
    fb
}

fn rtcp_fb_lines(mut md: MediaDescription, pt: u8, fb: Feedback) -> MediaDescription {
    let lines = [
        (fb.nack, "nack"),
        (fb.pli, "nack pli"),
        (fb.fir, "ccm fir"),
        (fb.tmmbr, "ccm tmmbr"),
        (fb.remb, "goog-remb"),
    ];
    for (_, line) in lines.iter().filter(|(on, _)| *on) {
        md = md.with_value_attribute("rtcp-fb".into(), format!("{pt} {line}"));
    }
    md
}

/// `max-fs`/`max-mbps` for what we decode, and `max-br` for what we take.
fn our_h264_fmtp(profile_level_id: &str, mode: u8, kbps: u32) -> String {
    format!(
        "profile-level-id={profile_level_id};packetization-mode={mode};max-fs={};max-mbps={};max-br={kbps}",
        OURS.max_fs, OURS.max_mbps
    )
}

fn our_vp8_fmtp() -> String {
    format!("max-fs={};max-fr=30", OURS.max_fs)
}

/// Every H.263 format we decode, at full rate.
const OUR_H263_FMTP: &str = "CIF4=1;CIF=1;QCIF=1;SQCIF=1";

/// The fmtp of `codec` in our answers and offers.
fn our_fmtp(codec: VideoCodec, profile_level_id: &str, mode: u8, kbps: u32) -> String {
    match codec {
        VideoCodec::H264 => our_h264_fmtp(profile_level_id, mode, kbps),
        VideoCodec::Vp8 => our_vp8_fmtp(),
        VideoCodec::H263 => OUR_H263_FMTP.into(),
    }
}

fn with_bandwidth(md: MediaDescription, kbps: u32) -> MediaDescription {
    use rtc_sdp::description::common::Bandwidth;
    let mut md = md;
    md.bandwidth = vec![
        Bandwidth {
            experimental: false,
            bandwidth_type: "AS".into(),
            bandwidth: u64::from(kbps),
        },
        Bandwidth {
            experimental: false,
            bandwidth_type: "TIAS".into(),
            bandwidth: u64::from(kbps) * 1000,
        },
    ];
    md
}

/// Our answer's video line on `port`: the chosen format only.
pub(super) fn answer_line(s: &StreamMedia, port: u16) -> MediaDescription {
    let v = s.video().expect("a video stream");
    let pt = s.payload_type;
    let kbps = s.bandwidth_kbps.unwrap_or(OURS.max_kbps.unwrap_or(4000));
    let md = media_line("video", port, avp(), vec![pt.to_string()]);
    let md = with_bandwidth(md, kbps);
    let [a, b, c] = v.profile_level_id.unwrap_or([0x42, 0xe0, 0x1f]);
    let profile_level_id = format!("{a:02x}{b:02x}{c:02x}");
    let fmtp = our_fmtp(v.codec, &profile_level_id, v.packetization_mode, kbps);
    let mut md = md
        .with_value_attribute("rtpmap".into(), format!("{pt} {}/90000", v.codec.name()))
        .with_value_attribute("fmtp".into(), format!("{pt} {fmtp}"));
    md = rtcp_fb_lines(md, pt, v.feedback);
    if s.rtcp_mux {
        md = md.with_property_attribute("rtcp-mux".into());
    }
    md.with_property_attribute(s.direction.attribute().into())
}

/// Our offer's video line on `port`: H.264 in mode 1 and mode 0, VP8
/// and H.263, in our order, with every feedback we do.
pub(super) fn offer_line(offer: &VideoOffer, port: u16, direction: Direction) -> MediaDescription {
    let mut formats = Vec::new();
    for codec in &offer.codecs {
        match codec {
            VideoCodec::H264 => {
                formats.push((codec.default_payload_type(), *codec, 1));
                formats.push((H264_MODE0_PAYLOAD_TYPE, *codec, 0));
            }
            VideoCodec::Vp8 | VideoCodec::H263 => {
                formats.push((codec.default_payload_type(), *codec, 0))
            }
        }
    }
    let list = formats.iter().map(|(pt, ..)| pt.to_string()).collect();
    let mut md = with_bandwidth(media_line("video", port, avp(), list), offer.max_kbps);
    let all = Feedback {
        nack: true,
        pli: true,
        fir: true,
        tmmbr: true,
        remb: false,
    };
    for (pt, codec, mode) in formats {
        let fmtp = our_fmtp(codec, OUR_PROFILE_LEVEL_ID, mode, offer.max_kbps);
        md = md
            .with_value_attribute("rtpmap".into(), format!("{pt} {}/90000", codec.name()))
            .with_value_attribute("fmtp".into(), format!("{pt} {fmtp}"));
        md = rtcp_fb_lines(md, pt, all);
    }
    md.with_property_attribute(direction.attribute().into())
}
