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

/// What protects what we send on one stream.
pub struct SrtpOut {
    crypto: Crypto,
    context: Context,
}

/// What checks and decrypts what the room sends on one stream.
pub struct SrtpIn {
    crypto: Crypto,
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
        write!(f, "SrtpOut({})", self.crypto.describe())
    }
}

impl std::fmt::Debug for SrtpIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SrtpIn({})", self.crypto.describe())
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
    pub fn new(crypto: &Crypto) -> Result<SrtpOut, String> {
        let Crypto::Sdes { suite, ours, .. } = crypto;
        Ok(SrtpOut {
            crypto: crypto.clone(),
            context: context(*suite, ours)?,
        })
    }

    /// Whether it goes on under `crypto`: our key is the same (so its
    /// rollover counter goes on, and no packet index is used twice under
    /// one key, whatever the room's key does).
    pub fn keeps(&self, crypto: &Crypto) -> bool {
        let (
            Crypto::Sdes { suite, ours, .. },
            Crypto::Sdes {
                suite: s, ours: o, ..
            },
        ) = (&self.crypto, crypto);
        suite == s && ours == o
    }

    pub fn protect_rtp(&mut self, packet: &[u8]) -> Option<BytesMut> {
        self.context.encrypt_rtp(packet).ok()
    }

    pub fn protect_rtcp(&mut self, packet: &[u8]) -> Option<BytesMut> {
        self.context.encrypt_rtcp(packet).ok()
    }
}

impl SrtpIn {
    pub fn new(crypto: &Crypto) -> Result<SrtpIn, String> {
        let Crypto::Sdes { suite, theirs, .. } = crypto;
        let (rtp_tag, rtcp_tag) = match suite {
            SrtpSuite::AesCm128HmacSha1_80 | SrtpSuite::AesCm256HmacSha1_80 => (10, 10),
            // RFC 3711 / 4568: the 32-bit suites shorten the SRTP tag only.
            SrtpSuite::AesCm128HmacSha1_32 | SrtpSuite::AesCm256HmacSha1_32 => (4, 10),
            // RFC 7714: the tag is inside the ciphertext; an MKI goes last.
            SrtpSuite::AeadAes128Gcm | SrtpSuite::AeadAes256Gcm => (0, 0),
        };
        Ok(SrtpIn {
            crypto: crypto.clone(),
            context: context(*suite, theirs)?,
            mki: usize::from(theirs.mki_len),
            rtp_tag,
            rtcp_tag,
            scratch: Vec::with_capacity(1500),
        })
    }

    /// Whether it goes on under `crypto`: the room's key is the same (its
    /// replay windows and rollover counters stay).
    pub fn keys_as(&self, crypto: &Crypto) -> bool {
        let (
            Crypto::Sdes { suite, theirs, .. },
            Crypto::Sdes {
                suite: s,
                theirs: t,
                ..
            },
        ) = (&self.crypto, crypto);
        suite == s && theirs == t
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

/// How what we send on a stream is protected.
#[derive(Default)]
pub(crate) enum SrtpSend {
    #[default]
    Clear,
    Srtp(Box<SrtpOut>),
    /// Keys were set that could not be used: nothing is sent (never in
    /// clear on a call that agreed to encrypt).
    Unusable,
}

impl SrtpSend {
    /// Protects what is sent from now on with `crypto` (the state kept
    /// while our key stays the same), or sends in clear.
    pub fn set(&mut self, crypto: Option<&Crypto>) {
        *self = match (crypto, std::mem::take(self)) {
            (None, _) => SrtpSend::Clear,
            (Some(c), SrtpSend::Srtp(out)) if out.keeps(c) => SrtpSend::Srtp(out),
            (Some(c), _) => match SrtpOut::new(c) {
                Ok(out) => SrtpSend::Srtp(Box::new(out)),
                Err(e) => {
                    warn!(error = %e, "SRTP keys unusable: sending nothing");
                    SrtpSend::Unusable
                }
            },
        };
    }

    /// Sends `packet` (RTP, or RTCP when `rtcp`) on `socket` to `to`,
    /// protected as agreed; false if it was not sent.
    pub fn send(&mut self, packet: &[u8], rtcp: bool, socket: &UdpSocket, to: SocketAddr) -> bool {
        match self {
            SrtpSend::Clear => socket.send_to(packet, to).is_ok(),
            SrtpSend::Srtp(out) => {
                let protected = if rtcp {
                    out.protect_rtcp(packet)
                } else {
                    out.protect_rtp(packet)
                };
                protected.is_some_and(|p| socket.send_to(&p, to).is_ok())
            }
            SrtpSend::Unusable => false,
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
    Srtp(Box<SrtpIn>),
    /// Keys were set that could not be used: everything is dropped.
    Unusable,
}

impl SrtpReceive {
    /// Checks what comes from now on with `crypto` (the state kept while
    /// the room's key stays the same), or takes it in clear. Keys that
    /// cannot be used leave it dropping everything.
    pub fn set(&mut self, crypto: Option<&Crypto>) -> Result<(), String> {
        self.state = match (crypto, std::mem::take(&mut self.state)) {
            (None, _) => Receiving::Clear,
            (Some(c), Receiving::Srtp(srtp)) if srtp.keys_as(c) => Receiving::Srtp(srtp),
            (Some(c), _) => match SrtpIn::new(c) {
                Ok(srtp) => Receiving::Srtp(Box::new(srtp)),
                Err(e) => {
                    self.state = Receiving::Unusable;
                    return Err(e);
                }
            },
        };
        Ok(())
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
            Receiving::Srtp(srtp) if rtcp => srtp.unprotect_rtcp(packet),
            Receiving::Srtp(srtp) => srtp.unprotect_rtp(packet),
            Receiving::Unusable => Err(Rejected::Auth),
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
        let ours = key(1, suite, 0);
        let us = Crypto::Sdes {
            suite,
            ours: ours.clone(),
            theirs: room_key.clone(),
        };
        let room = Crypto::Sdes {
            suite,
            ours: room_key,
            theirs: ours,
        };
        (SrtpIn::new(&us).unwrap(), SrtpOut::new(&room).unwrap())
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
