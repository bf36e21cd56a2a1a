//! What the admin API shows of a listener and its backends, and the same
//! figures as Prometheus metrics.

use std::net::SocketAddr;

use serde::Serialize;

use crate::config::Protocol;
use crate::metrics::{DropReason, Exposition, ListenerCounters};
use crate::router::Affinity;
use crate::running::{Running, Shared};

#[derive(Debug, Clone, Serialize)]
pub struct ListenerStatus {
    pub name: String,
    pub protocol: Protocol,
    pub bind: String,
    /// Bound addresses (one per worker, or one per port of a range).
    pub local: Vec<SocketAddr>,
    pub scheduler: String,
    pub affinity: Affinity,
    pub proxy_protocol: bool,
    pub packets_in: u64,
    pub bytes_in: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    pub flows_total: u64,
    pub flows_active: u64,
    /// Affinity entries (source IPs or Call-IDs) pinned now.
    pub pinned: usize,
    pub drops: Vec<(String, u64)>,
    pub backends: Vec<BackendStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackendStatus {
    pub address: SocketAddr,
    pub weight: u32,
    /// `up`, `down` or `draining`.
    pub state: &'static str,
    /// Still carrying flows after leaving the configuration.
    pub removed: bool,
    pub flows_active: u64,
    pub flows_total: u64,
    pub packets_to: u64,
    pub bytes_to: u64,
    pub packets_from: u64,
    pub bytes_from: u64,
    pub checks_failed: u64,
}

pub(crate) fn listener(r: &Running) -> ListenerStatus {
    let counters: &ListenerCounters = match &r.shared {
        Shared::Udp(s) => &s.counters,
        Shared::Tcp(s) => &s.counters,
    };
    let router = r.router.lock().unwrap_or_else(|e| e.into_inner());
    let backends = router
        .pool
        .members()
        .iter()
        .map(|m| BackendStatus {
            address: m.addr,
            weight: m.weight,
            state: m.state_name(),
            removed: m.is_removed(),
            flows_active: m.active.get(),
            flows_total: m.counters.flows.get(),
            packets_to: m.counters.packets_to.get(),
            bytes_to: m.counters.bytes_to.get(),
            packets_from: m.counters.packets_from.get(),
            bytes_from: m.counters.bytes_from.get(),
            checks_failed: m.counters.checks_failed.get(),
        })
        .collect();
    ListenerStatus {
        name: r.config.name.clone(),
        protocol: r.config.protocol,
        bind: r.config.bind.clone(),
        local: r.local.clone(),
        scheduler: r.config.scheduler.clone(),
        affinity: r.config.affinity,
        proxy_protocol: r.config.proxy_protocol,
        packets_in: counters.packets_in.get(),
        bytes_in: counters.bytes_in.get(),
        packets_out: counters.packets_out.get(),
        bytes_out: counters.bytes_out.get(),
        flows_total: counters.flows.get(),
        flows_active: counters.active.get(),
        pinned: router.pinned(),
        drops: DropReason::ALL
            .iter()
            .map(|&d| (d.name().to_owned(), counters.drops(d)))
            .collect(),
        backends,
    }
}

fn listener_labels(s: &ListenerStatus) -> String {
    format!("listener=\"{}\"", s.name)
}

fn backend_labels(s: &ListenerStatus, b: &BackendStatus) -> String {
    format!("{},backend=\"{}\"", listener_labels(s), b.address)
}

/// One figure per backend as labelled samples.
fn per_backend(s: &ListenerStatus, get: fn(&BackendStatus) -> u64) -> Vec<(String, u64)> {
    s.backends
        .iter()
        .map(|x| (backend_labels(s, x), get(x)))
        .collect()
}

/// A listener's two directions as labelled samples.
fn in_and_out(s: &ListenerStatus, into: u64, out: u64) -> Vec<(String, u64)> {
    let l = listener_labels(s);
    vec![
        (format!("{l},direction=\"in\""), into),
        (format!("{l},direction=\"out\""), out),
    ]
}

/// Each backend's (to, from) figures as labelled samples.
fn to_and_from(s: &ListenerStatus, get: fn(&BackendStatus) -> (u64, u64)) -> Vec<(String, u64)> {
    s.backends
        .iter()
        .flat_map(|x| {
            let (to, from) = get(x);
            let b = backend_labels(s, x);
            [
                (format!("{b},direction=\"to\""), to),
                (format!("{b},direction=\"from\""), from),
            ]
        })
        .collect()
}

/// Prometheus text for `listeners`.
pub fn metrics(listeners: &[ListenerStatus]) -> String {
    let mut e = Exposition::new();
    let per_listener = |f: &dyn Fn(&ListenerStatus) -> Vec<(String, u64)>| {
        listeners.iter().flat_map(f).collect::<Vec<_>>()
    };
    let l = listener_labels;
    e.metric(
        "mra_lb_packets_total",
        "counter",
        "Datagrams through a listener, by direction (in: from clients).",
        per_listener(&|s| in_and_out(s, s.packets_in, s.packets_out)),
    )
    .metric(
        "mra_lb_bytes_total",
        "counter",
        "Bytes through a listener, by direction.",
        per_listener(&|s| in_and_out(s, s.bytes_in, s.bytes_out)),
    )
    .metric(
        "mra_lb_flows_total",
        "counter",
        "Flows (UDP 5-tuples, TCP connections) opened.",
        per_listener(&|s| vec![(l(s), s.flows_total)]),
    )
    .metric(
        "mra_lb_flows_active",
        "gauge",
        "Flows open now.",
        per_listener(&|s| vec![(l(s), s.flows_active)]),
    )
    .metric(
        "mra_lb_drops_total",
        "counter",
        "Packets or connections dropped, by reason.",
        per_listener(&|s| {
            s.drops
                .iter()
                .map(|(reason, n)| (format!("{},reason=\"{reason}\"", l(s)), *n))
                .collect()
        }),
    )
    .metric(
        "mra_lb_backend_up",
        "gauge",
        "1 when the backend passes its health checks.",
        per_listener(&|s| per_backend(s, |x| u64::from(x.state != "down"))),
    )
    .metric(
        "mra_lb_backend_draining",
        "gauge",
        "1 when the backend takes no new flows (draining or removed).",
        per_listener(&|s| per_backend(s, |x| u64::from(x.state == "draining" || x.removed))),
    )
    .metric(
        "mra_lb_backend_flows_active",
        "gauge",
        "Flows a backend carries now.",
        per_listener(&|s| per_backend(s, |x| x.flows_active)),
    )
    .metric(
        "mra_lb_backend_packets_total",
        "counter",
        "Datagrams to and from a backend.",
        per_listener(&|s| to_and_from(s, |x| (x.packets_to, x.packets_from))),
    )
    .metric(
        "mra_lb_backend_bytes_total",
        "counter",
        "Bytes to and from a backend.",
        per_listener(&|s| to_and_from(s, |x| (x.bytes_to, x.bytes_from))),
    )
    .metric(
        "mra_lb_backend_checks_failed_total",
        "counter",
        "Health checks a backend failed.",
        per_listener(&|s| per_backend(s, |x| x.checks_failed)),
    );
    e.finish()
}
