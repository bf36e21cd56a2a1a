//! The UDP data path. Each worker thread serves its own socket of a
//! listener (SO_REUSEPORT: the kernel keeps a 5-tuple on one socket) with
//! its own flow table, so packets of known flows touch no lock: a batch is
//! received, each datagram is matched to its flow (new flows and SIP
//! Call-IDs ask the listener's [`Router`]), and datagrams are forwarded in
//! GSO runs. Port-range listeners have one socket per port, and a port's
//! owner is fixed by the [`Partition`].

mod batch;
mod flow;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use quinn_udp::UdpSocketState;
use tokio::net::UdpSocket;

use batch::{with_buffers, GsoRun};
use flow::{Flow, Relay};

use crate::lru::IdleLru;
use crate::metrics::{DropReason, ListenerCounters};
use crate::pool::Member;
use crate::port_range::Partition;
use crate::proxy_v2;
use crate::router::Router;

/// What a listener's workers read at each housekeeping tick.
pub struct UdpSettings {
    pub proxy_protocol: bool,
    /// SIP Call-ID affinity: every datagram is routed by its Call-ID.
    pub call_id_affinity: bool,
    pub idle: Duration,
    /// Flow-table bound per worker.
    pub max_flows: usize,
    /// For a port range: the blocks and their owners, in order.
    pub ports: Option<(Partition, Vec<Arc<Member>>)>,
}

/// State a UDP listener's workers share.
pub struct UdpShared {
    pub counters: ListenerCounters,
    pub router: Arc<Mutex<Router>>,
    settings: RwLock<Arc<UdpSettings>>,
    generation: AtomicU64,
}

impl UdpShared {
    pub fn new(router: Arc<Mutex<Router>>, settings: UdpSettings) -> UdpShared {
        UdpShared {
            counters: ListenerCounters::default(),
            router,
            settings: RwLock::new(Arc::new(settings)),
            generation: AtomicU64::new(0),
        }
    }

    /// New settings; workers pick them up within a second.
    pub fn set(&self, settings: UdpSettings) {
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(settings);
        self.generation.fetch_add(1, Ordering::Release);
    }

    fn current(&self) -> (u64, Arc<UdpSettings>) {
        let generation = self.generation.load(Ordering::Acquire);
        let s = self
            .settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        (generation, s)
    }

    fn router(&self) -> std::sync::MutexGuard<'_, Router> {
        self.router.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Flow-table key: client address and, under Call-ID affinity (where one
/// client may talk to several backends), the backend's id; else 0.
type FlowId = (SocketAddr, u64);

/// One worker's end of a listener.
pub struct Worker {
    shared: Arc<UdpShared>,
    socket: Arc<UdpSocket>,
    state: Arc<UdpSocketState>,
    local: SocketAddr,
    settings: Arc<UdpSettings>,
    generation: u64,
    flows: IdleLru<FlowId, Flow>,
    last_sweep: Instant,
}

impl Worker {
    /// Takes over a bound socket; must run on the worker's runtime.
    pub fn new(socket: std::net::UdpSocket, shared: Arc<UdpShared>) -> io::Result<Worker> {
        socket.set_nonblocking(true)?;
        let socket = UdpSocket::from_std(socket)?;
        let state = UdpSocketState::new((&socket).into())?;
        let local = socket.local_addr()?;
        let (generation, settings) = shared.current();
        Ok(Worker {
            flows: IdleLru::new(settings.max_flows, settings.idle),
            socket: Arc::new(socket),
            state: Arc::new(state),
            local,
            settings,
            generation,
            shared,
            last_sweep: Instant::now(),
        })
    }

    /// Serves until aborted.
    pub async fn run(mut self) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                ready = self.socket.readable() => {
                    if ready.is_err() {
                        return;
                    }
                    self.receive();
                }
                _ = tick.tick() => self.housekeeping(Instant::now()),
            }
        }
    }

    /// Forwards what is queued (a bounded number of batches, then yields).
    fn receive(&mut self) {
        let state = self.state.clone();
        with_buffers(&state, |b| {
            let mut out: Option<Arc<UdpSocket>> = None;
            for _ in 0..8 {
                let n = match b.recv.try_recv(&state, &self.socket) {
                    Ok(n) => n,
                    Err(_) => break,
                };
                let now = Instant::now();
                for i in 0..n {
                    let (src, dst_ip, datagrams) = b.recv.get(i);
                    for d in datagrams {
                        self.forward(src, dst_ip, d, now, &mut b.run, &mut out);
                    }
                }
            }
            if let Some(socket) = out {
                self.flush(&mut b.run, &socket);
            }
        });
        if self.last_sweep.elapsed() >= Duration::from_secs(1) {
            self.housekeeping(Instant::now());
        }
    }

    fn forward(
        &mut self,
        src: SocketAddr,
        dst_ip: Option<IpAddr>,
        datagram: &[u8],
        now: Instant,
        run: &mut GsoRun,
        out: &mut Option<Arc<UdpSocket>>,
    ) {
        let shared = self.shared.clone();
        shared.counters.packets_in.add(1);
        shared.counters.bytes_in.add(datagram.len() as u64);
        let (socket, target, member) = match self.flow(src, dst_ip, datagram, now) {
            Ok(f) => f,
            Err(reason) => return shared.counters.drop(reason, 1),
        };
        member.counters.packets_to.add(1);
        member.counters.bytes_to.add(datagram.len() as u64);
        let mut header = [0u8; proxy_v2::MAX_LEN];
        let header_len = if self.settings.proxy_protocol {
            let to = SocketAddr::new(dst_ip.unwrap_or(self.local.ip()), self.local.port());
            proxy_v2::write(&mut header, src, to, proxy_v2::Transport::Datagram)
        } else {
            0
        };
        let len = header_len + datagram.len();
        let same_socket = out.as_ref().is_some_and(|o| Arc::ptr_eq(o, &socket));
        if !same_socket || !run.fits(target, len) {
            if let Some(previous) = out.take() {
                self.flush(run, &previous);
            }
        }
        run.push(target, None, &[&header[..header_len], datagram]);
        *out = Some(socket);
    }

    fn flush(&self, run: &mut GsoRun, socket: &UdpSocket) {
        let f = run.flush(&self.state, socket);
        if !f.sent {
            self.shared
                .counters
                .drop(DropReason::SendFailed, f.segments);
        }
    }

    /// The flow a datagram belongs to, made when new.
    fn flow(
        &mut self,
        src: SocketAddr,
        dst_ip: Option<IpAddr>,
        datagram: &[u8],
        now: Instant,
    ) -> Result<(Arc<UdpSocket>, SocketAddr, Arc<Member>), DropReason> {
        let (id, member, target) = if self.settings.call_id_affinity {
            // Every datagram asks where its Call-ID lives.
            let member = self.assign(src, datagram, now)?;
            ((src, member.id), Some(member), None)
        } else {
            ((src, 0), None, None)
        };
        if let Some(flow) = self.flows.touch(&id, now) {
            if flow.member.is_up() {
                return Ok((flow.upstream.clone(), flow.target, flow.member.clone()));
            }
            self.flows.remove(&id); // its backend died: reschedule
        }
        let (member, target) = match (member, target) {
            (Some(m), t) => (m, t),
            (None, _) if self.settings.ports.is_some() => self.port_owner(src, now)?,
            (None, _) => (self.assign(src, datagram, now)?, None),
        };
        let target = target.unwrap_or(member.addr);
        let relay = Relay {
            listener: self.socket.clone(),
            state: self.state.clone(),
            client: src,
            src_ip: dst_ip.filter(|_| self.local.ip().is_unspecified()),
        };
        let flow = Flow::open(member.clone(), target, relay, self.shared.clone())
            .map_err(|_| DropReason::SendFailed)?;
        let upstream = flow.upstream.clone();
        if self.flows.insert(id, flow, now).is_some() {
            self.shared.counters.drop(DropReason::Evicted, 1);
        }
        Ok((upstream, target, member))
    }

    fn assign(
        &self,
        src: SocketAddr,
        datagram: &[u8],
        now: Instant,
    ) -> Result<Arc<Member>, DropReason> {
        let mut evicted = false;
        let mut router = self.shared.router();
        let key = router.key(src, datagram);
        let member = router.assign(key, src.ip(), now, &mut evicted);
        drop(router);
        if evicted {
            self.shared.counters.drop(DropReason::Evicted, 1);
        }
        member
    }

    /// The owner of this socket's port and the port on it.
    fn port_owner(
        &self,
        src: SocketAddr,
        now: Instant,
    ) -> Result<(Arc<Member>, Option<SocketAddr>), DropReason> {
        let (partition, owners) = self.settings.ports.as_ref().expect("a port range");
        let (i, offset) = partition
            .owner(self.local.port())
            .ok_or(DropReason::NoBackend)?;
        let member = owners
            .get(i)
            .filter(|m| m.is_up())
            .ok_or(DropReason::NoBackend)?;
        if !self.shared.router().admit(src.ip(), now) {
            return Err(DropReason::RateLimited);
        }
        let base = match member.addr.port() {
            0 => self.local.port() - offset,
            p => p,
        };
        let target = SocketAddr::new(member.addr.ip(), base.wrapping_add(offset));
        Ok((member.clone(), Some(target)))
    }

    /// Idle flows go (unless their backend spoke lately); new settings
    /// apply; idle affinity entries go.
    fn housekeeping(&mut self, now: Instant) {
        self.last_sweep = now;
        let (generation, settings) = self.shared.current();
        if generation != self.generation {
            self.generation = generation;
            if settings.idle != self.settings.idle || settings.max_flows != self.settings.max_flows
            {
                let mut fresh = IdleLru::new(settings.max_flows, settings.idle);
                self.flows
                    .expire(now + Duration::from_secs(86_400 * 365), |k, f| {
                        fresh.insert(k, f, now);
                    });
                self.flows = fresh;
            }
            self.settings = settings;
        }
        let idle = self.settings.idle;
        let mut answered = Vec::new();
        self.flows.expire(now, |k, f| {
            if f.answered_within(idle, now) {
                answered.push((k, f));
            }
        });
        for (k, f) in answered {
            self.flows.insert(k, f, now);
        }
        self.shared.router().expire(now);
    }
}
