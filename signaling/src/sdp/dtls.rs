//! DTLS-SRTP (RFC 5763) on one m-line: a room offering
//! `UDP/TLS/RTP/SAVP(F)` gives its certificate's fingerprint (RFC 8122
//! `a=fingerprint`, on the m-line or the session) and its `a=setup`
//! (RFC 4145); we answer `passive` (the room connects to us: it reaches
//! our public address through its own NAT, and no media flows before)
//! unless it is passive itself, and show media's fingerprint. The keys
//! never cross signaling, so clear signaling may carry the offer; the
//! handshake itself runs on the media ports.

use media_api::{Crypto, DtlsRole, Encryption};
use rtc_sdp::{MediaDescription, SessionDescription};

use super::sdes::{Keying, Profile};
use super::SdpError;

/// Whether the m-line asks for DTLS-SRTP.
pub(super) fn is_dtls(md: &MediaDescription) -> bool {
    md.media_name.protos.first().is_some_and(|p| p == "UDP")
        && md.media_name.protos.get(1).is_some_and(|p| p == "TLS")
}

/// The value of `key` on the m-line, else on the session.
fn attribute<'a>(
    sd: &'a SessionDescription,
    md: &'a MediaDescription,
    key: &str,
) -> Option<&'a str> {
    md.attribute(key)
        .flatten()
        .or_else(|| sd.attribute(key).map(String::as_str))
}

/// Digest lengths of the hashes a fingerprint may use (RFC 4572 names).
fn digest_len(algorithm: &str) -> Option<usize> {
    match algorithm.to_ascii_lowercase().as_str() {
        "sha-1" => Some(20),
        "sha-256" => Some(32),
        "sha-384" => Some(48),
        "sha-512" => Some(64),
        _ => None,
    }
}

/// The room's fingerprint, checked for form (`sha-256 AB:CD:…`).
fn fingerprint(value: &str) -> Result<String, String> {
    let (algorithm, hex) = value
        .trim()
        .split_once(' ')
        .ok_or_else(|| format!("a=fingerprint:{value} has no hash"))?;
    let len = digest_len(algorithm)
        .ok_or_else(|| format!("a=fingerprint uses {algorithm}, not sha-1/256/384/512"))?;
    let bytes: Vec<&str> = hex.trim().split(':').collect();
    let well_formed = bytes.len() == len
        && bytes
            .iter()
            .all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()));
    if !well_formed {
        return Err(format!("a=fingerprint:{value} is not a {algorithm} digest"));
    }
    Ok(format!("{} {}", algorithm.to_ascii_lowercase(), hex.trim()))
}

/// Reads how the room wants DTLS-SRTP on `md`: our role and its
/// fingerprint, and the profile to echo. Refused with the policy off, or
/// when the fingerprint or setup cannot be taken.
pub(super) fn read(
    sd: &SessionDescription,
    md: &MediaDescription,
    keying: &mut Keying,
) -> Result<(Crypto, Profile), SdpError> {
    let proto = md.media_name.protos.join("/");
    if keying.policy == Encryption::Off {
        return Err(SdpError::Crypto(
            "SRTP is turned off here (media.encryption = off)".into(),
        ));
    }
    let fingerprint = attribute(sd, md, "fingerprint")
        .ok_or_else(|| format!("{proto} without a=fingerprint"))
        .and_then(fingerprint)
        .map_err(SdpError::Crypto)?;
    // RFC 4145 §4: an offer without a=setup means active.
    let role = match attribute(sd, md, "setup").unwrap_or("active").trim() {
        "actpass" | "active" => DtlsRole::Server,
        "passive" => DtlsRole::Client,
        other => {
            return Err(SdpError::Crypto(format!(
                "a=setup:{other}: DTLS needs a connection (active, passive or actpass)"
            )))
        }
    };
    Ok((
        Crypto::Dtls { role, fingerprint },
        Profile { proto, tag: None },
    ))
}

/// Our `a=setup` and `a=fingerprint` for a DTLS-SRTP m-line: `role`, and
/// media's certificate digest.
pub(super) fn answer(md: MediaDescription, role: DtlsRole, ours: [u8; 32]) -> MediaDescription {
    let setup = match role {
        DtlsRole::Server => "passive",
        DtlsRole::Client => "active",
    };
    let hex: Vec<String> = ours.iter().map(|b| format!("{b:02X}")).collect();
    md.with_value_attribute("setup".into(), setup.into())
        .with_value_attribute("fingerprint".into(), format!("sha-256 {}", hex.join(":")))
}
