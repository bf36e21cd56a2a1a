//! SRTP keying as signaling negotiated it for one stream: by SDES, the
//! suite (RFC 4568 names, with RFC 6188's AES-256 and RFC 7714's AEAD
//! ones) and the master key and salt each way; by DTLS-SRTP (RFC 5763),
//! our role in the handshake on the media path and the room's
//! certificate fingerprint, the keys coming from the handshake.

use serde::{Deserialize, Serialize};

/// An SDES crypto suite we can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SrtpSuite {
    #[serde(rename = "AES_CM_128_HMAC_SHA1_80")]
    AesCm128HmacSha1_80,
    #[serde(rename = "AES_CM_128_HMAC_SHA1_32")]
    AesCm128HmacSha1_32,
    #[serde(rename = "AES_256_CM_HMAC_SHA1_80")]
    AesCm256HmacSha1_80,
    #[serde(rename = "AES_256_CM_HMAC_SHA1_32")]
    AesCm256HmacSha1_32,
    #[serde(rename = "AEAD_AES_128_GCM")]
    AeadAes128Gcm,
    #[serde(rename = "AEAD_AES_256_GCM")]
    AeadAes256Gcm,
}

impl SrtpSuite {
    /// Every suite, in the order we prefer them in an offer.
    pub const ALL: [SrtpSuite; 6] = [
        SrtpSuite::AeadAes256Gcm,
        SrtpSuite::AeadAes128Gcm,
        SrtpSuite::AesCm256HmacSha1_80,
        SrtpSuite::AesCm128HmacSha1_80,
        SrtpSuite::AesCm256HmacSha1_32,
        SrtpSuite::AesCm128HmacSha1_32,
    ];

    /// The suite's name in `a=crypto`.
    pub fn name(self) -> &'static str {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            SrtpSuite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            SrtpSuite::AesCm256HmacSha1_80 => "AES_256_CM_HMAC_SHA1_80",
            SrtpSuite::AesCm256HmacSha1_32 => "AES_256_CM_HMAC_SHA1_32",
            SrtpSuite::AeadAes128Gcm => "AEAD_AES_128_GCM",
            SrtpSuite::AeadAes256Gcm => "AEAD_AES_256_GCM",
        }
    }

    /// The suite an `a=crypto` name stands for.
    pub fn from_name(name: &str) -> Option<SrtpSuite> {
        SrtpSuite::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Master key length, bytes.
    pub fn key_len(self) -> usize {
        match self {
            SrtpSuite::AesCm128HmacSha1_80
            | SrtpSuite::AesCm128HmacSha1_32
            | SrtpSuite::AeadAes128Gcm => 16,
            _ => 32,
        }
    }

    /// Master salt length, bytes (RFC 7714: 12 for the AEAD suites).
    pub fn salt_len(self) -> usize {
        match self {
            SrtpSuite::AeadAes128Gcm | SrtpSuite::AeadAes256Gcm => 12,
            _ => 14,
        }
    }

    /// Whether the suite authenticates by AEAD (its tag in the
    /// ciphertext; an MKI goes after it) rather than by an HMAC tag the
    /// MKI goes before.
    pub fn is_aead(self) -> bool {
        matches!(self, SrtpSuite::AeadAes128Gcm | SrtpSuite::AeadAes256Gcm)
    }
}

/// One direction's master key and salt (key ‖ salt, as `inline:` carries
/// them), and the length of the MKI its packets carry (0: none).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SrtpKey {
    pub key_salt: Vec<u8>,
    pub mki_len: u8,
}

impl std::fmt::Debug for SrtpKey {
    /// Never prints the key itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SrtpKey({} bytes, MKI {})",
            self.key_salt.len(),
            self.mki_len
        )
    }
}

/// Our end of a DTLS handshake (RFC 4145 `a=setup`: `passive` makes us
/// the server, `active` the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DtlsRole {
    Client,
    Server,
}

/// How a stream is protected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Crypto {
    /// RFC 4568 SDES: the suite, the key we send with, and the room's.
    Sdes {
        suite: SrtpSuite,
        ours: SrtpKey,
        theirs: SrtpKey,
    },
    /// RFC 5763/5764 DTLS-SRTP: the keys come from a DTLS handshake on
    /// the stream's own ports, in which we are `role`, and the room's
    /// certificate must hash to `fingerprint` (`sha-256 AB:CD:…`).
    Dtls { role: DtlsRole, fingerprint: String },
}

impl Crypto {
    /// What `/api/v1/calls` shows: the suite (`sdes:AES_CM_128_HMAC_SHA1_80`)
    /// or `dtls-srtp`.
    pub fn describe(&self) -> String {
        match self {
            Crypto::Sdes { suite, .. } => format!("sdes:{}", suite.name()),
            Crypto::Dtls { .. } => "dtls-srtp".to_owned(),
        }
    }
}
