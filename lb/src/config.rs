//! The `[lb]` configuration: listeners with their backends, scheduler,
//! affinity, health check and limits. The same section serves `mra lb
//! --config FILE` and the LB embedded in `mra run`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::health::HealthConfig;
use crate::router::{Affinity, RouterConfig};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LbConfig {
    /// Admin API and /metrics of a standalone `mra lb`.
    pub admin: SocketAddr,
    /// Data-path threads (default: one per core).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    pub listener: Vec<ListenerConfig>,
}

impl Default for LbConfig {
    fn default() -> Self {
        LbConfig {
            admin: SocketAddr::from(([127, 0, 0, 1], 8099)),
            workers: None,
            listener: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Udp,
    Tcp,
}

/// A backend: `"10.0.0.5:5060"` or `{ address = "10.0.0.5:5060", weight = 2 }`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum BackendSpec {
    Address(SocketAddr),
    Weighted {
        address: SocketAddr,
        #[serde(default = "one")]
        weight: u32,
    },
}

fn one() -> u32 {
    1
}

impl BackendSpec {
    pub fn address(&self) -> SocketAddr {
        match self {
            BackendSpec::Address(a) | BackendSpec::Weighted { address: a, .. } => *a,
        }
    }

    pub fn weight(&self) -> u32 {
        match self {
            BackendSpec::Address(_) => 1,
            BackendSpec::Weighted { weight, .. } => *weight,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    pub name: String,
    pub protocol: Protocol,
    /// `ip:port`, or `ip:first-last` for a media port range partitioned
    /// across the backends (UDP only).
    pub bind: String,
    #[serde(default = "default_scheduler")]
    pub scheduler: String,
    #[serde(default)]
    pub affinity: Affinity,
    pub backends: Vec<BackendSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthConfig>,
    /// Prefix a PROXY v2 header (TCP: once per connection; UDP: on every
    /// datagram) so backends learn the client's address.
    #[serde(default)]
    pub proxy_protocol: bool,
    /// A UDP flow with no packet either way this long is forgotten.
    #[serde(default = "default_idle")]
    pub idle_timeout_secs: u64,
    /// How long an affinity entry (source IP, Call-ID) outlives its last
    /// packet (default 300 s for source-ip, 7200 s for sip-call-id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity_timeout_secs: Option<u64>,
    /// Flow-table and affinity-table bound (least recently used goes).
    #[serde(default = "default_max_flows")]
    pub max_flows: usize,
    /// New flows per second per source IP (0: unlimited), and the burst.
    #[serde(default = "default_rate")]
    pub new_flows_per_sec: u32,
    #[serde(default = "default_burst")]
    pub new_flow_burst: u32,
    /// TCP connections still connecting to a backend, at most.
    #[serde(default = "default_half_open")]
    pub max_half_open: usize,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
}

fn default_scheduler() -> String {
    "maglev".into()
}
fn default_idle() -> u64 {
    120
}
fn default_max_flows() -> usize {
    100_000
}
fn default_rate() -> u32 {
    1000
}
fn default_burst() -> u32 {
    2000
}
fn default_half_open() -> usize {
    1024
}
fn default_connect_timeout() -> u64 {
    3000
}

/// Where a listener binds: one port or a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bind {
    pub ip: IpAddr,
    pub first: u16,
    pub last: u16,
}

impl Bind {
    pub fn parse(text: &str) -> Result<Bind, String> {
        let bad = || format!("bind {text:?}: expected ip:port or ip:first-last");
        let colon = text.rfind(':').ok_or_else(bad)?;
        let ip = text[..colon].trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = ip.parse().map_err(|_| bad())?;
        let ports = &text[colon + 1..];
        let (first, last) = match ports.split_once('-') {
            Some((a, b)) => (a.parse(), b.parse()),
            None => (ports.parse(), ports.parse()),
        };
        let (first, last): (u16, u16) = (first.map_err(|_| bad())?, last.map_err(|_| bad())?);
        if first > last {
            return Err(bad());
        }
        Ok(Bind { ip, first, last })
    }

    pub fn is_range(&self) -> bool {
        self.first != self.last
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.first)
    }
}

impl ListenerConfig {
    pub fn bind(&self) -> Bind {
        Bind::parse(&self.bind).expect("validated")
    }

    pub fn backends(&self) -> Vec<(SocketAddr, u32)> {
        self.backends
            .iter()
            .map(|b| (b.address(), b.weight()))
            .collect()
    }

    pub fn router(&self) -> RouterConfig {
        let default_timeout = match self.affinity {
            Affinity::SipCallId => 7200,
            _ => 300,
        };
        RouterConfig {
            affinity: self.affinity,
            by_source_ip: self.scheduler == "source-hash",
            affinity_timeout: Duration::from_secs(
                self.affinity_timeout_secs.unwrap_or(default_timeout),
            ),
            max_entries: self.max_flows,
            new_flows_per_sec: self.new_flows_per_sec,
            new_flow_burst: self.new_flow_burst,
        }
    }

    fn validate(&self) -> Result<(), String> {
        let name = &self.name;
        let bind = Bind::parse(&self.bind)?;
        if crate::scheduler::by_name(&self.scheduler).is_none() {
            return Err(format!(
                "listener {name}: scheduler {:?} (wrr, wlc, source-hash, maglev)",
                self.scheduler
            ));
        }
        if self.backends.is_empty() {
            return Err(format!("listener {name}: no backends"));
        }
        if self.protocol == Protocol::Tcp && bind.is_range() {
            return Err(format!("listener {name}: port ranges are for UDP media"));
        }
        if self.protocol == Protocol::Tcp && self.affinity == Affinity::SipCallId {
            return Err(format!(
                "listener {name}: sip-call-id affinity is for UDP (a TCP connection stays on one backend)"
            ));
        }
        let ports = usize::from(bind.last - bind.first) + 1;
        if bind.is_range() && ports < self.backends.len() {
            return Err(format!(
                "listener {name}: {ports} ports cannot be shared by {} backends",
                self.backends.len()
            ));
        }
        if self.backends.iter().any(|b| b.weight() == 0) && bind.is_range() {
            return Err(format!(
                "listener {name}: port-range backends need a weight"
            ));
        }
        if let Some(h) = &self.health {
            h.validate()
                .map_err(|e| format!("listener {name}: health: {e}"))?;
        }
        Ok(())
    }
}

impl LbConfig {
    /// Checks what serde cannot: names, binds, schedulers, combinations.
    pub fn validate(&self) -> Result<(), String> {
        for (i, l) in self.listener.iter().enumerate() {
            l.validate()?;
            if self.listener[..i].iter().any(|o| o.name == l.name) {
                return Err(format!("listener name {:?} used twice", l.name));
            }
        }
        if self.workers == Some(0) {
            return Err("workers must be at least 1".into());
        }
        Ok(())
    }

    /// Parses a standalone file: an `[lb]` table, or its content at top level.
    pub fn from_toml(text: &str) -> Result<LbConfig, String> {
        #[derive(Deserialize)]
        struct Wrapped {
            lb: LbConfig,
        }
        let cfg = match toml::from_str::<Wrapped>(text) {
            Ok(w) => w.lb,
            Err(_) => toml::from_str::<LbConfig>(text).map_err(|e| e.to_string())?,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
        [[lb.listener]]
        name = "sip"
        protocol = "udp"
        bind = "127.0.0.1:5060"
        scheduler = "maglev"
        affinity = "sip-call-id"
        backends = ["127.0.0.1:5080", { address = "127.0.0.1:5081", weight = 3 }]
        health = { kind = "sip-options", interval_ms = 500, fall = 2, rise = 2 }

        [[lb.listener]]
        name = "media"
        protocol = "udp"
        bind = "[::1]:40000-40999"
        backends = ["[::1]:40000", "[::1]:40500"]
    "#;

    #[test]
    fn parses_the_documented_example() {
        let cfg = LbConfig::from_toml(EXAMPLE).unwrap();
        let sip = &cfg.listener[0];
        assert_eq!(sip.affinity, Affinity::SipCallId);
        assert_eq!(sip.backends()[1], ("127.0.0.1:5081".parse().unwrap(), 3));
        assert_eq!(sip.health.as_ref().unwrap().fall, 2);
        let media = cfg.listener[1].bind();
        assert_eq!(
            (media.first, media.last, media.is_range()),
            (40000, 40999, true)
        );
        assert_eq!(media.ip, "::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn refuses_what_cannot_work() {
        for (bad, why) in [
            (EXAMPLE.replace("\"maglev\"", "\"fastest\""), "scheduler"),
            (EXAMPLE.replace("\"media\"", "\"sip\""), "twice"),
            (EXAMPLE.replace("40000-40999", "40000-40000x"), "bind"),
            (
                EXAMPLE
                    .replace("40000-40999", "40000-40001")
                    .replace("\"[::1]:40500\"]", "\"[::1]:40500\", \"[::1]:40700\"]"),
                "ports cannot be shared",
            ),
            (
                EXAMPLE.replacen("protocol = \"udp\"", "protocol = \"tcp\"", 1),
                "sip-call-id affinity is for UDP",
            ),
        ] {
            let err = LbConfig::from_toml(&bad).unwrap_err();
            assert!(err.contains(why), "{why}: {err}");
        }
    }
}
