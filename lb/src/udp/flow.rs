//! A UDP flow: one client address towards one backend, through an
//! upstream socket of its own (its port tells the backend's answers apart),
//! and the task that relays those answers back to the client from the
//! listener's socket.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use quinn_udp::UdpSocketState;
use tokio::net::UdpSocket;
use tokio::task::AbortHandle;

use super::batch::with_buffers;
use super::UdpShared;
use crate::metrics::DropReason;
use crate::pool::Member;

/// Process-wide origin of the nanosecond clocks flows keep in atomics.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn stamp(now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(epoch()).as_nanos()).unwrap_or(u64::MAX)
}

pub struct Flow {
    pub member: Arc<Member>,
    /// Where its datagrams go (the member's address, or a port of its
    /// block in a port range).
    pub target: SocketAddr,
    pub upstream: Arc<UdpSocket>,
    last_reply: Arc<AtomicU64>,
    replies: AbortHandle,
    shared: Arc<UdpShared>,
}

/// What a flow's reply relay needs.
pub struct Relay {
    pub listener: Arc<UdpSocket>,
    pub state: Arc<UdpSocketState>,
    pub client: SocketAddr,
    /// The local address the client wrote to (answers leave from it).
    pub src_ip: Option<IpAddr>,
}

impl Flow {
    /// Opens the upstream socket and starts relaying answers; must run on
    /// the worker's runtime.
    pub fn open(
        member: Arc<Member>,
        target: SocketAddr,
        relay: Relay,
        shared: Arc<UdpShared>,
    ) -> std::io::Result<Flow> {
        let any: SocketAddr = if target.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let socket = std::net::UdpSocket::bind(any)?;
        socket.connect(target)?;
        socket.set_nonblocking(true)?;
        let upstream = Arc::new(UdpSocket::from_std(socket)?);
        let last_reply = Arc::new(AtomicU64::new(0));
        let replies = tokio::spawn(relay_answers(
            upstream.clone(),
            relay,
            member.clone(),
            shared.clone(),
            last_reply.clone(),
        ))
        .abort_handle();
        member.active.add(1);
        member.counters.flows.add(1);
        shared.counters.flows.add(1);
        shared.counters.active.add(1);
        Ok(Flow {
            member,
            target,
            upstream,
            last_reply,
            replies,
            shared,
        })
    }

    /// Whether the backend answered within `idle` before `now`.
    pub fn answered_within(&self, idle: Duration, now: Instant) -> bool {
        let last = self.last_reply.load(Ordering::Relaxed);
        last != 0 && stamp(now).saturating_sub(last) < idle.as_nanos() as u64
    }
}

impl Drop for Flow {
    fn drop(&mut self) {
        self.replies.abort();
        self.member.active.sub(1);
        self.shared.counters.active.sub(1);
    }
}

/// Relays the backend's datagrams to the client, batched.
async fn relay_answers(
    upstream: Arc<UdpSocket>,
    relay: Relay,
    member: Arc<Member>,
    shared: Arc<UdpShared>,
    last_reply: Arc<AtomicU64>,
) {
    let counters = &shared.counters;
    while upstream.readable().await.is_ok() {
        // Until WouldBlock, or the ICMP error of a backend gone away
        // (health checks deal with that).
        with_buffers(&relay.state, |b| {
            while let Ok(n) = b.recv.try_recv(&relay.state, &upstream) {
                last_reply.store(stamp(Instant::now()), Ordering::Relaxed);
                for i in 0..n {
                    let (_, _, datagrams) = b.recv.get(i);
                    for d in datagrams {
                        member.counters.packets_from.add(1);
                        member.counters.bytes_from.add(d.len() as u64);
                        if !b.run.fits(relay.client, d.len()) {
                            send_run(&mut b.run, &relay, counters);
                        }
                        b.run.push(relay.client, relay.src_ip, &[d]);
                    }
                }
                send_run(&mut b.run, &relay, counters);
            }
        });
    }
}

fn send_run(
    run: &mut super::batch::GsoRun,
    relay: &Relay,
    counters: &crate::metrics::ListenerCounters,
) {
    let f = run.flush(&relay.state, &relay.listener);
    if f.sent {
        counters.packets_out.add(f.segments);
        counters.bytes_out.add(f.bytes);
    } else {
        counters.drop(DropReason::SendFailed, f.segments);
    }
}
