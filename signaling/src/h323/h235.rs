//! H.235.1 (H.235 Annex D, baseline security profile, procedure I) for
//! RAS: endpoint and gatekeeper share a key, the SHA-1 of the room's
//! password. A message carries a hashed token whose HMAC-SHA1-96 covers
//! the whole encoded message with the hash field zeroed, a timestamp and
//! a random value against replay, and the identifiers of recipient
//! (generalID) and sender (sendersID). Checking a received message,
//! signing one of ours, and remembering what was seen; the gatekeeper
//! decides when a token is required.

use std::collections::{HashMap, VecDeque};

use h323_asn1::h225::CryptoH323Token;
use h323_asn1::h235::{
    ClearToken, CryptoToken, CryptoTokenCryptoHashedToken, CryptoTokenCryptoHashedTokenToken,
    CryptoTokenCryptoHashedTokenTokenParamS, Identifier, RandomVal, TimeStamp,
};
use h323_asn1::rasn::types::{BitString, Integer, ObjectIdentifier};
use hmac::{Hmac, Mac};
use sha1::{Digest, Sha1};

/// The shared key: SHA-1 of the password.
pub type Key = [u8; 20];

/// Token OIDs of the profile, { itu-t(0) recommendation(0) h(8) 235
/// version(0) v annex-d(…) }: "A" whole message authenticated, "T" the
/// ClearToken's own OID, "U" HMAC-SHA1-96. Peers write version 1 to 3.
const OID_A: u32 = 1;
const OID_T: u32 = 5;
const OID_U: u32 = 6;
/// The version we write.
const VERSION: u32 = 2;

/// Bytes of the truncated HMAC.
const HASH_LEN: usize = 12;

/// Stands in for the hash while a message of ours is encoded, found and
/// replaced by [`seal`].
const PLACEHOLDER: [u8; HASH_LEN] = *b"MRA-H235-SIG";

/// How long a repeated token counts as the sender's retransmission of
/// the same request rather than a replay, seconds.
const RETRANSMISSION_SECS: u64 = 30;

/// Tokens remembered per room; older ones fall out of the window anyway.
const REMEMBERED: usize = 256;

/// The stored form of a room's key, from its password.
pub fn secret(password: &str) -> String {
    hex::encode(Sha1::digest(password.as_bytes()))
}

/// The key a stored secret holds (None when the room has none).
pub fn key(secret: &str) -> Option<Key> {
    let mut key = [0u8; 20];
    hex::decode_to_slice(secret, &mut key).ok()?;
    Some(key)
}

/// The OID of the profile's element `element` in any version.
fn is_profile_oid(oid: &ObjectIdentifier, element: u32) -> bool {
    matches!(&oid[..], [0, 0, 8, 235, 0, 1..=3, e] if *e == element)
}

fn profile_oid(element: u32) -> ObjectIdentifier {
    ObjectIdentifier::new_unchecked(vec![0, 0, 8, 235, 0, VERSION, element].into())
}

/// The algorithm OID to name in a GatekeeperConfirm when the endpoint
/// offered HMAC-SHA1-96 among `offered`.
pub fn negotiated(offered: &[ObjectIdentifier]) -> Option<ObjectIdentifier> {
    offered.iter().find(|o| is_profile_oid(o, OID_U)).cloned()
}

/// The procedure I token among a message's tokens.
pub fn find(tokens: &[CryptoH323Token]) -> Option<&CryptoTokenCryptoHashedToken> {
    tokens.iter().find_map(|t| match t {
        CryptoH323Token::nestedcryptoToken(CryptoToken::cryptoHashedToken(h))
            if is_profile_oid(&h.token_oid, OID_A) =>
        {
            Some(h)
        }
        _ => None,
    })
}

/// When and which: identifies one token of a sender.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Stamp {
    pub timestamp: u32,
    pub random: Integer,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("no H.235.1 token")]
    Absent,
    #[error("the room has no H.235 key (set its password again)")]
    NoKey,
    #[error("malformed H.235.1 token: {0}")]
    Malformed(&'static str),
    #[error("token addressed to {0:?}, not to us")]
    NotForUs(String),
    #[error("timestamp {0} s away from our clock")]
    Clock(i64),
    #[error("hash does not match (wrong password?)")]
    BadHash,
    #[error("token seen before (replay)")]
    Replayed,
}

/// Checks `token`, found in `datagram`, against `key`: its form, that it
/// is addressed to `our_id` when it names a recipient, its timestamp
/// within `window` seconds of `now`, and the HMAC over the datagram.
pub fn verify(
    token: &CryptoTokenCryptoHashedToken,
    datagram: &[u8],
    key: &Key,
    our_id: &str,
    now: u64,
    window: u32,
) -> Result<Stamp, Denial> {
    let clear = &token.hashed_vals;
    if !is_profile_oid(&clear.token_oid, OID_T) {
        return Err(Denial::Malformed("ClearToken OID"));
    }
    if !is_profile_oid(&token.token.algorithm_oid, OID_U) {
        return Err(Denial::Malformed("not HMAC-SHA1-96"));
    }
    let (Some(TimeStamp(timestamp)), Some(RandomVal(random))) = (&clear.time_stamp, &clear.random)
    else {
        return Err(Denial::Malformed("no timestamp or random"));
    };
    if let Some(Identifier(to)) = &clear.general_id {
        let to = String::from_utf16_lossy(to);
        if to != our_id {
            return Err(Denial::NotForUs(to));
        }
    }
    let skew = i64::from(*timestamp) - now as i64;
    if skew.unsigned_abs() > u64::from(window) {
        return Err(Denial::Clock(skew));
    }
    let hash = token.token.hash.as_raw_slice();
    if token.token.hash.len() != HASH_LEN * 8 {
        return Err(Denial::Malformed("hash is not 96 bits"));
    }
    // The hash sits octet-aligned in the encoding: zero it where it is
    // and compute what the sender did.
    let mut zeroed = datagram.to_vec();
    let mut at = 0;
    while let Some(i) = find_bytes(&zeroed[at..], hash) {
        let i = at + i;
        zeroed[i..i + HASH_LEN].fill(0);
        if hmac_sha1_96(key, &zeroed).as_slice() == hash {
            return Ok(Stamp {
                timestamp: *timestamp,
                random: random.clone(),
            });
        }
        zeroed[i..i + HASH_LEN].copy_from_slice(hash);
        at = i + 1;
    }
    Err(Denial::BadHash)
}

fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn hmac_sha1_96(key: &Key, message: &[u8]) -> [u8; HASH_LEN] {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; HASH_LEN];
    out.copy_from_slice(&full[..HASH_LEN]);
    out
}

/// A token for a message of ours from `sender` to `recipient`, its hash
/// a placeholder until [`seal`] is applied to the encoded message.
/// `random` is the profile's 32-bit RandomVal.
pub fn token(recipient: Option<&str>, sender: &str, now: u64, random: i32) -> CryptoH323Token {
    let id = |s: &str| Identifier(super::address::bmp(s));
    let clear = ClearToken::required(profile_oid(OID_T))
        .with_time_stamp(TimeStamp(now as u32))
        .with_random(RandomVal(Integer::from(i64::from(random))))
        .with_general_id(recipient.map(id))
        .with_senders_id(id(sender));
    CryptoH323Token::nestedcryptoToken(CryptoToken::cryptoHashedToken(
        CryptoTokenCryptoHashedToken::new(
            profile_oid(OID_A),
            clear,
            CryptoTokenCryptoHashedTokenToken::new(
                profile_oid(OID_U),
                CryptoTokenCryptoHashedTokenTokenParamS::required(),
                BitString::from_slice(&PLACEHOLDER),
            ),
        ),
    ))
}

/// Writes the HMAC of the encoded message where [`token`]'s placeholder
/// is; false when there is none.
pub fn seal(encoded: &mut [u8], key: &Key) -> bool {
    let Some(at) = find_bytes(encoded, &PLACEHOLDER) else {
        return false;
    };
    encoded[at..at + HASH_LEN].fill(0);
    let mac = hmac_sha1_96(key, encoded);
    encoded[at..at + HASH_LEN].copy_from_slice(&mac);
    true
}

/// The tokens each room's endpoint sent lately, to refuse one sent again
/// (a replay) while letting the endpoint retransmit a request it had no
/// answer to.
#[derive(Debug, Default)]
pub struct Replays {
    seen: HashMap<String, VecDeque<Seen>>,
}

#[derive(Debug)]
struct Seen {
    stamp: Stamp,
    request: u16,
    at: u64,
}

impl Replays {
    /// Records `stamp` of request number `request` from `room` at `now`;
    /// refused when seen before, unless it is the same request again
    /// within a few seconds. Tokens older than `window` are forgotten:
    /// their timestamp alone refuses them.
    pub fn check(
        &mut self,
        room: &str,
        stamp: &Stamp,
        request: u16,
        now: u64,
        window: u32,
    ) -> Result<(), Denial> {
        let seen = self.seen.entry(room.to_owned()).or_default();
        seen.retain(|s| s.at + u64::from(window) * 2 >= now);
        if let Some(s) = seen.iter().find(|s| s.stamp == *stamp) {
            return if s.request == request && now <= s.at + RETRANSMISSION_SECS {
                Ok(())
            } else {
                Err(Denial::Replayed)
            };
        }
        if seen.len() == REMEMBERED {
            seen.pop_front();
        }
        seen.push_back(Seen {
            stamp: stamp.clone(),
            request,
            at: now,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use h323_asn1::h225::{GatekeeperIdentifier, RasMessage, RequestSeqNum, UnregistrationRequest};

    use super::*;
    use crate::h323::address::{bmp, transport};

    const NOW: u64 = 1_700_000_000;

    fn key_of(password: &str) -> Key {
        key(&secret(password)).unwrap()
    }

    /// A URQ from endpoint "1001/1" to gatekeeper "MRA", signed with
    /// `password` at `at`.
    fn signed_urq(password: &str, at: u64, random: i32) -> Vec<u8> {
        let urq = UnregistrationRequest::required(
            RequestSeqNum(9),
            vec![transport("192.0.2.5:1720".parse().unwrap())],
        )
        .with_endpoint_identifier(h323_asn1::h225::EndpointIdentifier(bmp("1001/1")))
        .with_gatekeeper_identifier(GatekeeperIdentifier(bmp("MRA")))
        .with_crypto_tokens(vec![token(Some("MRA"), "1001/1", at, random)]);
        let mut bytes = h323_asn1::encode(&RasMessage::unregistrationRequest(urq)).unwrap();
        assert!(seal(&mut bytes, &key_of(password)));
        bytes
    }

    fn check(datagram: &[u8], password: &str, our_id: &str) -> Result<Stamp, Denial> {
        let RasMessage::unregistrationRequest(urq) = h323_asn1::decode(datagram).unwrap() else {
            panic!()
        };
        let tokens = urq.crypto_tokens.unwrap();
        let token = find(&tokens).ok_or(Denial::Absent)?;
        verify(token, datagram, &key_of(password), our_id, NOW, 600)
    }

    #[test]
    fn the_key_is_the_sha1_of_the_password() {
        // SHA-1("abc"), FIPS 180-2 appendix A.
        assert_eq!(secret("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(key("a9993e36"), None);
        assert_eq!(key(""), None);
    }

    #[test]
    fn hmac_sha1_96_is_rfc_2202_truncated() {
        // RFC 2202 test case 2: key "Jefe".
        let mut key = [0u8; 20];
        key[..4].copy_from_slice(b"Jefe");
        let mac = hmac_sha1_96(&key, b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac), "effcdf6ae5eb2fa2d27416d5");
    }

    #[test]
    fn a_sealed_message_verifies_and_a_changed_one_does_not() {
        let bytes = signed_urq("s3cret", NOW, 1);
        let stamp = check(&bytes, "s3cret", "MRA").unwrap();
        assert_eq!(stamp.timestamp, NOW as u32);
        assert_eq!(check(&bytes, "other", "MRA"), Err(Denial::BadHash));
        // One bit of the call-signal address flipped.
        let mut tampered = bytes.clone();
        let at = find_bytes(&tampered, &[192, 0, 2, 5]).unwrap();
        tampered[at + 3] ^= 1;
        assert_eq!(check(&tampered, "s3cret", "MRA"), Err(Denial::BadHash));
    }

    #[test]
    fn a_token_for_another_gatekeeper_or_out_of_time_is_refused() {
        let bytes = signed_urq("s3cret", NOW, 1);
        assert_eq!(
            check(&bytes, "s3cret", "GK2"),
            Err(Denial::NotForUs("MRA".into()))
        );
        let late = signed_urq("s3cret", NOW - 601, 1);
        assert_eq!(check(&late, "s3cret", "MRA"), Err(Denial::Clock(-601)));
        assert!(check(&signed_urq("s3cret", NOW + 599, 1), "s3cret", "MRA").is_ok());
    }

    #[test]
    fn the_same_token_again_is_a_replay_unless_the_request_is_retransmitted() {
        let mut replays = Replays::default();
        let stamp = |random: i64| Stamp {
            timestamp: NOW as u32,
            random: Integer::from(random),
        };
        assert_eq!(replays.check("1001", &stamp(1), 7, NOW, 600), Ok(()));
        assert_eq!(replays.check("1001", &stamp(1), 7, NOW + 5, 600), Ok(()));
        assert_eq!(
            replays.check("1001", &stamp(1), 7, NOW + 31, 600),
            Err(Denial::Replayed)
        );
        assert_eq!(
            replays.check("1001", &stamp(1), 8, NOW + 1, 600),
            Err(Denial::Replayed)
        );
        assert_eq!(replays.check("1001", &stamp(2), 8, NOW + 1, 600), Ok(()));
        assert_eq!(replays.check("2002", &stamp(1), 3, NOW + 1, 600), Ok(()));
    }

    #[test]
    fn other_versions_of_the_profile_are_understood() {
        let v3 = ObjectIdentifier::new_unchecked(vec![0, 0, 8, 235, 0, 3, 6].into());
        let sha256 = ObjectIdentifier::new_unchecked(vec![2, 16, 840, 1, 101, 3, 4, 2, 1].into());
        assert_eq!(negotiated(&[sha256.clone(), v3.clone()]), Some(v3));
        assert_eq!(negotiated(&[sha256]), None);
    }
}
