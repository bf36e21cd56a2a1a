//! Which backend a new flow goes to: the listener's affinity rule, its
//! pool and scheduler, and its new-flow rate limit, shared by the
//! listener's workers behind one lock that only new flows (and, for SIP
//! Call-ID affinity, each SIP datagram) take. Sans-IO: fed keys and `now`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::hash::hash64;
use crate::lru::IdleLru;
use crate::metrics::DropReason;
use crate::pool::{Member, Pool};
use crate::rate::NewFlowLimiter;
use crate::sip_call_id::call_id;

/// What keeps a client on one backend beyond its transport flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Affinity {
    /// Only the flow itself (UDP 5-tuple, TCP connection).
    #[default]
    None,
    /// Same as `none`: named for configurations that want to say it.
    #[serde(rename = "5-tuple")]
    FiveTuple,
    /// Every flow from one source IP goes to one backend while it is up
    /// and the source was seen within the persistence timeout (IPVS `-p`).
    SourceIp,
    /// SIP over UDP: every datagram of one Call-ID goes to one backend,
    /// whatever source port it comes from.
    SipCallId,
}

/// The key a flow or datagram is placed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    /// Hashed affinity key (source IP, Call-ID or 5-tuple).
    pub key: u64,
    /// Whether the key is pinned in the affinity table.
    pub sticky: bool,
}

const SEED: u64 = 0x4d52_415f_4c42; // "MRA_LB"

fn addr_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The hash of a source IP (same for IPv4 and its mapped IPv6 form).
pub fn ip_key(ip: IpAddr) -> u64 {
    hash64(&addr_bytes(ip), SEED)
}

/// The hash of a source address and port.
pub fn addr_key(addr: SocketAddr) -> u64 {
    let mut bytes = [0u8; 18];
    bytes[..16].copy_from_slice(&addr_bytes(addr.ip()));
    bytes[16..].copy_from_slice(&addr.port().to_be_bytes());
    hash64(&bytes, SEED)
}

/// Settings of one router.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    pub affinity: Affinity,
    /// The scheduler hashes the source IP whatever the affinity.
    pub by_source_ip: bool,
    /// How long an affinity entry outlives its last use.
    pub affinity_timeout: Duration,
    pub max_entries: usize,
    pub new_flows_per_sec: u32,
    pub new_flow_burst: u32,
}

/// One listener's routing state.
pub struct Router {
    config: RouterConfig,
    pub pool: Pool,
    pinned: IdleLru<u64, Arc<Member>>,
    limiter: NewFlowLimiter,
}

impl Router {
    pub fn new(config: RouterConfig, pool: Pool) -> Router {
        Router {
            pinned: IdleLru::new(config.max_entries, config.affinity_timeout),
            limiter: NewFlowLimiter::new(
                config.new_flows_per_sec,
                config.new_flow_burst,
                config.max_entries,
            ),
            config,
            pool,
        }
    }

    pub fn affinity(&self) -> Affinity {
        self.config.affinity
    }

    /// Keeps the pool (and its members' state) but takes new settings.
    pub fn reconfigure(&mut self, config: RouterConfig) {
        if config.affinity != self.config.affinity || config.affinity_timeout != self.pinned.idle()
        {
            self.pinned = IdleLru::new(config.max_entries, config.affinity_timeout);
        }
        self.limiter = NewFlowLimiter::new(
            config.new_flows_per_sec,
            config.new_flow_burst,
            config.max_entries,
        );
        self.config = config;
    }

    /// The key of a datagram or connection from `src` (`payload` is the
    /// datagram, empty for TCP).
    pub fn key(&self, src: SocketAddr, payload: &[u8]) -> FlowKey {
        let (key, sticky) = match self.config.affinity {
            Affinity::SourceIp => (ip_key(src.ip()), true),
            Affinity::SipCallId => match call_id(payload) {
                Some(id) => (hash64(id, SEED), true),
                None => (addr_key(src), false),
            },
            Affinity::None | Affinity::FiveTuple if self.config.by_source_ip => {
                (ip_key(src.ip()), false)
            }
            Affinity::None | Affinity::FiveTuple => (addr_key(src), false),
        };
        FlowKey { key, sticky }
    }

    /// The backend for `key` from `src`: the pinned one while it is up,
    /// else a new pick (rate limited per source), pinned when sticky.
    /// `evicted` is set when pinning pushed out the least recently used
    /// entry.
    pub fn assign(
        &mut self,
        key: FlowKey,
        src: IpAddr,
        now: Instant,
        evicted: &mut bool,
    ) -> Result<Arc<Member>, DropReason> {
        if key.sticky {
            match self.pinned.touch(&key.key, now) {
                Some(m) if m.is_up() => return Ok(m.clone()),
                Some(_) => {
                    self.pinned.remove(&key.key);
                }
                None => {}
            }
        }
        if !self.limiter.allow(src, now) {
            return Err(DropReason::RateLimited);
        }
        let scheduled = if self.config.by_source_ip {
            ip_key(src)
        } else {
            key.key
        };
        let member = self.pool.pick(scheduled).ok_or(DropReason::NoBackend)?;
        if key.sticky {
            *evicted |= self.pinned.insert(key.key, member.clone(), now).is_some();
        }
        Ok(member)
    }

    /// Whether `src` may open a flow that needs no scheduling (a port
    /// range's fixed owner).
    pub fn admit(&mut self, src: IpAddr, now: Instant) -> bool {
        self.limiter.allow(src, now)
    }

    /// Drops idle affinity entries.
    pub fn expire(&mut self, now: Instant) {
        self.pinned.expire(now, |_, _| {});
    }

    pub fn pinned(&self) -> usize {
        self.pinned.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::by_name;

    fn router(affinity: Affinity, scheduler: &str) -> Router {
        let backends: Vec<(SocketAddr, u32)> = (1..=3)
            .map(|i| (SocketAddr::from(([10, 0, 0, i], 5060)), 1))
            .collect();
        Router::new(
            RouterConfig {
                affinity,
                by_source_ip: scheduler == "source-hash",
                affinity_timeout: Duration::from_secs(30),
                max_entries: 1000,
                new_flows_per_sec: 0,
                new_flow_burst: 0,
            },
            Pool::new(by_name(scheduler).unwrap(), &backends),
        )
    }

    fn invite(call_id: &str) -> Vec<u8> {
        format!("INVITE sip:1@gw SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nCall-ID: {call_id}\r\n\r\n")
            .into_bytes()
    }

    fn assign(r: &mut Router, src: SocketAddr, payload: &[u8], now: Instant) -> SocketAddr {
        let key = r.key(src, payload);
        r.assign(key, src.ip(), now, &mut false).unwrap().addr
    }

    #[test]
    fn call_id_pins_a_dialog_across_source_ports_while_the_backend_is_up() {
        let t0 = Instant::now();
        // Round robin would spread consecutive datagrams: affinity must not.
        let mut r = router(Affinity::SipCallId, "wrr");
        let room: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        let dialog = |r: &mut Router, at| assign(r, room, &invite("abc"), at);
        let first = dialog(&mut r, t0);
        for port in [5060, 5062, 40000] {
            let src = SocketAddr::from(([192, 0, 2, 1], port));
            assert_eq!(assign(&mut r, src, &invite("abc"), t0), first);
        }
        let other = assign(&mut r, room, &invite("xyz"), t0);
        assert_ne!(other, first, "a new dialog is scheduled");
        // Its backend dies: the dialog moves, and stays where it moved.
        r.pool.set_up(first, false);
        let moved = dialog(&mut r, t0);
        assert_ne!(moved, first);
        r.pool.set_up(first, true);
        let later = t0 + Duration::from_secs(29);
        assert_eq!(dialog(&mut r, later), moved);
        // Draining keeps existing dialogs.
        r.pool.set_draining(moved, true);
        assert_eq!(dialog(&mut r, later), moved);
    }

    #[test]
    fn source_ip_persistence_times_out() {
        let t0 = Instant::now();
        let mut r = router(Affinity::SourceIp, "wrr");
        let a = assign(&mut r, "192.0.2.7:1000".parse().unwrap(), b"", t0);
        for port in 1001..1010 {
            let src = SocketAddr::from(([192, 0, 2, 7], port));
            assert_eq!(assign(&mut r, src, b"", t0 + Duration::from_secs(1)), a);
        }
        r.expire(t0 + Duration::from_secs(31));
        assert_eq!(r.pinned(), 0, "30 s after its last flow");
    }

    #[test]
    fn rate_limit_applies_to_new_entries_only() {
        let t0 = Instant::now();
        let mut r = router(Affinity::SipCallId, "maglev");
        r.reconfigure(RouterConfig {
            new_flows_per_sec: 1,
            new_flow_burst: 2,
            ..r.config.clone()
        });
        let src: SocketAddr = "192.0.2.9:5060".parse().unwrap();
        let mut results = Vec::new();
        for id in ["a", "b", "c", "a"] {
            let key = r.key(src, &invite(id));
            results.push(r.assign(key, src.ip(), t0, &mut false).map(|_| ()));
        }
        assert_eq!(
            results,
            [Ok(()), Ok(()), Err(DropReason::RateLimited), Ok(())],
            "the third new Call-ID is refused; retransmissions of a pinned one pass"
        );
    }

    #[test]
    fn source_hash_scheduler_keeps_one_source_on_one_backend() {
        let t0 = Instant::now();
        let mut r = router(Affinity::None, "source-hash");
        let first = assign(&mut r, "192.0.2.3:1".parse().unwrap(), b"", t0);
        for port in 2..50 {
            let src = SocketAddr::from(([192, 0, 2, 3], port));
            assert_eq!(assign(&mut r, src, b"", t0), first);
        }
    }
}
