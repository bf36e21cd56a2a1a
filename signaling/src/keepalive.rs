//! Keepalive of registered rooms: every interval, each live binding gets an
//! OPTIONS through the core, over the flow it registered on (its UDP
//! source address, or its TCP connection while that is open); any final
//! response marks the binding reachable, no answer by the next round (or
//! no open connection) unreachable, in the store.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use registrar::{unix_now, Binding, Registrar};
use tokio::sync::mpsc;

use crate::core::Input;
use crate::sip::{Flow, Transport};

/// Probes in flight and where their outcomes go.
pub(crate) struct Keepalive {
    registrar: Arc<Registrar>,
    /// Probe id → (user, contact).
    pending: Mutex<HashMap<u64, (String, String)>>,
    next: AtomicU64,
}

impl Keepalive {
    pub fn new(registrar: Arc<Registrar>) -> Arc<Keepalive> {
        Arc::new(Keepalive {
            registrar,
            pending: Mutex::default(),
            next: AtomicU64::new(1),
        })
    }

    /// Probes every live binding each `interval`; `flow_to` finds the
    /// flow to a remote address (None: its TCP connection is closed).
    pub async fn run(
        self: Arc<Self>,
        interval: Duration,
        in_tx: mpsc::UnboundedSender<Input>,
        flow_to: impl Fn(Transport, SocketAddr) -> Option<Flow>,
    ) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let unanswered: Vec<_> = self
                .pending
                .lock()
                .expect("keepalive lock")
                .drain()
                .map(|(_, key)| key)
                .collect();
            for key in unanswered {
                self.record(key, false);
            }
            for binding in self.registrar.live_bindings(unix_now()).await {
                self.probe(binding, &in_tx, &flow_to);
            }
        }
    }

    fn probe(
        self: &Arc<Self>,
        b: Binding,
        in_tx: &mpsc::UnboundedSender<Input>,
        flow_to: &impl Fn(Transport, SocketAddr) -> Option<Flow>,
    ) {
        let key = (b.user.clone(), b.contact.clone());
        let Ok(remote) = b.source.parse::<SocketAddr>() else {
            return;
        };
        let transport = Transport::from_name(&b.transport).unwrap_or(Transport::Udp);
        // A closed TCP or TLS connection: unreachable until it registers again.
        let Some(flow) = flow_to(transport, remote) else {
            return self.record(key, false);
        };
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.pending.lock().expect("keepalive lock").insert(id, key);
        let _ = in_tx.send(Input::Probe {
            id,
            flow,
            target: b.contact,
        });
    }

    /// The core's outcome of probe `id`.
    pub fn finished(self: &Arc<Self>, id: u64, alive: bool) {
        let key = self.pending.lock().expect("keepalive lock").remove(&id);
        if let Some(key) = key {
            self.record(key, alive);
        }
    }

    fn record(self: &Arc<Self>, (user, contact): (String, String), alive: bool) {
        let registrar = self.registrar.clone();
        tokio::spawn(async move {
            registrar
                .record_probe(&user, &contact, alive, unix_now())
                .await
        });
    }
}
