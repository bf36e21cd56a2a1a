//! Counters the data path bumps without locks, per listener and per
//! backend, and their Prometheus text rendering.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// A relaxed atomic counter (or gauge, with `sub`).
#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn sub(&self, n: u64) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Why the balancer dropped a packet or connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// No healthy, non-draining backend (or the port's owner is down).
    NoBackend,
    /// The source exceeded its new-flow rate.
    RateLimited,
    /// Too many TCP connections still connecting to a backend.
    HalfOpen,
    /// The flow table was full (the new flow went in; this counts the
    /// least recently used flow it evicted).
    Evicted,
    /// No backend accepted the TCP connection.
    ConnectFailed,
    /// Sending failed (socket buffer full, backend unreachable).
    SendFailed,
}

impl DropReason {
    pub const ALL: [DropReason; 6] = [
        DropReason::NoBackend,
        DropReason::RateLimited,
        DropReason::HalfOpen,
        DropReason::Evicted,
        DropReason::ConnectFailed,
        DropReason::SendFailed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropReason::NoBackend => "no_backend",
            DropReason::RateLimited => "rate_limited",
            DropReason::HalfOpen => "half_open",
            DropReason::Evicted => "evicted",
            DropReason::ConnectFailed => "connect_failed",
            DropReason::SendFailed => "send_failed",
        }
    }
}

/// One listener's figures.
#[derive(Default, Debug)]
pub struct ListenerCounters {
    pub packets_in: Counter,
    pub bytes_in: Counter,
    pub packets_out: Counter,
    pub bytes_out: Counter,
    pub flows: Counter,
    pub active: Counter,
    drops: [Counter; 6],
}

impl ListenerCounters {
    /// Counts `n` packets or connections dropped for `reason`.
    pub fn drop(&self, reason: DropReason, n: u64) {
        self.drops[reason as usize].add(n);
    }

    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize].get()
    }
}

/// One backend's figures.
#[derive(Default, Debug)]
pub struct BackendCounters {
    pub packets_to: Counter,
    pub bytes_to: Counter,
    pub packets_from: Counter,
    pub bytes_from: Counter,
    pub flows: Counter,
    pub checks_failed: Counter,
}

/// Writes Prometheus text: one `# TYPE` line per metric, then a sample per
/// label set.
pub struct Exposition {
    text: String,
}

impl Exposition {
    pub fn new() -> Exposition {
        Exposition {
            text: String::new(),
        }
    }

    /// A metric with samples `(labels, value)`; labels are `k="v"` pairs.
    pub fn metric(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        samples: impl IntoIterator<Item = (String, u64)>,
    ) -> &mut Self {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(self.text, "{name}{{{labels}}} {value}");
        }
        self
    }

    pub fn finish(self) -> String {
        self.text
    }
}

impl Default for Exposition {
    fn default() -> Self {
        Exposition::new()
    }
}
