//! The running load balancer: worker threads (one per core, each a
//! single-threaded tokio runtime), the listeners on them with their health
//! checks, and what the admin API does to them — reload without dropping
//! flows, drain, status, metrics.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::{Domain, Protocol as SockProtocol, SockAddr, Socket, Type};
use tokio::runtime::Handle;
use tokio::task::AbortHandle;
use tracing::info;

use crate::config::{LbConfig, ListenerConfig, Protocol};
use crate::health;
use crate::pool::{Member, Pool};
use crate::port_range::Partition;
use crate::router::Router;
use crate::running::{Running, Shared};
use crate::scheduler::by_name;
use crate::status::{self, ListenerStatus};
use crate::tcp::{self, TcpSettings, TcpShared};
use crate::udp::{self, UdpSettings, UdpShared};

/// Why an admin request failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no listener {0:?}")]
    NoListener(String),
    #[error("listener {0:?} has no backend {1}")]
    NoBackend(String, SocketAddr),
    #[error("{0}")]
    Invalid(String),
    #[error("binding {0}: {1}")]
    Bind(String, io::Error),
}

/// The load balancer; dropping it stops everything.
pub struct Balancer {
    workers: Vec<Handle>,
    stop: Vec<tokio::sync::oneshot::Sender<()>>,
    listeners: Mutex<Vec<Running>>,
}

impl Balancer {
    /// Starts worker threads and every configured listener; call within
    /// a tokio runtime (health checks run on it).
    pub fn start(config: &LbConfig) -> Result<Balancer, AdminError> {
        config.validate().map_err(AdminError::Invalid)?;
        let n = config
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let (mut workers, mut stop) = (Vec::new(), Vec::new());
        for i in 0..n {
            let (handle_tx, handle_rx) = std::sync::mpsc::channel();
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            std::thread::Builder::new()
                .name(format!("lb-worker-{i}"))
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("worker runtime");
                    let _ = handle_tx.send(rt.handle().clone());
                    rt.block_on(async {
                        let _ = stop_rx.await;
                    });
                })
                .map_err(|e| AdminError::Bind("worker thread".into(), e))?;
            workers.push(handle_rx.recv().expect("worker started"));
            stop.push(stop_tx);
        }
        let lb = Balancer {
            workers,
            stop,
            listeners: Mutex::new(Vec::new()),
        };
        lb.reload(config)?;
        Ok(lb)
    }

    fn listeners(&self) -> std::sync::MutexGuard<'_, Vec<Running>> {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies a configuration: listeners whose name, protocol and bind
    /// are unchanged keep their sockets and flows and take the new pool
    /// and settings; others start; those no longer configured stop.
    pub fn reload(&self, config: &LbConfig) -> Result<(), AdminError> {
        config.validate().map_err(AdminError::Invalid)?;
        let mut listeners = self.listeners();
        let mut next = Vec::with_capacity(config.listener.len());
        for lc in &config.listener {
            let same = |r: &Running| {
                r.config.name == lc.name
                    && r.config.protocol == lc.protocol
                    && r.config.bind == lc.bind
            };
            match listeners.iter().position(same) {
                Some(i) => {
                    let mut running = listeners.swap_remove(i);
                    self.update(&mut running, lc);
                    next.push(running);
                }
                None => next.push(self.open(lc)?),
            }
        }
        for gone in listeners.drain(..) {
            info!(listener = gone.config.name, "listener stopped");
        }
        *listeners = next;
        Ok(())
    }

    fn open(&self, lc: &ListenerConfig) -> Result<Running, AdminError> {
        let bind = lc.bind();
        let router = Arc::new(Mutex::new(Router::new(
            lc.router(),
            Pool::new(by_name(&lc.scheduler).expect("validated"), &lc.backends()),
        )));
        let bind_err = |e| AdminError::Bind(lc.bind.clone(), e);
        let mut tasks = Vec::new();
        let mut local = Vec::new();
        let shared = match lc.protocol {
            Protocol::Udp => {
                let shared = Arc::new(UdpShared::new(
                    router.clone(),
                    self.udp_settings(lc, &router),
                ));
                let sockets = if bind.is_range() {
                    (bind.first..=bind.last)
                        .map(|port| udp_socket(SocketAddr::new(bind.ip, port), false))
                        .collect::<io::Result<Vec<_>>>()
                } else {
                    reuseport_set(bind.addr(), self.workers.len(), |a| udp_socket(a, true))
                }
                .map_err(bind_err)?;
                for (i, socket) in sockets.into_iter().enumerate() {
                    local.push(socket.local_addr().map_err(bind_err)?);
                    let shared = shared.clone();
                    let task = self.workers[i % self.workers.len()].spawn(async move {
                        if let Ok(worker) = udp::Worker::new(socket, shared) {
                            worker.run().await;
                        }
                    });
                    tasks.push(task.abort_handle());
                }
                Shared::Udp(shared)
            }
            Protocol::Tcp => {
                let shared = Arc::new(TcpShared::new(router.clone(), tcp_settings(lc)));
                let sockets =
                    reuseport_set(bind.addr(), self.workers.len(), tcp_socket).map_err(bind_err)?;
                for (socket, worker) in sockets.into_iter().zip(&self.workers) {
                    local.push(socket.local_addr().map_err(bind_err)?);
                    tasks.push(
                        worker
                            .spawn(tcp::serve(socket, shared.clone()))
                            .abort_handle(),
                    );
                }
                Shared::Tcp(shared)
            }
        };
        info!(listener = lc.name, addr = %local[0], ports = local.len(), "listener started");
        Ok(Running {
            health: spawn_health(lc, &router),
            config: lc.clone(),
            shared,
            router,
            local,
            tasks,
        })
    }

    fn update(&self, running: &mut Running, lc: &ListenerConfig) {
        {
            let mut router = running.router.lock().unwrap_or_else(|e| e.into_inner());
            if lc.scheduler != running.config.scheduler {
                let backends = lc.backends();
                router.pool = Pool::new(by_name(&lc.scheduler).expect("validated"), &backends);
            } else {
                router.pool.reconfigure(&lc.backends());
            }
            router.reconfigure(lc.router());
        }
        match &running.shared {
            Shared::Udp(s) => s.set(self.udp_settings(lc, &running.router)),
            Shared::Tcp(s) => s.set(tcp_settings(lc)),
        }
        if lc.health != running.config.health {
            if let Some(h) = running.health.take() {
                h.abort();
            }
            running.health = spawn_health(lc, &running.router);
        }
        running.config = lc.clone();
        info!(listener = lc.name, "listener reconfigured");
    }

    fn udp_settings(&self, lc: &ListenerConfig, router: &Mutex<Router>) -> UdpSettings {
        let bind = lc.bind();
        let ports = bind.is_range().then(|| {
            let router = router.lock().unwrap_or_else(|e| e.into_inner());
            let owners: Vec<Arc<Member>> = lc
                .backends()
                .iter()
                .filter_map(|&(addr, _)| router.pool.find(addr))
                .collect();
            (Partition::new(bind.first, bind.last, owners.len()), owners)
        });
        let workers = if bind.is_range() {
            1
        } else {
            self.workers.len()
        };
        UdpSettings {
            proxy_protocol: lc.proxy_protocol,
            call_id_affinity: lc.affinity == crate::router::Affinity::SipCallId,
            idle: Duration::from_secs(lc.idle_timeout_secs.max(1)),
            max_flows: (lc.max_flows / workers).max(1),
            ports,
        }
    }

    /// Starts (`true`) or stops draining a backend.
    pub fn drain(&self, listener: &str, backend: SocketAddr, on: bool) -> Result<(), AdminError> {
        let listeners = self.listeners();
        let running = listeners
            .iter()
            .find(|r| r.config.name == listener)
            .ok_or_else(|| AdminError::NoListener(listener.into()))?;
        let mut router = running.router.lock().unwrap_or_else(|e| e.into_inner());
        if !router.pool.set_draining(backend, on) {
            return Err(AdminError::NoBackend(listener.into(), backend));
        }
        info!(listener, %backend, draining = on, "backend drain changed");
        Ok(())
    }

    /// Every listener's state and figures.
    pub fn status(&self) -> Vec<ListenerStatus> {
        self.listeners().iter().map(status::listener).collect()
    }

    /// Prometheus text.
    pub fn metrics(&self) -> String {
        status::metrics(&self.status())
    }

    /// Where a listener is bound (its first socket), for tests and logs.
    pub fn local_addr(&self, listener: &str) -> Option<SocketAddr> {
        self.listeners()
            .iter()
            .find(|r| r.config.name == listener)
            .map(|r| r.local[0])
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.listeners().clear();
        for s in self.stop.drain(..) {
            let _ = s.send(());
        }
    }
}

fn tcp_settings(lc: &ListenerConfig) -> TcpSettings {
    TcpSettings {
        proxy_protocol: lc.proxy_protocol,
        max_half_open: lc.max_half_open,
        connect_timeout: Duration::from_millis(lc.connect_timeout_ms),
    }
}

fn spawn_health(lc: &ListenerConfig, router: &Arc<Mutex<Router>>) -> Option<AbortHandle> {
    let h = lc.health.clone()?;
    Some(
        tokio::spawn(health::driver::run(
            lc.name.clone(),
            h,
            lc.protocol,
            router.clone(),
        ))
        .abort_handle(),
    )
}

/// `n` sockets sharing one address by SO_REUSEPORT (port 0: the first
/// socket's port).
fn reuseport_set<S>(
    addr: SocketAddr,
    n: usize,
    open: impl Fn(SocketAddr) -> io::Result<S>,
) -> io::Result<Vec<S>>
where
    S: LocalAddr,
{
    let first = open(addr)?;
    let addr = first.local()?;
    let mut set = vec![first];
    for _ in 1..n {
        set.push(open(addr)?);
    }
    Ok(set)
}

trait LocalAddr {
    fn local(&self) -> io::Result<SocketAddr>;
}

impl LocalAddr for std::net::UdpSocket {
    fn local(&self) -> io::Result<SocketAddr> {
        self.local_addr()
    }
}

impl LocalAddr for std::net::TcpListener {
    fn local(&self) -> io::Result<SocketAddr> {
        self.local_addr()
    }
}

fn socket(addr: SocketAddr, ty: Type, proto: SockProtocol, reuse_port: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false).ok();
    }
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&SockAddr::from(addr))?;
    Ok(socket)
}

fn udp_socket(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::UdpSocket> {
    let s = socket(addr, Type::DGRAM, SockProtocol::UDP, reuse_port)?;
    // Room for bursts while a worker is busy.
    s.set_recv_buffer_size(4 << 20).ok();
    s.set_send_buffer_size(4 << 20).ok();
    Ok(s.into())
}

fn tcp_socket(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let s = socket(addr, Type::STREAM, SockProtocol::TCP, true)?;
    s.listen(1024)?;
    Ok(s.into())
}
