//! Server nonces: self-validating (issue time, random bytes and an HMAC
//! under a per-process secret, in hex), so any nonce we issued can be told
//! from a forged one without a table, and its age tells when it is stale.
//! Nonce counts seen are remembered while a nonce lives, so a replayed
//! request (the same nonce with a count not above the last) is refused.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a nonce presented by a client turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Ours, young enough, and this count was not used before.
    Fresh,
    /// Ours but too old, or not ours (e.g. issued before a restart): the
    /// client may retry with a new nonce if its credentials were right.
    Stale,
    /// Ours and alive, but this nonce count was already used.
    Replayed,
}

/// Issues and checks nonces. Time is unix seconds, passed in.
pub struct Nonces {
    secret: [u8; 32],
    lifetime: u64,
    /// Highest nonce count accepted per live nonce, and when it dies.
    counts: HashMap<String, (u32, u64)>,
}

const RANDOM_LEN: usize = 8;
const MAC_LEN: usize = 16;

impl Nonces {
    /// Nonces live `lifetime_secs`.
    pub fn new(lifetime_secs: u64) -> Nonces {
        Nonces {
            secret: rand::random(),
            lifetime: lifetime_secs,
            counts: HashMap::new(),
        }
    }

    /// A new nonce issued at `now`.
    pub fn issue(&self, now: u64) -> String {
        let mut body = [0u8; 8 + RANDOM_LEN];
        body[..8].copy_from_slice(&now.to_be_bytes());
        body[8..].copy_from_slice(&rand::random::<[u8; RANDOM_LEN]>());
        let mac = self.mac(&body);
        format!("{}{}", hex::encode(body), hex::encode(&mac[..MAC_LEN]))
    }

    /// Checks `nonce` used with count `nc` (None without qop: the nonce
    /// may then be used once). Records the count when fresh.
    pub fn check(&mut self, nonce: &str, nc: Option<u32>, now: u64) -> NonceCheck {
        let Some(issued) = self.issued_at(nonce) else {
            return NonceCheck::Stale;
        };
        if now.saturating_sub(issued) >= self.lifetime || issued > now + 5 {
            return NonceCheck::Stale;
        }
        let nc = nc.unwrap_or(1);
        self.counts.retain(|_, (_, dies)| *dies > now);
        let dies = issued + self.lifetime;
        match self.counts.get_mut(nonce) {
            Some((last, _)) if nc <= *last => NonceCheck::Replayed,
            Some((last, _)) => {
                *last = nc;
                NonceCheck::Fresh
            }
            None => {
                self.counts.insert(nonce.to_owned(), (nc, dies));
                NonceCheck::Fresh
            }
        }
    }

    /// When `nonce` was issued, if it is one of ours.
    fn issued_at(&self, nonce: &str) -> Option<u64> {
        let raw = hex::decode(nonce).ok()?;
        if raw.len() != 8 + RANDOM_LEN + MAC_LEN {
            return None;
        }
        let (body, mac) = raw.split_at(8 + RANDOM_LEN);
        let mut check = HmacSha256::new_from_slice(&self.secret).expect("any key length");
        check.update(body);
        check.verify_truncated_left(mac).ok()?;
        Some(u64::from_be_bytes(body[..8].try_into().expect("8 bytes")))
    }

    fn mac(&self, body: &[u8]) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("any key length");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }

    /// Live nonces with a recorded count (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.counts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_counts_up_and_replays_are_refused() {
        let mut n = Nonces::new(300);
        let nonce = n.issue(1000);
        assert_eq!(n.check(&nonce, Some(1), 1001), NonceCheck::Fresh);
        assert_eq!(n.check(&nonce, Some(1), 1002), NonceCheck::Replayed);
        assert_eq!(n.check(&nonce, Some(2), 1002), NonceCheck::Fresh);
        assert_eq!(n.check(&nonce, Some(2), 1003), NonceCheck::Replayed);
        assert_eq!(n.check(&nonce, Some(5), 1003), NonceCheck::Fresh);
    }

    #[test]
    fn without_qop_a_nonce_serves_once() {
        let mut n = Nonces::new(300);
        let nonce = n.issue(1000);
        assert_eq!(n.check(&nonce, None, 1000), NonceCheck::Fresh);
        assert_eq!(n.check(&nonce, None, 1000), NonceCheck::Replayed);
    }

    #[test]
    fn old_forged_and_foreign_nonces_are_stale() {
        let mut n = Nonces::new(300);
        let nonce = n.issue(1000);
        assert_eq!(n.check(&nonce, Some(1), 1300), NonceCheck::Stale);
        let mut forged = nonce.clone().into_bytes();
        forged[3] = if forged[3] == b'0' { b'1' } else { b'0' };
        let forged = String::from_utf8(forged).unwrap();
        let mut fresh = Nonces::new(300);
        assert_eq!(fresh.check(&forged, Some(1), 1001), NonceCheck::Stale);
        // Another process's (or a restarted one's) nonce.
        assert_eq!(fresh.check(&nonce, Some(1), 1001), NonceCheck::Stale);
        assert_eq!(fresh.check("zz", Some(1), 1001), NonceCheck::Stale);
    }

    #[test]
    fn counts_are_forgotten_when_their_nonce_dies() {
        let mut n = Nonces::new(300);
        let a = n.issue(1000);
        assert_eq!(n.check(&a, Some(1), 1000), NonceCheck::Fresh);
        let b = n.issue(1400);
        assert_eq!(n.check(&b, Some(1), 1400), NonceCheck::Fresh);
        assert_eq!(n.tracked(), 1);
    }
}
