//! SRTP and SRTCP for one stream of a room leg (RFC 3711; RFC 7714 for
//! the AEAD suites), on the webrtc family's `rtc-srtp`: one context to
//! protect what we send, one to check and decrypt what the room sends,
//! with replay protection ([`SrtpOut`], [`SrtpIn`]). A room's MKI (RFC 4568 `|MKI:len`) is taken
//! out before decryption (one key per direction, so its value is not
//! needed). [`SrtpSend`] and [`SrtpReceive`] are what a stream's send
//! and receive paths hold, encrypted or not: packets that fail
//! authentication or replay are dropped and counted, and nothing is sent
//! in clear once keys are set.

use std::net::{SocketAddr, UdpSocket};

use bytes::BytesMut;
use media_api::{Crypto, SrtpKey, SrtpSuite};
use rtc_crypto::providers::RingCrypto;
use rtc_shared::error::Error;
use rtc_srtp::context::Context;
use rtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use rtc_srtp::protection_profile::ProtectionProfile;
use tracing::warn;

/// Packets a replay window remembers (libsrtp's default is 128).
const REPLAY_WINDOW: usize = 128;

/// Why a packet from the room was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Wrong tag (or too short to hold one): forged, corrupted, or keyed
    /// differently.
    Auth,
    /// Seen before.
    Replay,
}

/// What was dropped, for the leg's statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SrtpDrops {
    pub auth: u64,
    pub replay: u64,
}

impl SrtpDrops {
    pub fn count(&mut self, why: Rejected) {
        match why {
            Rejected::Auth => self.auth += 1,
            Rejected::Replay => self.replay += 1,
        }
    }
}

/// What protects what we send on one component of a stream.
pub struct SrtpOut {
    suite: SrtpSuite,
    context: Context,
}

/// What checks and decrypts what the room sends on one component of a
/// stream.
pub struct SrtpIn {
    context: Context,
    /// Bytes of MKI in the room's packets, and where they sit: before the
    /// HMAC tag (`tag` bytes from the end), or at the very end (AEAD).
    mki: usize,
    rtp_tag: usize,
    rtcp_tag: usize,
    /// The room's packet with its MKI taken out.
    scratch: Vec<u8>,
}

impl std::fmt::Debug for SrtpOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SrtpOut({})", self.suite.name())
    }
}

impl std::fmt::Debug for SrtpIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SrtpIn")
    }
}

fn profile(suite: SrtpSuite) -> ProtectionProfile {
    match suite {
        SrtpSuite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
        SrtpSuite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
        SrtpSuite::AesCm256HmacSha1_80 => ProtectionProfile::Aes256CmHmacSha1_80,
        SrtpSuite::AesCm256HmacSha1_32 => ProtectionProfile::Aes256CmHmacSha1_32,
        SrtpSuite::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
        SrtpSuite::AeadAes256Gcm => ProtectionProfile::AeadAes256Gcm,
    }
}

fn context(suite: SrtpSuite, key: &SrtpKey) -> Result<Context, String> {
    let split = suite.key_len();
    if key.key_salt.len() != split + suite.salt_len() {
        return Err(format!(
            "{}: key and salt of {} bytes",
            suite.name(),
            key.key_salt.len()
        ));
    }
    let (master, salt) = key.key_salt.split_at(split);
    Context::new(
        master,
        salt,
        profile(suite),
        Some(srtp_replay_protection(REPLAY_WINDOW)),
        Some(srtcp_replay_protection(REPLAY_WINDOW)),
        &RingCrypto,
    )
    .map_err(|e| e.to_string())
}

impl SrtpOut {
    pub fn new(suite: SrtpSuite, ours: &SrtpKey) -> Result<SrtpOut, String> {
        Ok(SrtpOut {
            suite,
            context: context(suite, ours)?,
        })
    }

    pub fn protect_rtp(&mut self, packet: &[u8]) -> Option<BytesMut> {
        self.context.encrypt_rtp(packet).ok()
    }

    pub fn protect_rtcp(&mut self, packet: &[u8]) -> Option<BytesMut> {
        self.context.encrypt_rtcp(packet).ok()
    }
}

impl SrtpIn {
    pub fn new(suite: SrtpSuite, theirs: &SrtpKey) -> Result<SrtpIn, String> {
        let (rtp_tag, rtcp_tag) = match suite {
            SrtpSuite::AesCm128HmacSha1_80 | SrtpSuite::AesCm256HmacSha1_80 => (10, 10),
            // RFC 3711 / 4568: the 32-bit suites shorten the SRTP tag only.
            SrtpSuite::AesCm128HmacSha1_32 | SrtpSuite::AesCm256HmacSha1_32 => (4, 10),
            // RFC 7714: the tag is inside the ciphertext; an MKI goes last.
            SrtpSuite::AeadAes128Gcm | SrtpSuite::AeadAes256Gcm => (0, 0),
        };
        Ok(SrtpIn {
            context: context(suite, theirs)?,
            mki: usize::from(theirs.mki_len),
            rtp_tag,
            rtcp_tag,
            scratch: Vec::with_capacity(1500),
        })
    }

    pub fn unprotect_rtp(&mut self, packet: &[u8]) -> Result<BytesMut, Rejected> {
        let packet = without_mki(packet, self.mki, self.rtp_tag, &mut self.scratch)?;
        self.context.decrypt_rtp(packet).map_err(rejected)
    }

    pub fn unprotect_rtcp(&mut self, packet: &[u8]) -> Result<BytesMut, Rejected> {
        let packet = without_mki(packet, self.mki, self.rtcp_tag, &mut self.scratch)?;
        self.context.decrypt_rtcp(packet).map_err(rejected)
    }
}

/// Which packets of a stream one set of keys covers: SDES keys and a
/// DTLS handshake on a muxed port cover RTP and RTCP; without rtcp-mux,
/// each port's DTLS handshake keys its own (RFC 5764 §4.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Component {
    Both,
    Rtp,
    Rtcp,
}

impl Component {
    fn rtp(self) -> bool {
        self != Component::Rtcp
    }

    fn rtcp(self) -> bool {
        self != Component::Rtp
    }
}

/// Whether our sending keys stay under `next` (so the rollover counter
/// goes on, and no packet index is used twice under one key, whatever
/// the room's key does).
fn same_sending(now: &Crypto, next: &Crypto) -> bool {
    match (now, next) {
        (
            Crypto::Sdes { suite, ours, .. },
            Crypto::Sdes {
                suite: s, ours: o, ..
            },
        ) => suite == s && ours == o,
        (now, next) => now == next,
    }
}

/// Whether the room's keys stay under `next` (its replay windows and
/// rollover counters stay).
fn same_receiving(now: &Crypto, next: &Crypto) -> bool {
    match (now, next) {
        (
            Crypto::Sdes { suite, theirs, .. },
            Crypto::Sdes {
                suite: s,
                theirs: t,
                ..
            },
        ) => suite == s && theirs == t,
        (now, next) => now == next,
    }
}

/// How what we send on a stream is protected.
#[derive(Debug, Default)]
pub(crate) enum SrtpSend {
    #[default]
    Clear,
    /// Keyed as `crypto` says. A component without a context (keys that
    /// could not be used, or a DTLS handshake not done yet) sends
    /// nothing: never in clear on a call that agreed to encrypt.
    Protected {
        crypto: Crypto,
        rtp: Option<Box<SrtpOut>>,
        rtcp: Option<Box<SrtpOut>>,
    },
}

impl SrtpSend {
    /// Protects what is sent from now on as `crypto` says (the state kept
    /// while our keys stay the same), or sends in clear. SDES keys are
    /// used at once; DTLS-SRTP waits for [`SrtpSend::key`].
    pub fn set(&mut self, crypto: Option<&Crypto>) {
        if let (Some(c), SrtpSend::Protected { crypto: now, .. }) = (crypto, &*self) {
            if same_sending(now, c) {
                return;
            }
        }
        *self = match crypto {
            None => SrtpSend::Clear,
            Some(c @ Crypto::Sdes { suite, ours, .. }) => {
                let out = || match SrtpOut::new(*suite, ours) {
                    Ok(out) => Some(Box::new(out)),
                    Err(e) => {
                        warn!(error = %e, "SRTP keys unusable: sending nothing");
                        None
                    }
                };
                SrtpSend::Protected {
                    crypto: c.clone(),
                    rtp: out(),
                    rtcp: out(),
                }
            }
            Some(c @ Crypto::Dtls { .. }) => SrtpSend::Protected {
                crypto: c.clone(),
                rtp: None,
                rtcp: None,
            },
        };
    }

    /// Keys `component` with our key from a DTLS handshake.
    pub fn key(&mut self, component: Component, suite: SrtpSuite, ours: &SrtpKey) {
        let SrtpSend::Protected { rtp, rtcp, .. } = self else {
            return;
        };
        let out = || SrtpOut::new(suite, ours).ok().map(Box::new);
        if component.rtp() {
            *rtp = out();
        }
        if component.rtcp() {
            *rtcp = out();
        }
    }

    /// Sends `packet` (RTP, or RTCP when `rtcp`) on `socket` to `to`,
    /// protected as agreed; false if it was not sent.
    pub fn send(&mut self, packet: &[u8], rtcp: bool, socket: &UdpSocket, to: SocketAddr) -> bool {
        match self {
            SrtpSend::Clear => socket.send_to(packet, to).is_ok(),
            SrtpSend::Protected {
                rtp, rtcp: srtcp, ..
            } => {
                let protected = if rtcp {
                    srtcp.as_mut().and_then(|out| out.protect_rtcp(packet))
                } else {
                    rtp.as_mut().and_then(|out| out.protect_rtp(packet))
                };
                protected.is_some_and(|p| socket.send_to(&p, to).is_ok())
            }
        }
    }
}

/// What checks the room's packets on a stream, if they are encrypted.
#[derive(Debug, Default)]
pub(crate) struct SrtpReceive {
    state: Receiving,
    pub drops: SrtpDrops,
}

#[derive(Debug, Default)]
enum Receiving {
    #[default]
    Clear,
    /// Keyed as `crypto` says; a component without a context (keys that
    /// could not be used, a DTLS handshake not done) drops everything.
    Protected {
        crypto: Crypto,
        rtp: Option<Box<SrtpIn>>,
        rtcp: Option<Box<SrtpIn>>,
    },
}

impl SrtpReceive {
    /// Checks what comes from now on as `crypto` says (the state kept
    /// while the room's keys stay the same), or takes it in clear. SDES
    /// keys that cannot be used leave it dropping everything (and say
    /// why); DTLS-SRTP drops everything until [`SrtpReceive::key`].
    pub fn set(&mut self, crypto: Option<&Crypto>) -> Result<(), String> {
        if let (Some(c), Receiving::Protected { crypto: now, .. }) = (crypto, &self.state) {
            if same_receiving(now, c) {
                return Ok(());
            }
        }
        let mut unusable = Ok(());
        self.state = match crypto {
            None => Receiving::Clear,
            Some(c @ Crypto::Sdes { suite, theirs, .. }) => {
                let mut open = || match SrtpIn::new(*suite, theirs) {
                    Ok(srtp) => Some(Box::new(srtp)),
                    Err(e) => {
                        unusable = Err(e);
                        None
                    }
                };
                Receiving::Protected {
                    crypto: c.clone(),
                    rtp: open(),
                    rtcp: open(),
                }
            }
            Some(c @ Crypto::Dtls { .. }) => Receiving::Protected {
                crypto: c.clone(),
                rtp: None,
                rtcp: None,
            },
        };
        unusable
    }

    /// Keys `component` with the room's key from a DTLS handshake.
    pub fn key(&mut self, component: Component, suite: SrtpSuite, theirs: &SrtpKey) {
        let Receiving::Protected { rtp, rtcp, .. } = &mut self.state else {
            return;
        };
        let open = || SrtpIn::new(suite, theirs).ok().map(Box::new);
        if component.rtp() {
            *rtp = open();
        }
        if component.rtcp() {
            *rtcp = open();
        }
    }

    /// The room's `packet` (RTCP when `rtcp`) as it may be read: Ok(None)
    /// when the stream is in clear (read `packet` itself), the decrypted
    /// packet, or Err when it is dropped (counted; the first logged).
    pub fn open(
        &mut self,
        packet: &[u8],
        rtcp: bool,
        leg: u64,
        from: SocketAddr,
    ) -> Result<Option<BytesMut>, Rejected> {
        let opened = match &mut self.state {
            Receiving::Clear => return Ok(None),
            Receiving::Protected { rtcp: srtcp, .. } if rtcp => match srtcp {
                Some(srtcp) => srtcp.unprotect_rtcp(packet),
                None => Err(Rejected::Auth),
            },
            Receiving::Protected { rtp, .. } => match rtp {
                Some(srtp) => srtp.unprotect_rtp(packet),
                None => Err(Rejected::Auth),
            },
        };
        opened.map(Some).inspect_err(|&why| {
            if self.drops.auth + self.drops.replay == 0 {
                warn!(leg, source = %from, ?why, len = packet.len(), "SRTP packet dropped (logged once per stream; counted)");
            }
            self.drops.count(why);
        })
    }
}

/// `packet` without the `mki` bytes sitting `tag` bytes from its end.
fn without_mki<'a>(
    packet: &'a [u8],
    mki: usize,
    tag: usize,
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], Rejected> {
    if mki == 0 {
        return Ok(packet);
    }
    let at = packet.len().checked_sub(mki + tag).ok_or(Rejected::Auth)?;
    scratch.clear();
    scratch.extend_from_slice(&packet[..at]);
    scratch.extend_from_slice(&packet[at + mki..]);
    Ok(scratch)
}

fn rejected(e: Error) -> Rejected {
    match e {
        Error::SrtpSsrcDuplicated(..) | Error::SrtcpSsrcDuplicated(..) => Rejected::Replay,
        _ => Rejected::Auth,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc_rtp::{Header, Packet};
    use rtc_shared::marshal::Marshal;

    fn key(byte: u8, suite: SrtpSuite, mki_len: u8) -> SrtpKey {
        SrtpKey {
            key_salt: vec![byte; suite.key_len() + suite.salt_len()],
            mki_len,
        }
    }

    /// Our receiving side and the room's sending side, keyed alike.
    fn pair(suite: SrtpSuite) -> (SrtpIn, SrtpOut) {
        keyed(suite, key(2, suite, 0))
    }

    fn keyed(suite: SrtpSuite, room_key: SrtpKey) -> (SrtpIn, SrtpOut) {
        (
            SrtpIn::new(suite, &room_key).unwrap(),
            SrtpOut::new(suite, &room_key).unwrap(),
        )
    }

    fn rtp(seq: u16, payload: &[u8]) -> Vec<u8> {
        Packet {
            header: Header {
                version: 2,
                payload_type: 0,
                sequence_number: seq,
                timestamp: u32::from(seq) * 160,
                ssrc: 0x1234,
                ..Header::default()
            },
            payload: bytes::Bytes::copy_from_slice(payload),
        }
        .marshal()
        .unwrap()
        .to_vec()
    }

    #[test]
    fn every_suite_round_trips_and_hides_the_payload() {
        for suite in SrtpSuite::ALL {
            let (mut us, mut room) = pair(suite);
            let clear = rtp(1, b"a tone, in clear");
            let sent = room.protect_rtp(&clear).unwrap();
            assert!(!sent.windows(5).any(|w| w == b"tone,"), "{suite:?}");
            assert_eq!(
                &us.unprotect_rtp(&sent).unwrap()[..],
                &clear[..],
                "{suite:?}"
            );
        }
    }

    #[test]
    fn forged_replayed_and_miskeyed_packets_are_told_apart() {
        let (mut us, mut room) = pair(SrtpSuite::AesCm128HmacSha1_80);
        let sent = room.protect_rtp(&rtp(7, b"hello")).unwrap();
        let mut forged = sent.to_vec();
        forged[14] ^= 1;
        assert_eq!(us.unprotect_rtp(&forged), Err(Rejected::Auth));
        assert!(us.unprotect_rtp(&sent).is_ok());
        assert_eq!(us.unprotect_rtp(&sent), Err(Rejected::Replay));
        let (_, mut stranger) = keyed(
            SrtpSuite::AesCm128HmacSha1_80,
            key(3, SrtpSuite::AesCm128HmacSha1_80, 0),
        );
        let other = stranger.protect_rtp(&rtp(8, b"hello")).unwrap();
        assert_eq!(us.unprotect_rtp(&other), Err(Rejected::Auth));
        assert_eq!(us.unprotect_rtp(&[0x80, 0, 0]), Err(Rejected::Auth));
    }

    #[test]
    fn a_rooms_mki_is_taken_out_before_the_tag_or_after_the_aead_ciphertext() {
        for suite in [SrtpSuite::AesCm128HmacSha1_32, SrtpSuite::AeadAes128Gcm] {
            let (mut us, mut room) = keyed(suite, key(2, suite, 2));
            let mut sent = room.protect_rtp(&rtp(1, b"with an MKI")).unwrap().to_vec();
            let at = sent.len() - if suite.is_aead() { 0 } else { 4 };
            sent.splice(at..at, [0, 1]);
            assert_eq!(
                &us.unprotect_rtp(&sent).unwrap()[12..],
                b"with an MKI",
                "{suite:?}"
            );
        }
    }

    #[test]
    fn rtcp_round_trips() {
        let (mut us, mut room) = pair(SrtpSuite::AesCm128HmacSha1_32);
        let report =
            rtc_rtcp::packet::marshal(&[Box::new(rtc_rtcp::receiver_report::ReceiverReport {
                ssrc: 9,
                ..Default::default()
            }) as Box<dyn rtc_rtcp::packet::Packet>])
            .unwrap();
        let sent = room.protect_rtcp(&report).unwrap();
        assert_eq!(&us.unprotect_rtcp(&sent).unwrap()[..], &report[..]);
    }
}
