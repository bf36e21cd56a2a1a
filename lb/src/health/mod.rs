//! Active health checks, sans-IO: when each backend is due a probe, and
//! how results move it between up and down (`fall` consecutive failures
//! take it down, `rise` consecutive successes bring it back). Probes go
//! out every `interval` whatever the last result, so a backend that dies
//! is down within interval × fall (+ the probe timeout when it stops
//! answering rather than refusing). [`probe`] builds and judges the
//! messages; [`driver`] runs them with tokio.

pub mod driver;
pub mod probe;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What a probe does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckKind {
    /// SIP OPTIONS; any final response means alive.
    SipOptions,
    /// A TCP connection that opens.
    Tcp,
    /// HTTP request with an expected status.
    Http,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    pub kind: CheckKind,
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
    /// Default: half the interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default = "default_count")]
    pub fall: u32,
    #[serde(default = "default_count")]
    pub rise: u32,
    /// SIP OPTIONS over `udp` or `tcp` (default: the listener's protocol).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<crate::config::Protocol>,
    /// Probe this port instead of the backend's (e.g. its HTTP port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// HTTP: method (GET or HEAD), path, Host header, expected status
    /// (default: any 2xx or 3xx).
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default = "default_path")]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<u16>,
}

fn default_interval() -> u64 {
    1000
}
fn default_count() -> u32 {
    2
}
fn default_method() -> String {
    "GET".into()
}
fn default_path() -> String {
    "/".into()
}

impl HealthConfig {
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(self.interval_ms / 2).max(1))
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.interval_ms == 0 || self.fall == 0 || self.rise == 0 {
            return Err("interval_ms, fall and rise must be positive".into());
        }
        if !matches!(self.method.as_str(), "GET" | "HEAD") {
            return Err(format!("method {:?}: GET or HEAD", self.method));
        }
        if !self.path.starts_with('/') {
            return Err(format!("path {:?} must start with /", self.path));
        }
        Ok(())
    }
}

/// A backend changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Down(SocketAddr),
    Up(SocketAddr),
}

struct Target {
    addr: SocketAddr,
    up: bool,
    /// Consecutive results against the current state.
    streak: u32,
    due: Instant,
    in_flight: bool,
}

/// The health state of one pool's backends.
pub struct Monitor {
    interval: Duration,
    rise: u32,
    fall: u32,
    targets: Vec<Target>,
}

impl Monitor {
    pub fn new(config: &HealthConfig) -> Monitor {
        Monitor {
            interval: config.interval(),
            rise: config.rise,
            fall: config.fall,
            targets: Vec::new(),
        }
    }

    /// The backends to watch; known ones keep their state, new ones start
    /// up and are probed at once.
    pub fn set_targets(&mut self, addrs: &[SocketAddr], now: Instant) {
        let mut old = std::mem::take(&mut self.targets);
        self.targets = addrs
            .iter()
            .map(|&addr| match old.iter().position(|t| t.addr == addr) {
                Some(i) => old.swap_remove(i),
                None => Target {
                    addr,
                    up: true,
                    streak: 0,
                    due: now,
                    in_flight: false,
                },
            })
            .collect();
    }

    /// Backends to probe now (each marked in flight until its result).
    pub fn due(&mut self, now: Instant) -> Vec<SocketAddr> {
        let interval = self.interval;
        self.targets
            .iter_mut()
            .filter(|t| !t.in_flight && t.due <= now)
            .map(|t| {
                t.in_flight = true;
                t.due += interval;
                if t.due <= now {
                    t.due = now + interval; // fell behind: no burst of catch-up probes
                }
                t.addr
            })
            .collect()
    }

    /// When the next probe is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.targets
            .iter()
            .filter(|t| !t.in_flight)
            .map(|t| t.due)
            .min()
    }

    /// A probe's result.
    pub fn record(&mut self, addr: SocketAddr, alive: bool) -> Option<Transition> {
        let t = self.targets.iter_mut().find(|t| t.addr == addr)?;
        t.in_flight = false;
        if alive == t.up {
            t.streak = 0;
            return None;
        }
        t.streak += 1;
        let needed = if t.up { self.fall } else { self.rise };
        if t.streak < needed {
            return None;
        }
        t.up = alive;
        t.streak = 0;
        Some(if alive {
            Transition::Up(addr)
        } else {
            Transition::Down(addr)
        })
    }

    pub fn is_up(&self, addr: SocketAddr) -> Option<bool> {
        self.targets.iter().find(|t| t.addr == addr).map(|t| t.up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(fall: u32, rise: u32) -> HealthConfig {
        toml::from_str(&format!(
            "kind = \"sip-options\"\ninterval_ms = 500\nfall = {fall}\nrise = {rise}"
        ))
        .unwrap()
    }

    #[test]
    fn falls_after_fall_failures_and_rises_after_rise_successes() {
        let t0 = Instant::now();
        let a: SocketAddr = "10.0.0.1:5060".parse().unwrap();
        let mut m = Monitor::new(&config(2, 3));
        m.set_targets(&[a], t0);
        let mut results = Vec::new();
        let mut now = t0;
        for alive in [
            false, true, false, false, true, true, false, true, true, true,
        ] {
            assert_eq!(m.due(now), [a]);
            results.push(m.record(a, alive));
            now = m.next_due().unwrap();
        }
        let transitions: Vec<_> = results.into_iter().flatten().collect();
        assert_eq!(transitions, [Transition::Down(a), Transition::Up(a)]);
        assert_eq!(now, t0 + Duration::from_millis(500 * 10));
    }

    #[test]
    fn a_dead_backend_is_down_within_interval_times_fall() {
        let t0 = Instant::now();
        let a: SocketAddr = "10.0.0.1:5060".parse().unwrap();
        let mut m = Monitor::new(&config(2, 2));
        m.set_targets(&[a], t0);
        m.due(t0);
        m.record(a, true);
        // Dies just after that probe; refused probes fail at once.
        let died = t0 + Duration::from_millis(1);
        let down_at = loop {
            let now = m.next_due().unwrap();
            m.due(now);
            if m.record(a, false) == Some(Transition::Down(a)) {
                break now;
            }
        };
        assert!(down_at - died <= Duration::from_millis(500 * 2));
    }

    #[test]
    fn one_probe_in_flight_per_backend_and_no_catch_up_burst() {
        let t0 = Instant::now();
        let a: SocketAddr = "10.0.0.1:5060".parse().unwrap();
        let mut m = Monitor::new(&config(2, 2));
        m.set_targets(&[a], t0);
        assert_eq!(m.due(t0), [a]);
        assert!(
            m.due(t0 + Duration::from_secs(5)).is_empty(),
            "still in flight"
        );
        m.record(a, true);
        assert_eq!(m.due(t0 + Duration::from_secs(5)), [a]);
        assert_eq!(m.next_due(), None);
        m.record(a, true);
        assert_eq!(m.next_due(), Some(t0 + Duration::from_millis(5500)));
    }

    #[test]
    fn retargeting_keeps_known_state() {
        let t0 = Instant::now();
        let (a, b): (SocketAddr, SocketAddr) =
            ("10.0.0.1:1".parse().unwrap(), "10.0.0.2:1".parse().unwrap());
        let mut m = Monitor::new(&config(1, 1));
        m.set_targets(&[a], t0);
        m.due(t0);
        m.record(a, false);
        m.set_targets(&[b, a], t0);
        assert_eq!((m.is_up(a), m.is_up(b)), (Some(false), Some(true)));
    }
}
