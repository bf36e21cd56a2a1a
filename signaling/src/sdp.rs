//! SDP offer/answer (RFC 3264) for a room's audio, on the webrtc family's
//! `rtc-sdp` parser: choose one audio codec from the offer in the offerer's
//! order, keep telephone-event, echo ptime, mirror direction, honour
//! rtcp-mux, and answer other m-lines (video, content) with port 0.

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

use media_api::{
    AudioCodec, AudioFormat, CodecOptions, Direction, Format, StreamKind, StreamMedia,
};
use rtc_sdp::description::common::{Address, Attribute, ConnectionInformation};
use rtc_sdp::description::media::{MediaName, RangedPort};
use rtc_sdp::description::session::{Origin, TimeDescription, Timing};
use rtc_sdp::{MediaDescription, SessionDescription};

/// Why no answer can be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("malformed SDP: {0}")]
    Malformed(String),
    #[error("no audio stream offered")]
    NoAudio,
    #[error("no common audio codec (offered: {0})")]
    NoCommonCodec(String),
}

impl SdpError {
    /// RFC 3261 Warning code for this failure (304/305: media type / format not available).
    pub fn warn_code(&self) -> u16 {
        match self {
            SdpError::Malformed(_) => 399,
            SdpError::NoAudio => 304,
            SdpError::NoCommonCodec(_) => 305,
        }
    }
}

/// A negotiated session: the audio leg's parameters and the m-lines we decline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub audio: StreamMedia,
    /// Index of the audio m-line in the offer.
    audio_index: usize,
    /// Declined m-lines in offer order: (index, media, proto, first format).
    declined: Vec<(usize, String, String, String)>,
}

fn static_codec(pt: u8) -> Option<(&'static str, u32)> {
    match pt {
        0 => Some(("PCMU", 8000)),
        8 => Some(("PCMA", 8000)),
        9 => Some(("G722", 8000)),
        _ => None,
    }
}

fn parse(body: &[u8]) -> Result<SessionDescription, SdpError> {
    SessionDescription::unmarshal(&mut Cursor::new(body))
        .map_err(|e| SdpError::Malformed(e.to_string()))
}

fn connection_ip(sd: &SessionDescription, md: &MediaDescription) -> Option<IpAddr> {
    md.connection_information
        .as_ref()
        .or(sd.connection_information.as_ref())
        .and_then(|c| c.address.as_ref())
        .and_then(|a| a.address.split('/').next()?.parse().ok())
}

/// Where the far end wants RTCP: `a=rtcp` (RFC 3605), else the port after RTP.
fn remote_rtcp(md: &MediaDescription, rtp: SocketAddr) -> SocketAddr {
    let attribute = md.attribute("rtcp").flatten().and_then(|v| {
        let mut parts = v.split_whitespace();
        let port: u16 = parts.next()?.parse().ok()?;
        let ip = match (parts.next(), parts.next(), parts.next()) {
            (Some("IN"), Some(_), Some(ip)) => ip.parse().ok()?,
            _ => rtp.ip(),
        };
        Some(SocketAddr::new(ip, port))
    });
    attribute.unwrap_or_else(|| SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1)))
}

/// The media's bandwidth limit in kbit/s (`b=AS`, or `b=TIAS` in bit/s).
fn bandwidth_kbps(md: &MediaDescription) -> Option<u32> {
    md.bandwidth
        .iter()
        .find_map(|b| match b.bandwidth_type.as_str() {
            "AS" => u32::try_from(b.bandwidth).ok(),
            "TIAS" => u32::try_from(b.bandwidth / 1000).ok(),
            _ => None,
        })
}

fn direction_of(sd: &SessionDescription, md: &MediaDescription) -> Direction {
    let find = |attrs: &[Attribute]| {
        attrs.iter().find_map(|a| match a.key.as_str() {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        })
    };
    find(&md.attributes)
        .or_else(|| find(&sd.attributes))
        .unwrap_or(Direction::SendRecv)
}

/// Reads the remote audio description (offer or answer), picking the first of
/// its codecs that we support.
fn remote_audio(
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
    let ip = connection_ip(sd, md);
    let port =
        u16::try_from(md.media_name.port.value).map_err(|_| SdpError::Malformed("port".into()))?;
    let held = ip.is_some_and(|ip| ip.is_unspecified());
    let mut direction = direction_of(sd, md);
    if held && direction == Direction::SendRecv {
        direction = Direction::SendOnly; // RFC 2543 hold: c=0.0.0.0
    }
    let ptime = md
        .attribute("ptime")
        .flatten()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(20);
    let fmtp = md
        .attributes
        .iter()
        .filter(|a| a.key == "fmtp")
        .filter_map(|a| a.value.as_deref())
        .find_map(|v| v.strip_prefix(&format!("{pt} ")))
        .unwrap_or("");
    let fmtp_value = |name: &str| {
        fmtp.split(';')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.trim().parse().ok())
    };
    let flag = |name: &str| {
        fmtp.split(';')
            .filter_map(|p| p.split_once('='))
            .any(|(k, v)| k.trim().eq_ignore_ascii_case(name) && v.trim() == "1")
    };
    let remote_rtp = ip
        .filter(|ip| !ip.is_unspecified())
        .map(|ip| SocketAddr::new(ip, port));
    let rtcp_mux = md.attribute("rtcp-mux").is_some();
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
                    max_playback_rate: fmtp_value("maxplaybackrate"),
                },
                ptime,
                dtmf_payload_type: dtmf_pt,
            }),
            direction,
            bandwidth_kbps: bandwidth_kbps(md),
            remote_rtp,
            remote_rtcp: remote_rtp.map(|rtp| remote_rtcp(md, rtp)),
            rtcp_mux,
            crypto: None,
        },
    ))
}

/// Negotiates an answer to a remote offer.
pub fn negotiate(offer: &[u8], supported: &[AudioCodec]) -> Result<Negotiated, SdpError> {
    let sd = parse(offer)?;
    let (audio_index, mut audio) = remote_audio(&sd, supported)?;
    audio.direction = audio.direction.answer();
    let declined = sd
        .media_descriptions
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != audio_index)
        .map(|(i, m)| {
            let n = &m.media_name;
            (
                i,
                n.media.clone(),
                n.protos.join("/"),
                n.formats.first().cloned().unwrap_or_else(|| "0".into()),
            )
        })
        .collect();
    Ok(Negotiated {
        audio,
        audio_index,
        declined,
    })
}

/// Reads the remote answer to our offer.
pub fn read_answer(answer: &[u8], supported: &[AudioCodec]) -> Result<StreamMedia, SdpError> {
    let sd = parse(answer)?;
    remote_audio(&sd, supported).map(|(_, m)| m)
}

/// Identity of our SDP session; the version grows with each new description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdpSession {
    pub id: u64,
    pub version: u64,
}

fn session(local: SocketAddr, s: SdpSession) -> SessionDescription {
    let (addr_type, ip) = match local.ip() {
        IpAddr::V4(ip) => ("IP4", ip.to_string()),
        IpAddr::V6(ip) => ("IP6", ip.to_string()),
    };
    SessionDescription {
        origin: Origin {
            username: "mra".into(),
            session_id: s.id,
            session_version: s.version,
            network_type: "IN".into(),
            address_type: addr_type.into(),
            unicast_address: ip.clone(),
        },
        session_name: "MRA".into(),
        connection_information: Some(ConnectionInformation {
            network_type: "IN".into(),
            address_type: addr_type.into(),
            address: Some(Address {
                address: ip,
                ttl: None,
                range: None,
            }),
        }),
        time_descriptions: vec![TimeDescription {
            timing: Timing {
                start_time: 0,
                stop_time: 0,
            },
            repeat_times: vec![],
        }],
        ..Default::default()
    }
}

fn audio_line(
    local: SocketAddr,
    formats: &[(u8, AudioCodec)],
    dtmf: Option<(u8, u32)>,
    ptime: u32,
    direction: Direction,
    rtcp_mux: bool,
) -> MediaDescription {
    let mut md = MediaDescription {
        media_name: MediaName {
            media: "audio".into(),
            port: RangedPort {
                value: local.port() as isize,
                range: None,
            },
            protos: vec!["RTP".into(), "AVP".into()],
            formats: formats.iter().map(|(pt, _)| pt.to_string()).collect(),
        },
        ..Default::default()
    };
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

/// Renders our answer: the audio leg at `local`, other m-lines declined.
pub fn render_answer(n: &Negotiated, local: SocketAddr, s: SdpSession) -> String {
    let mut sd = session(local, s);
    let s = &n.audio;
    let Format::Audio(a) = &s.format;
    let dtmf = a.dtmf_payload_type.map(|pt| (pt, a.codec.clock_rate()));
    let audio = audio_line(
        local,
        &[(s.payload_type, a.codec)],
        dtmf,
        a.ptime,
        s.direction,
        s.rtcp_mux,
    );
    let count = n.declined.len() + 1;
    let mut declined = n.declined.iter();
    for i in 0..count {
        if i == n.audio_index {
            sd.media_descriptions.push(audio.clone());
        } else if let Some((_, media, proto, fmt)) = declined.next() {
            sd.media_descriptions.push(MediaDescription {
                media_name: MediaName {
                    media: media.clone(),
                    port: RangedPort {
                        value: 0,
                        range: None,
                    },
                    protos: proto.split('/').map(str::to_owned).collect(),
                    formats: vec![fmt.clone()],
                },
                ..Default::default()
            });
        }
    }
    sd.marshal()
}

/// Renders our offer (late-offer INVITEs and session refreshes): every supported codec.
pub fn render_offer(
    supported: &[AudioCodec],
    local: SocketAddr,
    direction: Direction,
    s: SdpSession,
) -> String {
    let mut sd = session(local, s);
    let formats: Vec<(u8, AudioCodec)> = supported
        .iter()
        .map(|c| (c.default_payload_type(), *c))
        .collect();
    sd.media_descriptions.push(audio_line(
        local,
        &formats,
        Some((101, 8000)),
        20,
        direction,
        false,
    ));
    sd.marshal()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[AudioCodec] = &[
        AudioCodec::Opus,
        AudioCodec::G722,
        AudioCodec::Pcmu,
        AudioCodec::Pcma,
    ];

    fn codec(n: &Negotiated) -> AudioCodec {
        n.audio.audio().unwrap().codec
    }

    #[test]
    fn rtcp_address_and_bandwidth_are_read() {
        let o = offer("m=audio 4000 RTP/AVP 0\r\nb=AS:64\r\na=rtcp:4005 IN IP4 192.0.2.11\r\n");
        let n = negotiate(o.as_bytes(), ALL).unwrap();
        assert_eq!(
            n.audio.remote_rtcp,
            Some("192.0.2.11:4005".parse().unwrap())
        );
        assert_eq!(n.audio.bandwidth_kbps, Some(64));
        let o = offer("m=audio 4000 RTP/AVP 0\r\n");
        let n = negotiate(o.as_bytes(), ALL).unwrap();
        assert_eq!(
            n.audio.remote_rtcp,
            Some("192.0.2.10:4001".parse().unwrap())
        );
        assert_eq!(n.audio.bandwidth_kbps, None);
    }

    fn offer(media: &str) -> String {
        format!(
            "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n{media}"
        )
    }

    #[test]
    fn picks_first_offered_supported_codec_and_keeps_dtmf() {
        let o = offer("m=audio 4000 RTP/AVP 18 8 0 101\r\na=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:30\r\na=rtcp-mux\r\nm=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n");
        let n = negotiate(o.as_bytes(), ALL).unwrap();
        let audio = n.audio.audio().unwrap();
        assert_eq!(audio.codec, AudioCodec::Pcma);
        assert_eq!(n.audio.payload_type, 8);
        assert_eq!(audio.dtmf_payload_type, Some(101));
        assert_eq!(audio.ptime, 30);
        assert!(n.audio.rtcp_mux);
        assert_eq!(n.audio.remote_rtp, Some("192.0.2.10:4000".parse().unwrap()));
        let text = render_answer(
            &n,
            "127.0.0.1:40000".parse().unwrap(),
            SdpSession { id: 7, version: 1 },
        );
        assert!(text.contains("m=audio 40000 RTP/AVP 8 101\r\n"), "{text}");
        assert!(text.contains("m=video 0 RTP/AVP 96\r\n"), "{text}");
        assert!(
            text.contains("a=rtcp-mux")
                && text.contains("a=sendrecv")
                && text.contains("a=ptime:30")
        );
        // Our answer parses back.
        assert_eq!(
            read_answer(text.as_bytes(), ALL)
                .unwrap()
                .audio()
                .unwrap()
                .codec,
            AudioCodec::Pcma
        );
    }

    #[test]
    fn opus_and_g722_by_rtpmap() {
        let o = offer("m=audio 4000 RTP/AVP 111 9\r\na=rtpmap:111 opus/48000/2\r\n");
        assert_eq!(
            codec(&negotiate(o.as_bytes(), ALL).unwrap()),
            AudioCodec::Opus
        );
        let o = offer("m=audio 4000 RTP/AVP 9 0\r\n");
        assert_eq!(
            codec(&negotiate(o.as_bytes(), ALL).unwrap()),
            AudioCodec::G722
        );
    }

    #[test]
    fn hold_directions_are_mirrored() {
        let n = negotiate(
            offer("m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n").as_bytes(),
            ALL,
        )
        .unwrap();
        assert_eq!(n.audio.direction, Direction::RecvOnly);
        let o = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        let n = negotiate(o.as_bytes(), ALL).unwrap();
        assert_eq!(n.audio.direction, Direction::RecvOnly);
        assert_eq!(n.audio.remote_rtp, None);
        let n = negotiate(
            offer("m=audio 4000 RTP/AVP 0\r\na=inactive\r\n").as_bytes(),
            ALL,
        )
        .unwrap();
        assert_eq!(n.audio.direction, Direction::Inactive);
    }

    #[test]
    fn refusals() {
        let err = negotiate(offer("m=audio 4000 RTP/AVP 18\r\n").as_bytes(), ALL).unwrap_err();
        assert!(matches!(err, SdpError::NoCommonCodec(_)));
        assert_eq!(err.warn_code(), 305);
        assert_eq!(
            negotiate(offer("m=video 4000 RTP/AVP 96\r\n").as_bytes(), ALL),
            Err(SdpError::NoAudio)
        );
        assert!(matches!(
            negotiate(b"garbage", ALL),
            Err(SdpError::Malformed(_))
        ));
    }

    #[test]
    fn our_offer_lists_every_codec() {
        let text = render_offer(
            ALL,
            "127.0.0.1:40002".parse().unwrap(),
            Direction::SendRecv,
            SdpSession { id: 1, version: 1 },
        );
        assert!(
            text.contains("m=audio 40002 RTP/AVP 111 9 0 8 101"),
            "{text}"
        );
    }
}
