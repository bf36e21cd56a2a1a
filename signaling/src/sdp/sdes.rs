//! SRTP keying of one m-line, and SDES (RFC 4568) itself: its `a=crypto`
//! lines read in the offerer's order, the first with a suite we run and a
//! well-formed key chosen (lifetime and MKI parsed), our own key for that
//! stream made once and kept for the call, and our `a=crypto` line written
//! under the tag chosen. Keys cross TLS only: over clear signaling an
//! `RTP/SAVP` offer is refused and a best-effort `RTP/AVP` offer's crypto
//! lines ignored. `UDP/TLS/RTP/SAVP(F)` lines are DTLS-SRTP ([`dtls`]).
//! The installation's policy can require encryption or turn it off.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use media_api::{Crypto, Encryption, SrtpKey, SrtpSuite, StreamKind};
use rtc_sdp::{MediaDescription, SessionDescription};

use super::{dtls, SdpError};

/// A call's SDES state: whether keys may cross its signaling, the policy,
/// our key for each stream and suite (made once), and which streams have
/// been encrypted (they stay so: a re-offer in clear is refused).
#[derive(Debug, Clone)]
pub struct Keying {
    /// The signaling is TLS.
    pub secure: bool,
    pub policy: Encryption,
    ours: Vec<(StreamKind, SrtpSuite, SrtpKey)>,
    encrypted: Vec<StreamKind>,
}

impl Keying {
    pub fn new(secure: bool, policy: Encryption) -> Keying {
        Keying {
            secure,
            policy,
            ours: Vec::new(),
            encrypted: Vec::new(),
        }
    }

    /// `kind` is encrypted from now on (a clear re-offer is refused).
    fn encrypt(&mut self, kind: StreamKind) {
        if !self.encrypted.contains(&kind) {
            self.encrypted.push(kind);
        }
    }

    /// Our key for `kind` under `suite`: the same for the whole call.
    fn ours(&mut self, kind: StreamKind, suite: SrtpSuite) -> SrtpKey {
        if let Some((.., key)) = self.ours.iter().find(|(k, s, _)| *k == kind && *s == suite) {
            return key.clone();
        }
        let mut key_salt = vec![0u8; suite.key_len() + suite.salt_len()];
        rand::fill(&mut key_salt[..]);
        let key = SrtpKey {
            key_salt,
            mki_len: 0,
        };
        self.ours.push((kind, suite, key.clone()));
        key
    }
}

/// How an m-line was secured: the profile it used (echoed in our line)
/// and the tag of the crypto line chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub proto: String,
    pub tag: Option<u32>,
}

/// One `a=crypto` line: `tag suite inline:key[|lifetime][|MKI:length]
/// [session parameters]`.
struct Line<'a> {
    tag: u32,
    suite: &'a str,
    key: &'a str,
    lifetime: Option<&'a str>,
    mki: Option<&'a str>,
    params: Vec<&'a str>,
}

fn line(value: &str) -> Option<Line<'_>> {
    let mut words = value.split_whitespace();
    let tag = words.next()?.parse().ok()?;
    let suite = words.next()?;
    // Several keys (`;inline:…`): the first is used.
    let inline = words.next()?.split(';').next()?.strip_prefix("inline:")?;
    let mut parts = inline.split('|');
    let key = parts.next()?;
    let (mut lifetime, mut mki) = (None, None);
    for part in parts {
        if part.contains(':') {
            mki = Some(part);
        } else {
            lifetime = Some(part);
        }
    }
    Some(Line {
        tag,
        suite,
        key,
        lifetime,
        mki,
        params: words.collect(),
    })
}

/// The room's key of a line we can run, or why not.
fn their_key(l: &Line, suite: SrtpSuite) -> Result<SrtpKey, String> {
    let key_salt = STANDARD
        .decode(l.key)
        .map_err(|_| format!("{}: key is not base64", l.suite))?;
    let want = suite.key_len() + suite.salt_len();
    if key_salt.len() != want {
        return Err(format!(
            "{}: key and salt of {} bytes, not {want}",
            l.suite,
            key_salt.len()
        ));
    }
    if let Some(lifetime) = l.lifetime {
        let valid = match lifetime.strip_prefix("2^") {
            Some(power) => power.parse::<u32>().is_ok_and(|p| p <= 48),
            None => lifetime.parse::<u64>().is_ok(),
        };
        if !valid {
            return Err(format!("{}: lifetime {lifetime:?}", l.suite));
        }
    }
    let mki_len = match l.mki {
        None => 0,
        Some(mki) => {
            let (value, len) = mki.split_once(':').unwrap_or(("", ""));
            match (value.parse::<u64>(), len.parse::<u8>()) {
                (Ok(_), Ok(len @ 1..=128)) => len,
                _ => return Err(format!("{}: MKI {mki:?}", l.suite)),
            }
        }
    };
    // Unencrypted or unauthenticated SRTP is not what the room was promised.
    if let Some(p) = l
        .params
        .iter()
        .find(|p| p.starts_with("UNENCRYPTED") || p.starts_with("UNAUTHENTICATED"))
    {
        return Err(format!("{}: session parameter {p}", l.suite));
    }
    Ok(SrtpKey { key_salt, mki_len })
}

/// Reads how the room secures the stream `kind` of `md` (an offer or an
/// answer to ours): the keys both ways (or, for DTLS-SRTP, how to
/// handshake: [`dtls`]) and the profile to echo. Refuses what cannot be
/// taken: SDES alone over clear signaling, SRTP with the policy off,
/// crypto lines none of which we can run (the Warning names why), or a
/// clear stream when encryption is required.
pub(super) fn read(
    sd: &SessionDescription,
    md: &MediaDescription,
    kind: StreamKind,
    keying: &mut Keying,
) -> Result<(Option<Crypto>, Profile), SdpError> {
    let proto = md.media_name.protos.join("/");
    let srtp_only = md.media_name.protos.iter().any(|p| p.starts_with("SAVP"));
    if dtls::is_dtls(md) {
        let (crypto, profile) = dtls::read(sd, md, keying)?;
        keying.encrypt(kind);
        return Ok((Some(crypto), profile));
    }
    let clear = Profile {
        proto: proto.clone(),
        tag: None,
    };
    let lines: Vec<&str> = md
        .attributes
        .iter()
        .filter(|a| a.key == "crypto")
        .filter_map(|a| a.value.as_deref())
        .collect();
    let usable = keying.secure && keying.policy != Encryption::Off;
    let was_encrypted = keying.encrypted.contains(&kind);
    if !usable || lines.is_empty() {
        if was_encrypted {
            return Err(SdpError::Crypto(
                "this call is encrypted: a re-offer without SRTP is refused".into(),
            ));
        }
        if srtp_only {
            let why = if lines.is_empty() {
                format!("{proto} without a=crypto")
            } else if keying.policy == Encryption::Off {
                "SRTP is turned off here (media.encryption = off)".to_owned()
            } else {
                "SRTP keys (SDES) are taken over TLS only: call sips: or ;transport=tls".to_owned()
            };
            return Err(SdpError::Crypto(why));
        }
        if keying.policy == Encryption::Required && kind == StreamKind::Audio {
            return Err(SdpError::EncryptionRequired);
        }
        return Ok((None, clear));
    }
    let mut problems = Vec::new();
    for value in lines {
        let Some(l) = line(value) else {
            problems.push(format!("malformed a=crypto:{value}"));
            continue;
        };
        let Some(suite) = SrtpSuite::from_name(l.suite) else {
            problems.push(format!("unknown suite {}", l.suite));
            continue;
        };
        match their_key(&l, suite) {
            Ok(theirs) => {
                let crypto = Crypto::Sdes {
                    suite,
                    ours: keying.ours(kind, suite),
                    theirs,
                };
                let profile = Profile {
                    proto,
                    tag: Some(l.tag),
                };
                keying.encrypt(kind);
                return Ok((Some(crypto), profile));
            }
            Err(e) => problems.push(e),
        }
    }
    // Best effort (RTP/AVP with crypto lines) falls back to clear.
    if srtp_only || was_encrypted || keying.policy == Encryption::Required {
        return Err(SdpError::Crypto(format!(
            "no usable a=crypto: {}",
            problems.join("; ")
        )));
    }
    Ok((None, clear))
}

/// The suites we offer, in order: the one every room runs first.
const OFFERED: [SrtpSuite; 4] = [
    SrtpSuite::AesCm128HmacSha1_80,
    SrtpSuite::AesCm128HmacSha1_32,
    SrtpSuite::AeadAes128Gcm,
    SrtpSuite::AeadAes256Gcm,
];

/// Makes our offer's line for `kind` encrypted when keys may be given
/// (over TLS, policy not off): `RTP/SAVP` when encryption is required,
/// else best effort (`RTP/AVP` with `a=crypto`, which rooms without SRTP
/// answer in clear); our key for each suite, tagged 1, 2, …
pub(super) fn offer(
    mut md: MediaDescription,
    kind: StreamKind,
    keying: &mut Keying,
) -> MediaDescription {
    if !keying.secure || keying.policy == Encryption::Off {
        return md;
    }
    if keying.policy == Encryption::Required || keying.encrypted.contains(&kind) {
        md.media_name.protos = vec!["RTP".into(), "SAVP".into()];
    }
    for (tag, suite) in (1..).zip(OFFERED) {
        let ours = keying.ours(kind, suite);
        md = md.with_value_attribute("crypto".into(), attribute(suite, &ours, tag));
    }
    md
}

/// Our `a=crypto` value for `suite` and our key `ours` under `tag`.
fn attribute(suite: SrtpSuite, ours: &SrtpKey, tag: u32) -> String {
    format!(
        "{tag} {} inline:{}",
        suite.name(),
        STANDARD.encode(&ours.key_salt)
    )
}

/// Puts our profile and keying on `md`: our crypto line, or our DTLS
/// setup and media's certificate `fingerprint`.
pub(super) fn secure(
    mut md: MediaDescription,
    crypto: Option<&Crypto>,
    profile: &Profile,
    fingerprint: Option<[u8; 32]>,
) -> MediaDescription {
    md.media_name.protos = profile.proto.split('/').map(str::to_owned).collect();
    match (crypto, profile.tag, fingerprint) {
        (Some(Crypto::Sdes { suite, ours, .. }), Some(tag), _) => {
            md.with_value_attribute("crypto".into(), attribute(*suite, ours, tag))
        }
        (Some(Crypto::Dtls { role, .. }), _, Some(ours)) => dtls::answer(md, *role, ours),
        _ => md,
    }
}
