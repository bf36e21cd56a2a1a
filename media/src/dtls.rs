//! DTLS-SRTP (RFC 5763/5764) on a room's stream: a DTLS handshake on
//! the stream's own RTP port (and on its RTCP port too, without
//! rtcp-mux), in the role signaling agreed (`a=setup`), on the webrtc
//! family's sans-IO `rtc-dtls`. The room's certificate must hash to the
//! fingerprint its SDP gave; the SRTP keys are exported from the
//! handshake (RFC 5764 §4.2) and handed to the stream's send and receive
//! paths, which send nothing and drop everything until then. Records are
//! told from RTP, RTCP and STUN by their first byte (RFC 7983). The node
//! shows one self-signed certificate ([`DtlsIdentity`]), made at start.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use media_api::{Crypto, DtlsRole, SrtpKey, SrtpSuite};
use rtc_crypto::providers::{RingCrypto, RingProvider};
use rtc_dtls::config::{
    ClientAuthType, ConfigBuilder, ExtendedMasterSecretType, HandshakeConfig,
    VerifyPeerCertificateFn,
};
use rtc_dtls::crypto::Certificate;
use rtc_dtls::endpoint::{Endpoint, EndpointEvent};
use rtc_dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use rtc_dtls::state::State;
use rtc_shared::error::Error;
use rtc_shared::TransportProtocol;
use rtc_srtp::config::LABEL_EXTRACTOR_DTLS_SRTP;
use tracing::{info, warn};

use crate::srtp::{Component, SrtpReceive, SrtpSend};

/// How long a handshake may stay unfinished before it is logged (the
/// stream stays silent meanwhile).
const PATIENCE: Duration = Duration::from_secs(10);

/// The certificate this node shows in DTLS-SRTP handshakes: self-signed
/// (RFC 5763 §5: the SDP fingerprint is what vouches for it), made when
/// the media engine starts.
pub struct DtlsIdentity {
    certificate: Certificate,
    fingerprint: [u8; 32],
}

impl DtlsIdentity {
    pub fn generate() -> Result<DtlsIdentity, String> {
        let certificate = Certificate::generate_self_signed(vec!["mra".to_owned()], &RingCrypto)
            .map_err(|e| e.to_string())?;
        let der = certificate
            .certificate
            .first()
            .ok_or("a certificate without a DER")?;
        let digest = ring::digest::digest(&ring::digest::SHA256, der.as_ref());
        let mut fingerprint = [0; 32];
        fingerprint.copy_from_slice(digest.as_ref());
        Ok(DtlsIdentity {
            certificate,
            fingerprint,
        })
    }

    /// The SHA-256 fingerprint of our certificate.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// A handshake's configuration: our certificate, the SRTP profiles we
    /// run, the room's certificate required (as server too) and checked
    /// against `theirs`.
    fn config(&self, role: DtlsRole, theirs: &str) -> Result<Arc<HandshakeConfig>, Error> {
        let theirs = theirs.to_owned();
        let verify: VerifyPeerCertificateFn =
            Arc::new(move |certs: &[Vec<u8>], _| match certs.first() {
                Some(der) if matches_fingerprint(der, &theirs) => Ok(()),
                Some(_) => Err(Error::ErrNoMatchingCertificateFingerprint),
                None => Err(Error::ErrNonCertificate),
            });
        let config = ConfigBuilder::default()
            .with_crypto_provider(Arc::new(RingProvider::new()))
            .with_certificates(vec![self.certificate.clone()])
            .with_srtp_protection_profiles(vec![
                SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
                SrtpProtectionProfile::Srtp_Aead_Aes_256_Gcm,
                SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
                SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_32,
            ])
            .with_client_auth(ClientAuthType::RequireAnyClientCert)
            .with_insecure_skip_verify(true)
            .with_verify_peer_certificate(Some(verify))
            .with_extended_master_secret(ExtendedMasterSecretType::Request)
            .build(role == DtlsRole::Client, None)?;
        Ok(Arc::new(config))
    }
}

/// Whether `der` hashes to `fingerprint` (`sha-256 AB:CD:…`; SHA-1,
/// -256, -384 and -512 as RFC 4572 names them).
fn matches_fingerprint(der: &[u8], fingerprint: &str) -> bool {
    let Some((algorithm, value)) = fingerprint.split_once(' ') else {
        return false;
    };
    let algorithm = match algorithm.to_ascii_lowercase().as_str() {
        "sha-1" => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        "sha-256" => &ring::digest::SHA256,
        "sha-384" => &ring::digest::SHA384,
        "sha-512" => &ring::digest::SHA512,
        _ => return false,
    };
    let digest = ring::digest::digest(algorithm, der);
    let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":").eq_ignore_ascii_case(value.trim())
}

/// True for a DTLS record on a media port (RFC 7983: first byte 20–63).
pub(crate) fn is_dtls(packet: &[u8]) -> bool {
    packet.first().is_some_and(|b| (20..=63).contains(b))
}

/// The SRTP keys one handshake gave, for the packets its port carries.
pub(crate) struct Keys {
    component: Component,
    suite: SrtpSuite,
    ours: SrtpKey,
    theirs: SrtpKey,
}

impl Keys {
    /// Keys a stream's send and receive paths.
    pub fn install(&self, send: &mut SrtpSend, receive: &mut SrtpReceive) {
        send.key(self.component, self.suite, &self.ours);
        receive.key(self.component, self.suite, &self.theirs);
    }

    /// The keys of a finished handshake (RFC 5764 §4.2: client key,
    /// server key, client salt, server salt).
    fn exported(state: &State, role: DtlsRole, component: Component) -> Result<Keys, String> {
        let suite = match state.srtp_protection_profile() {
            SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80 => SrtpSuite::AesCm128HmacSha1_80,
            SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_32 => SrtpSuite::AesCm128HmacSha1_32,
            SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm => SrtpSuite::AeadAes128Gcm,
            SrtpProtectionProfile::Srtp_Aead_Aes_256_Gcm => SrtpSuite::AeadAes256Gcm,
            other => return Err(format!("no SRTP profile agreed ({other:?})")),
        };
        let (k, s) = (suite.key_len(), suite.salt_len());
        let material = state
            .export_keying_material(LABEL_EXTRACTOR_DTLS_SRTP, &[], 2 * (k + s))
            .map_err(|e| e.to_string())?;
        let m = material.as_ref();
        let key = |key: &[u8], salt: &[u8]| SrtpKey {
            key_salt: [key, salt].concat(),
            mki_len: 0,
        };
        let client = key(&m[..k], &m[2 * k..2 * k + s]);
        let server = key(&m[k..2 * k], &m[2 * k + s..]);
        let (ours, theirs) = match role {
            DtlsRole::Client => (client, server),
            DtlsRole::Server => (server, client),
        };
        Ok(Keys {
            component,
            suite,
            ours,
            theirs,
        })
    }
}

/// The handshake on one port.
struct Handshake {
    component: Component,
    endpoint: Endpoint,
    /// The room's address on this port, once it is known (as client: the
    /// SDP's; as server: where the first ClientHello came from).
    peer: Option<SocketAddr>,
    keyed: bool,
    started: Instant,
    /// A failure or a long wait has been logged.
    told: bool,
}

impl Handshake {
    fn new(
        component: Component,
        role: DtlsRole,
        config: Arc<HandshakeConfig>,
        remote: Option<SocketAddr>,
        socket: &UdpSocket,
        now: Instant,
    ) -> Handshake {
        let local = socket
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let server = (role == DtlsRole::Server).then(|| config.clone());
        let mut handshake = Handshake {
            component,
            endpoint: Endpoint::new(local, TransportProtocol::UDP, server),
            peer: None,
            keyed: false,
            started: now,
            told: false,
        };
        if let (DtlsRole::Client, Some(remote)) = (role, remote) {
            match handshake.endpoint.connect(now, remote, config, None) {
                Ok(()) => handshake.peer = Some(remote),
                Err(e) => warn!(error = %e, %remote, "DTLS handshake cannot start"),
            }
            handshake.flush(socket);
        }
        handshake
    }

    /// Sends what the handshake queued.
    fn flush(&mut self, socket: &UdpSocket) {
        while let Some(t) = self.endpoint.poll_transmit() {
            let _ = socket.send_to(&t.message, t.transport.peer_addr);
        }
    }

    /// A record from the room: the keys when it ends the handshake.
    fn on_record(
        &mut self,
        leg: u64,
        role: DtlsRole,
        packet: &[u8],
        from: SocketAddr,
        socket: &UdpSocket,
        now: Instant,
    ) -> Option<Keys> {
        if self.peer.is_some_and(|peer| peer != from) {
            return None; // one room per port: someone else's records are ignored
        }
        let result = self.endpoint.read(now, from, None, BytesMut::from(packet));
        self.flush(socket);
        let events = match result {
            Ok(events) => events,
            Err(e) => {
                self.fail(leg, from, now, &e.to_string());
                return None;
            }
        };
        if role == DtlsRole::Server {
            self.peer = Some(from);
        }
        let done = events
            .iter()
            .any(|e| matches!(e, EndpointEvent::HandshakeComplete));
        if !done || self.keyed {
            return None;
        }
        let state = self.endpoint.get_connection_state(from)?;
        match Keys::exported(state, role, self.component) {
            Ok(keys) => {
                self.keyed = true;
                info!(leg, room = %from, suite = keys.suite.name(), component = ?self.component, "DTLS-SRTP handshake done");
                Some(keys)
            }
            Err(e) => {
                self.fail(leg, from, now, &e);
                None
            }
        }
    }

    /// The handshake with `from` failed: logged once; as server, the port
    /// waits for a new ClientHello (from anyone: the failed one proved
    /// nothing).
    fn fail(&mut self, leg: u64, from: SocketAddr, now: Instant, why: &str) {
        if !self.told {
            warn!(leg, room = %from, error = why, "DTLS-SRTP handshake failed: the stream stays silent");
            self.told = true;
        }
        self.endpoint.stop(now, from);
        self.peer = None;
    }

    fn tick(&mut self, leg: u64, now: Instant, socket: &UdpSocket) {
        if self.keyed {
            return;
        }
        if let Some(peer) = self.peer {
            if self
                .endpoint
                .poll_timeout(&peer)
                .is_some_and(|at| at <= now)
            {
                if let Err(e) = self.endpoint.handle_timeout(peer, now) {
                    self.flush(socket);
                    return self.fail(leg, peer, now, &e.to_string());
                }
                self.flush(socket);
            }
        }
        if !self.told && now.duration_since(self.started) > PATIENCE {
            warn!(leg, component = ?self.component, "DTLS-SRTP handshake not done after 10 s: the stream stays silent");
            self.told = true;
        }
    }
}

/// DTLS-SRTP on one stream: a handshake on its RTP port, and one on its
/// RTCP port unless RTCP is muxed.
pub(crate) struct DtlsStream {
    crypto: Crypto,
    role: DtlsRole,
    rtp: Handshake,
    rtcp: Option<Handshake>,
}

/// A stream's ports and where the room wants them reached.
pub(crate) struct Ports<'a> {
    pub rtp: &'a UdpSocket,
    pub rtcp: &'a UdpSocket,
    pub remote_rtp: Option<SocketAddr>,
    pub remote_rtcp: Option<SocketAddr>,
    pub mux: bool,
}

impl DtlsStream {
    /// Makes `slot` what `crypto` asks: a new handshake for DTLS-SRTP
    /// (the one running kept while signaling says the same), none else.
    pub fn configure(
        slot: &mut Option<DtlsStream>,
        leg: u64,
        identity: &DtlsIdentity,
        crypto: Option<&Crypto>,
        ports: Ports,
        now: Instant,
    ) {
        let Some(crypto @ Crypto::Dtls { role, fingerprint }) = crypto else {
            *slot = None;
            return;
        };
        if slot.as_ref().is_some_and(|s| &s.crypto == crypto) {
            return;
        }
        let config = match identity.config(*role, fingerprint) {
            Ok(config) => config,
            Err(e) => {
                warn!(leg, error = %e, "DTLS configuration refused: the stream stays silent");
                *slot = None;
                return;
            }
        };
        let component = if ports.mux {
            Component::Both
        } else {
            Component::Rtp
        };
        let rtp = Handshake::new(
            component,
            *role,
            config.clone(),
            ports.remote_rtp,
            ports.rtp,
            now,
        );
        let rtcp = (!ports.mux).then(|| {
            Handshake::new(
                Component::Rtcp,
                *role,
                config,
                ports.remote_rtcp,
                ports.rtcp,
                now,
            )
        });
        *slot = Some(DtlsStream {
            crypto: crypto.clone(),
            role: *role,
            rtp,
            rtcp,
        });
    }

    /// A DTLS record from the room on the RTP port, or the RTCP one when
    /// `rtcp_port`: replies sent on `socket`; the keys when a handshake
    /// ends.
    pub fn on_record(
        &mut self,
        leg: u64,
        rtcp_port: bool,
        packet: &[u8],
        from: SocketAddr,
        socket: &UdpSocket,
        now: Instant,
    ) -> Option<Keys> {
        let handshake = if rtcp_port {
            self.rtcp.as_mut()?
        } else {
            &mut self.rtp
        };
        handshake.on_record(leg, self.role, packet, from, socket, now)
    }

    /// Retransmissions due at `now`.
    pub fn tick(&mut self, leg: u64, now: Instant, rtp: &UdpSocket, rtcp: &UdpSocket) {
        self.rtp.tick(leg, now, rtp);
        if let Some(handshake) = self.rtcp.as_mut() {
            handshake.tick(leg, now, rtcp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    fn socket() -> UdpSocket {
        UdpSocket::bind("127.0.0.1:0").unwrap()
    }

    fn fingerprint(identity: &DtlsIdentity) -> String {
        let hex: Vec<String> = identity
            .fingerprint()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        format!("sha-256 {}", hex.join(":"))
    }

    /// Two streams, one client and one server, handshaking over loopback
    /// until both are keyed (or neither hears from the other).
    fn handshake(
        server_trusts: &str,
        client_trusts: &str,
        server: &DtlsIdentity,
        client: &DtlsIdentity,
    ) -> (Option<Keys>, Option<Keys>) {
        let (s_sock, c_sock) = (socket(), socket());
        let (s_addr, c_addr) = (s_sock.local_addr().unwrap(), c_sock.local_addr().unwrap());
        s_sock
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        c_sock
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let now = Instant::now();
        let (mut s, mut c) = (None, None);
        let ports = |sock, remote| Ports {
            rtp: sock,
            rtcp: sock,
            remote_rtp: Some(remote),
            remote_rtcp: Some(remote),
            mux: true,
        };
        let dtls = |role, trusts: &str| Crypto::Dtls {
            role,
            fingerprint: trusts.to_owned(),
        };
        let server_crypto = dtls(DtlsRole::Server, server_trusts);
        let client_crypto = dtls(DtlsRole::Client, client_trusts);
        DtlsStream::configure(
            &mut s,
            1,
            server,
            Some(&server_crypto),
            ports(&s_sock, c_addr),
            now,
        );
        DtlsStream::configure(
            &mut c,
            2,
            client,
            Some(&client_crypto),
            ports(&c_sock, s_addr),
            now,
        );
        let (mut s, mut c) = (s.unwrap(), c.unwrap());
        let (mut s_keys, mut c_keys) = (None, None);
        let mut buf = [0u8; 2048];
        // Until both are keyed, or a round in which neither hears anything.
        loop {
            let mut heard = false;
            if let Ok((n, from)) = s_sock.recv_from(&mut buf) {
                assert!(is_dtls(&buf[..n]));
                heard = true;
                s_keys = s_keys.or(s.on_record(1, false, &buf[..n], from, &s_sock, now));
            }
            if let Ok((n, from)) = c_sock.recv_from(&mut buf) {
                heard = true;
                c_keys = c_keys.or(c.on_record(2, false, &buf[..n], from, &c_sock, now));
            }
            if !heard || s_keys.is_some() && c_keys.is_some() {
                break;
            }
        }
        (s_keys, c_keys)
    }

    #[test]
    fn both_ends_export_the_same_keys_crosswise() {
        let (a, b) = (
            DtlsIdentity::generate().unwrap(),
            DtlsIdentity::generate().unwrap(),
        );
        let (s, c) = handshake(&fingerprint(&b), &fingerprint(&a), &a, &b);
        let (s, c) = (s.expect("server keyed"), c.expect("client keyed"));
        assert_eq!(s.suite, c.suite);
        assert_eq!(s.component, Component::Both);
        assert_eq!(s.ours, c.theirs);
        assert_eq!(s.theirs, c.ours);
        assert_ne!(s.ours, s.theirs);
    }

    #[test]
    fn a_certificate_that_does_not_match_the_fingerprint_keys_nothing() {
        let (a, b, stranger) = (
            DtlsIdentity::generate().unwrap(),
            DtlsIdentity::generate().unwrap(),
            DtlsIdentity::generate().unwrap(),
        );
        let (s, _) = handshake(&fingerprint(&stranger), &fingerprint(&a), &a, &b);
        assert!(
            s.is_none(),
            "the server must not key a client it cannot verify"
        );
    }

    #[test]
    fn fingerprints_are_compared_by_algorithm_and_case_insensitively() {
        let der = b"not really a certificate";
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
        let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert!(matches_fingerprint(
            der,
            &format!("SHA-1 {}", hex.join(":"))
        ));
        assert!(!matches_fingerprint(
            der,
            &format!("sha-256 {}", hex.join(":"))
        ));
        assert!(!matches_fingerprint(der, "md5 00:11"));
        assert!(!matches_fingerprint(der, "garbage"));
    }

    #[test]
    fn records_are_told_from_rtp_rtcp_and_stun() {
        assert!(is_dtls(&[22, 0xfe, 0xfd]));
        assert!(!is_dtls(&[0x80, 0]));
        assert!(!is_dtls(&[0, 1]));
        assert!(!is_dtls(&[]));
    }
}
