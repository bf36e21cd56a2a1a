//! Peer connections as the meeting service and its participants build them
//! (the SFU's, and the room connectors' in media/): the codecs a meeting
//! carries (Opus; VP8 and H.264) with fixed payload types, the default
//! interceptors (NACK, RTCP reports, TWCC), host candidates on given
//! addresses, no mDNS, and a handler that turns the connection's events into
//! [`PeerEvent`]s for the task that owns it.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use rtc::ice::mdns::MulticastDnsMode;
use rtc::peer_connection::certificate::{CertificateParams, RTCCertificate};
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8,
};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use tokio::sync::mpsc;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCConfigurationBuilder, RTCIceCandidateInit,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSessionDescription, Registry,
    SettingEngineBuilder,
};

use crate::protocol::Connection;

/// Something one of a participant's connections reports.
pub enum PeerEvent {
    Candidate(Connection, RTCIceCandidateInit),
    Track(Arc<dyn TrackRemote>),
    State(Connection, RTCPeerConnectionState),
}

/// The codecs the service forwards, with the payload types it offers.
pub fn codecs() -> Vec<(RtpCodecKind, RTCRtpCodecParameters)> {
    let feedback = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(typ, parameter)| RTCPFeedback {
                typ: (*typ).to_owned(),
                parameter: (*parameter).to_owned(),
            })
            .collect::<Vec<_>>()
    };
    let video_feedback = feedback(&[
        ("goog-remb", ""),
        ("transport-cc", ""),
        ("ccm", "fir"),
        ("nack", ""),
        ("nack", "pli"),
    ]);
    let codec = |mime: &str, clock_rate, channels, fmtp: &str, fb: &Vec<RTCPFeedback>, pt| {
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: mime.to_owned(),
                clock_rate,
                channels,
                sdp_fmtp_line: fmtp.to_owned(),
                rtcp_feedback: fb.clone(),
            },
            payload_type: pt,
        }
    };
    vec![
        (
            RtpCodecKind::Audio,
            codec(
                MIME_TYPE_OPUS,
                48000,
                2,
                "minptime=10;useinbandfec=1",
                &feedback(&[("transport-cc", "")]),
                111,
            ),
        ),
        (
            RtpCodecKind::Video,
            codec(MIME_TYPE_VP8, 90000, 0, "", &video_feedback, 96),
        ),
        (
            RtpCodecKind::Video,
            codec(
                MIME_TYPE_H264,
                90000,
                0,
                "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
                &video_feedback,
                102,
            ),
        ),
    ]
}

/// The payload type the service uses for a codec (by MIME type).
pub fn payload_type(mime: &str) -> Option<u8> {
    codecs()
        .into_iter()
        .find(|(_, c)| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
        .map(|(_, c)| c.payload_type)
}

/// RFC 6464 audio level header extension: how loud each audio packet is.
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

/// The id an SDP gives the header extension `uri` (`a=extmap:<id> <uri>`).
pub fn extmap_id(sdp: &str, uri: &str) -> Option<u8> {
    sdp.lines().find_map(|line| {
        let rest = line.trim_end().strip_prefix("a=extmap:")?;
        let (id, rest) = rest.split_once(' ')?;
        let id = id.split('/').next()?;
        (rest.split_whitespace().next() == Some(uri)).then(|| id.parse().ok())?
    })
}

/// The RFC 6464 level (-dBov) an audio-level extension carries.
pub fn audio_level(extension: &[u8]) -> Option<u8> {
    extension.first().map(|b| b & 0x7f)
}

/// The DTLS certificate every connection of this process presents, like
/// an SFU's one identity: made once, since key generation is the costliest
/// step of setting a connection up.
fn certificate() -> Option<RTCCertificate> {
    static CERTIFICATE: OnceLock<Option<RTCCertificate>> = OnceLock::new();
    CERTIFICATE
        .get_or_init(|| {
            let provider = rtc::crypto::default_provider().ok()?;
            let params = CertificateParams::new(vec!["mra".to_owned()]).ok()?;
            RTCCertificate::generate(
                provider.crypto(),
                rtc::crypto::SignatureScheme::EcdsaP256Sha256,
                params,
            )
            .ok()
        })
        .clone()
}

/// A new peer connection for `connection`, with host candidates on `ips`.
pub async fn peer_connection(
    ips: &[IpAddr],
    connection: Connection,
    events: mpsc::UnboundedSender<PeerEvent>,
) -> Result<Arc<dyn PeerConnection>, webrtc::error::Error> {
    let mut media_engine = MediaEngine::default();
    for (kind, codec) in codecs() {
        media_engine.register_codec(codec, kind)?;
    }
    media_engine.register_header_extension(
        RTCRtpHeaderExtensionCapability {
            uri: AUDIO_LEVEL_URI.to_owned(),
        },
        RtpCodecKind::Audio,
        None,
    )?;
    let registry = register_default_interceptors(Registry::new(), &mut media_engine)?;
    // Browsers reach the service's host candidates; it learns theirs from
    // their checks (peer reflexive), so it needs no mDNS of its own.
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(
            RTCConfigurationBuilder::new()
                .with_certificates(certificate().into_iter().collect())
                .build(),
        )
        .with_setting_engine(settings)
        .with_media_engine(media_engine)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(Handler { connection, events }))
        .with_udp_addrs(
            ips.iter()
                .map(|&ip| std::net::SocketAddr::new(ip, 0))
                .collect(),
        )
        .build()
        .await?;
    Ok(Arc::new(pc))
}

/// Makes an offer of `pc`'s current tracks and sets it as the local
/// description; returns its SDP.
pub async fn offer(pc: &dyn PeerConnection) -> Result<String, webrtc::error::Error> {
    let offer = pc.create_offer(None).await?;
    pc.set_local_description(offer.clone()).await?;
    Ok(offer.sdp)
}

/// Applies the far end's offer `sdp` to `pc` and answers it; returns the
/// answer's SDP.
pub async fn answer(pc: &dyn PeerConnection, sdp: String) -> Result<String, webrtc::error::Error> {
    pc.set_remote_description(RTCSessionDescription::offer(sdp)?)
        .await?;
    let answer = pc.create_answer(None).await?;
    pc.set_local_description(answer.clone()).await?;
    Ok(answer.sdp)
}

/// Applies the far end's answer `sdp` to our offer on `pc`.
pub async fn accept_answer(
    pc: &dyn PeerConnection,
    sdp: String,
) -> Result<(), webrtc::error::Error> {
    pc.set_remote_description(RTCSessionDescription::answer(sdp)?)
        .await
}

struct Handler {
    connection: Connection,
    events: mpsc::UnboundedSender<PeerEvent>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(candidate) = event.candidate.to_json() {
            let _ = self
                .events
                .send(PeerEvent::Candidate(self.connection, candidate));
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.events.send(PeerEvent::Track(track));
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.events.send(PeerEvent::State(self.connection, state));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extmap_ids_are_read_from_sdp() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
                   a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
                   a=extmap:3/sendonly http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n";
        assert_eq!(extmap_id(sdp, AUDIO_LEVEL_URI), Some(1));
        assert_eq!(
            extmap_id(
                sdp,
                "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
            ),
            Some(3)
        );
        assert_eq!(extmap_id(sdp, "urn:nothing"), None);
        assert_eq!(audio_level(&[0x80 | 42]), Some(42));
    }
}
