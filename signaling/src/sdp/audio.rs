//! The audio m-line: the first of the offerer's codecs that we support,
//! RFC 4733 telephone-event kept, ptime echoed, Opus parameters read.

use media_api::{
    AudioCodec, AudioFormat, CodecOptions, Direction, Format, StreamKind, StreamMedia,
};
use rtc_sdp::{MediaDescription, SessionDescription};

use super::{avp, bandwidth_of, endpoint, fmtp_of, fmtp_value, media_line, remote_rtcp, SdpError};

fn static_codec(pt: u8) -> Option<(&'static str, u32)> {
    match pt {
        0 => Some(("PCMU", 8000)),
        8 => Some(("PCMA", 8000)),
        9 => Some(("G722", 8000)),
        _ => None,
    }
}

/// Reads the remote audio description (offer or answer), picking the first of
/// its codecs that we support; returns its m-line's index.
pub(super) fn remote(
    sd: &SessionDescription,
    supported: &[AudioCodec],
) -> Result<(usize, StreamMedia), SdpError> {
    let (index, md) = sd
        .media_descriptions
        .iter()
        .enumerate()
        .find(|(_, m)| m.media_name.media == "audio" && m.media_name.port.value != 0)
        .ok_or(SdpError::NoAudio)?;
    let rtpmaps = md.codecs();
    let mut chosen = None;
    let mut dtmf = Vec::new();
    for fmt in &md.media_name.formats {
        let Ok(pt) = fmt.parse::<u8>() else { continue };
        let (name, rate) = match rtpmaps.get(&pt) {
            Some(c) => (c.name.clone(), c.clock_rate),
            None => match static_codec(pt) {
                Some((n, r)) => (n.to_owned(), r),
                None => continue,
            },
        };
        if name.eq_ignore_ascii_case("telephone-event") {
            dtmf.push((pt, rate));
        } else if chosen.is_none() {
            chosen = supported
                .iter()
                .find(|c| c.matches(&name, rate))
                .map(|c| (*c, pt));
        }
    }
    let (codec, pt) =
        chosen.ok_or_else(|| SdpError::NoCommonCodec(md.media_name.formats.join(" ")))?;
    let dtmf_pt = dtmf
        .iter()
        .find(|(_, r)| *r == codec.clock_rate())
        .or(dtmf.first())
        .map(|(pt, _)| *pt);
    let (remote_rtp, direction) = endpoint(sd, md)?;
    let ptime = md
        .attribute("ptime")
        .flatten()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(20);
    let fmtp = fmtp_of(md, pt);
    let flag = |name: &str| fmtp_value::<u8>(&fmtp, name) == Some(1);
    Ok((
        index,
        StreamMedia {
            kind: StreamKind::Audio,
            payload_type: pt,
            format: Format::Audio(AudioFormat {
                codec,
                options: CodecOptions {
                    fec: flag("useinbandfec"),
                    dtx: flag("usedtx"),
                    max_playback_rate: fmtp_value(&fmtp, "maxplaybackrate"),
                },
                ptime,
                dtmf_payload_type: dtmf_pt,
            }),
            direction,
            bandwidth_kbps: bandwidth_of(&md.bandwidth),
            remote_rtp,
            remote_rtcp: remote_rtp.map(|rtp| remote_rtcp(md, rtp)),
            rtcp_mux: md.attribute("rtcp-mux").is_some(),
            crypto: None,
        },
    ))
}

fn line(
    port: u16,
    formats: &[(u8, AudioCodec)],
    dtmf: Option<(u8, u32)>,
    ptime: u32,
    direction: Direction,
    rtcp_mux: bool,
) -> MediaDescription {
    let list = formats.iter().map(|(pt, _)| pt.to_string()).collect();
    let mut md = media_line("audio", port, avp(), list);
    for (pt, codec) in formats {
        md = md.with_value_attribute("rtpmap".into(), format!("{pt} {}", codec.rtpmap()));
        if let Some(fmtp) = codec.fmtp() {
            md = md.with_value_attribute("fmtp".into(), format!("{pt} {fmtp}"));
        }
    }
    if let Some((pt, rate)) = dtmf {
        md.media_name.formats.push(pt.to_string());
        md = md
            .with_value_attribute("rtpmap".into(), format!("{pt} telephone-event/{rate}"))
            .with_value_attribute("fmtp".into(), format!("{pt} 0-16"));
    }
    md = md.with_value_attribute("ptime".into(), ptime.to_string());
    if rtcp_mux {
        md = md.with_property_attribute("rtcp-mux".into());
    }
    md.with_property_attribute(direction.attribute().into())
}

/// Our answer's audio line on `port`.
pub(super) fn answer_line(s: &StreamMedia, port: u16) -> MediaDescription {
    let a = s.audio().expect("an audio stream");
    let dtmf = a.dtmf_payload_type.map(|pt| (pt, a.codec.clock_rate()));
    line(
        port,
        &[(s.payload_type, a.codec)],
        dtmf,
        a.ptime,
        s.direction,
        s.rtcp_mux,
    )
}

/// Our offer's audio line on `port`: every codec we support.
pub(super) fn offer_line(
    supported: &[AudioCodec],
    port: u16,
    direction: Direction,
) -> MediaDescription {
    let formats: Vec<(u8, AudioCodec)> = supported
        .iter()
        .map(|c| (c.default_payload_type(), *c))
        .collect();
    line(port, &formats, Some((101, 8000)), 20, direction, false)
}
