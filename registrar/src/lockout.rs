//! Failed-authentication limiting per source address: after `max_failures`
//! failures within `window`, the address is refused for `lockout` (only
//! REGISTER and INVITE authentication from it; other addresses are not
//! touched). Time is unix seconds, passed in.

use std::collections::HashMap;
use std::net::IpAddr;

/// Limits, in seconds and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub window_secs: u64,
    pub lockout_secs: u64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            max_failures: 5,
            window_secs: 60,
            lockout_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    window_start: u64,
    locked_until: Option<u64>,
}

/// Failures and lockouts by source address.
#[derive(Debug, Default)]
pub struct Lockout {
    policy: LockoutPolicy,
    records: HashMap<IpAddr, Record>,
}

impl Lockout {
    pub fn new(policy: LockoutPolicy) -> Lockout {
        Lockout {
            policy,
            records: HashMap::new(),
        }
    }

    /// Seconds `ip` stays locked out, if it is.
    pub fn locked(&self, ip: IpAddr, now: u64) -> Option<u64> {
        let until = self.records.get(&ip)?.locked_until?;
        (until > now).then(|| until - now)
    }

    /// Records a failure; true when it locked the address out.
    pub fn failed(&mut self, ip: IpAddr, now: u64) -> bool {
        let policy = self.policy;
        if self.records.len() > 100_000 {
            self.records.retain(|_, r| {
                r.locked_until.is_some_and(|t| t > now) || now < r.window_start + policy.window_secs
            });
        }
        let r = self.records.entry(ip).or_insert(Record {
            failures: 0,
            window_start: now,
            locked_until: None,
        });
        if now >= r.window_start + policy.window_secs || r.locked_until.is_some_and(|t| t <= now) {
            *r = Record {
                failures: 0,
                window_start: now,
                locked_until: None,
            };
        }
        r.failures += 1;
        if r.failures >= policy.max_failures && r.locked_until.is_none() {
            r.locked_until = Some(now + policy.lockout_secs);
            return true;
        }
        false
    }

    /// A success from `ip` clears its failures (not an active lockout).
    pub fn succeeded(&mut self, ip: IpAddr, now: u64) {
        if self.locked(ip, now).is_none() {
            self.records.remove(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_lock_out_one_address_for_a_while() {
        let mut l = Lockout::new(LockoutPolicy {
            max_failures: 3,
            window_secs: 60,
            lockout_secs: 300,
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(!l.failed(a, 0));
        assert!(!l.failed(a, 10));
        assert!(l.failed(a, 20));
        assert_eq!(l.locked(a, 20), Some(300));
        assert_eq!(l.locked(b, 20), None);
        l.succeeded(a, 30);
        assert_eq!(l.locked(a, 319), Some(1));
        assert_eq!(l.locked(a, 320), None);
        // Failures spread wider than the window never lock.
        for t in [400, 470, 540, 610] {
            assert!(!l.failed(b, t));
        }
        assert!(!l.failed(a, 330));
    }
}
