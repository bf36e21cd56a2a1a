//! SDP offer/answer (RFC 3264) for a room's audio and video, on the
//! webrtc family's `rtc-sdp` parser: one audio codec chosen from the offer
//! ([`audio`]), the room's camera line answered with H.264 or VP8
//! ([`video`]), directions mirrored, rtcp-mux honoured, SRTP keys taken
//! and given by SDES ([`sdes`]) or a DTLS-SRTP handshake agreed
//! ([`dtls`]), and every other m-line (a second video
//! line for content, H.224, BFCP) declined with port 0.

mod audio;
mod dtls;
mod sdes;
#[cfg(test)]
mod tests;
mod video;

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

use media_api::{AudioCodec, Direction, LegMedia, StreamKind, StreamMedia, VideoCodec};
use rtc_sdp::description::common::{Address, Attribute, ConnectionInformation};
use rtc_sdp::description::media::{MediaName, RangedPort};
use rtc_sdp::description::session::{Origin, TimeDescription, Timing};
use rtc_sdp::{MediaDescription, SessionDescription};

pub use media_api::Encryption;
pub use sdes::Keying;
pub use video::VideoOffer;

/// What a call's audio takes of its rate, at most (Opus in wideband with
/// its packet overhead): a session-level `b=` less this is left for video.
pub const AUDIO_KBPS: u32 = 64;

/// Why no answer can be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("malformed SDP: {0}")]
    Malformed(String),
    #[error("no audio stream offered")]
    NoAudio,
    #[error("no common audio codec (offered: {0})")]
    NoCommonCodec(String),
    /// SRTP as offered cannot be taken; the text says why.
    #[error("{0}")]
    Crypto(String),
    #[error("encryption is required here: offer SRTP (DTLS-SRTP, or SDES over TLS: sips: or ;transport=tls)")]
    EncryptionRequired,
}

impl SdpError {
    /// RFC 3261 Warning code for this failure (304/305: media type / format not available).
    pub fn warn_code(&self) -> u16 {
        match self {
            SdpError::Malformed(_) => 399,
            SdpError::NoAudio => 304,
            SdpError::NoCommonCodec(_) => 305,
            SdpError::Crypto(_) => 306,
            SdpError::EncryptionRequired => 399,
        }
    }
}

/// What we offer and accept, in our order of preference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Codecs {
    pub audio: Vec<AudioCodec>,
    /// None: video is declined.
    pub video: Option<VideoOffer>,
}

impl Codecs {
    /// Every codec we do, in our order, video at `video_kbps`.
    pub fn all(video_kbps: u32) -> Codecs {
        Codecs {
            audio: vec![
                AudioCodec::Opus,
                AudioCodec::G722,
                AudioCodec::Pcmu,
                AudioCodec::Pcma,
            ],
            video: Some(VideoOffer {
                codecs: vec![VideoCodec::H264, VideoCodec::Vp8, VideoCodec::H263],
                max_kbps: video_kbps,
            }),
        }
    }
}

/// Where our media listens, as rooms are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    pub audio: SocketAddr,
    /// None: no video stream is bound (its m-line is declined).
    pub video: Option<SocketAddr>,
    /// The SHA-256 fingerprint media's DTLS-SRTP handshakes show.
    pub dtls_fingerprint: Option<[u8; 32]>,
}

/// How we answered one m-line of the offer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Audio(sdes::Profile),
    Video(sdes::Profile),
    /// Declined: its media, protocol and first format, echoed with port 0.
    Declined {
        media: String,
        proto: String,
        format: String,
    },
}

/// A negotiated session: the streams agreed, and how each m-line of the
/// offer was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub audio: StreamMedia,
    pub video: Option<StreamMedia>,
    lines: Vec<Line>,
}

impl Negotiated {
    /// The streams media is told of: the video only where it is bound.
    pub fn media(&self, video_bound: bool) -> LegMedia {
        let mut media = LegMedia::of(self.audio.clone());
        if let Some(video) = self.video.clone().filter(|_| video_bound) {
            media.streams.push(video);
        }
        media
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

/// A bandwidth limit in kbit/s from `b=AS` (kbit/s) or `b=TIAS` (bit/s).
fn bandwidth_of(lines: &[rtc_sdp::description::common::Bandwidth]) -> Option<u32> {
    lines.iter().find_map(|b| match b.bandwidth_type.as_str() {
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

/// The `a=fmtp` parameters of payload type `pt`, as (name, value) pairs
/// (separated by `;`, with or without spaces: Poly writes `"; "`).
fn fmtp_of(md: &MediaDescription, pt: u8) -> Vec<(String, String)> {
    let prefix = format!("{pt} ");
    md.attributes
        .iter()
        .filter(|a| a.key == "fmtp")
        .filter_map(|a| a.value.as_deref())
        .find_map(|v| v.strip_prefix(&prefix))
        .unwrap_or("")
        .split(';')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect()
}

/// One parameter of [`fmtp_of`]'s list, parsed.
fn fmtp_value<T: std::str::FromStr>(fmtp: &[(String, String)], name: &str) -> Option<T> {
    fmtp.iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.parse().ok())
}

/// The remote RTP address and direction of an m-line; `c=0.0.0.0` (RFC
/// 2543 hold) leaves no address and makes sendrecv sendonly.
fn endpoint(
    sd: &SessionDescription,
    md: &MediaDescription,
) -> Result<(Option<SocketAddr>, Direction), SdpError> {
    let ip = connection_ip(sd, md);
    let port =
        u16::try_from(md.media_name.port.value).map_err(|_| SdpError::Malformed("port".into()))?;
    let held = ip.is_some_and(|ip| ip.is_unspecified());
    let mut direction = direction_of(sd, md);
    if held && direction == Direction::SendRecv {
        direction = Direction::SendOnly;
    }
    let remote = ip
        .filter(|ip| !ip.is_unspecified())
        .map(|ip| SocketAddr::new(ip, port));
    Ok((remote, direction))
}

/// The remote streams of a description (offer or answer), with their
/// keys when encrypted. A camera line that cannot be taken as offered
/// (or in clear under a required policy) is declined, not the call.
fn remote_streams(
    sd: &SessionDescription,
    codecs: &Codecs,
    keying: &mut Keying,
) -> Result<(StreamMedia, Option<StreamMedia>, Vec<Line>), SdpError> {
    let (audio_index, mut audio) = audio::remote(sd, &codecs.audio)?;
    let (crypto, audio_profile) = sdes::read(
        sd,
        &sd.media_descriptions[audio_index],
        StreamKind::Audio,
        keying,
    )?;
    audio.crypto = crypto;
    let video = codecs
        .video
        .as_ref()
        .and_then(|offer| video::remote(sd, offer).transpose())
        .transpose()?
        .and_then(|(index, video)| {
            match sdes::read(sd, &sd.media_descriptions[index], StreamKind::Video, keying) {
                Ok((None, _)) if keying.policy == Encryption::Required => None,
                Ok((crypto, profile)) => Some((index, StreamMedia { crypto, ..video }, profile)),
                Err(_) => None,
            }
        });
    let lines = sd
        .media_descriptions
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if i == audio_index {
                Line::Audio(audio_profile.clone())
            } else if let Some((_, _, profile)) = video.as_ref().filter(|(vi, ..)| *vi == i) {
                Line::Video(profile.clone())
            } else {
                let n = &m.media_name;
                Line::Declined {
                    media: n.media.clone(),
                    proto: n.protos.join("/"),
                    format: n.formats.first().cloned().unwrap_or_else(|| "0".into()),
                }
            }
        })
        .collect();
    Ok((audio, video.map(|(_, v, _)| v), lines))
}

/// Negotiates an answer to a remote offer.
pub fn negotiate(
    offer: &[u8],
    codecs: &Codecs,
    keying: &mut Keying,
) -> Result<Negotiated, SdpError> {
    let sd = parse(offer)?;
    let (mut audio, mut video, lines) = remote_streams(&sd, codecs, keying)?;
    audio.direction = audio.direction.answer();
    if let Some(video) = video.as_mut() {
        video.direction = video.direction.answer();
    }
    Ok(Negotiated {
        audio,
        video,
        lines,
    })
}

/// Reads the remote answer to our offer.
pub fn read_answer(
    answer: &[u8],
    codecs: &Codecs,
    keying: &mut Keying,
) -> Result<LegMedia, SdpError> {
    let sd = parse(answer)?;
    let (audio, video, _) = remote_streams(&sd, codecs, keying)?;
    let mut media = LegMedia::of(audio);
    media.streams.extend(video.map(|mut v| {
        v.direction = v.direction.answer();
        v
    }));
    Ok(media)
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

/// An m-line of `media` on `port` with `formats`, over RTP/AVP.
fn media_line(
    media: &str,
    port: u16,
    protos: Vec<String>,
    formats: Vec<String>,
) -> MediaDescription {
    MediaDescription {
        media_name: MediaName {
            media: media.into(),
            port: RangedPort {
                value: port as isize,
                range: None,
            },
            protos,
            formats,
        },
        ..Default::default()
    }
}

fn avp() -> Vec<String> {
    vec!["RTP".into(), "AVP".into()]
}

/// Renders our answer: audio and video at `local`, other m-lines (and
/// video when none is bound) declined, in the offer's order.
pub fn render_answer(n: &Negotiated, local: Addresses, s: SdpSession) -> String {
    let mut sd = session(local.audio, s);
    for line in &n.lines {
        let md = match (line, &n.video, local.video) {
            (Line::Audio(profile), ..) => sdes::secure(
                audio::answer_line(&n.audio, local.audio.port()),
                n.audio.crypto.as_ref(),
                profile,
                local.dtls_fingerprint,
            ),
            (Line::Video(profile), Some(video), Some(at)) => sdes::secure(
                video::answer_line(video, at.port()),
                video.crypto.as_ref(),
                profile,
                local.dtls_fingerprint,
            ),
            (Line::Video(_), ..) => {
                let format = n.video.as_ref().map_or(0, |v| v.payload_type);
                media_line("video", 0, avp(), vec![format.to_string()])
            }
            (
                Line::Declined {
                    media,
                    proto,
                    format,
                },
                ..,
            ) => media_line(
                media,
                0,
                proto.split('/').map(str::to_owned).collect(),
                vec![format.clone()],
            ),
        };
        sd.media_descriptions.push(md);
    }
    sd.marshal()
}

/// Renders our offer (late-offer INVITEs, call-outs, re-INVITEs without
/// an offer): every supported codec, video where a video stream is bound,
/// and our SRTP keys where they may be given ([`sdes`]).
pub fn render_offer(
    codecs: &Codecs,
    local: Addresses,
    direction: Direction,
    s: SdpSession,
    keying: &mut Keying,
) -> String {
    let mut sd = session(local.audio, s);
    let audio = audio::offer_line(&codecs.audio, local.audio.port(), direction);
    sd.media_descriptions
        .push(sdes::offer(audio, StreamKind::Audio, keying));
    if let (Some(offer), Some(at)) = (&codecs.video, local.video) {
        let video = video::offer_line(offer, at.port(), direction);
        sd.media_descriptions
            .push(sdes::offer(video, StreamKind::Video, keying));
    }
    sd.marshal()
}
