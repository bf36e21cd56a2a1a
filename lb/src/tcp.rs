//! The TCP data path: each worker thread accepts on its own SO_REUSEPORT
//! socket; a connection is admitted (per-source rate, half-open cap),
//! given a backend by the listener's [`Router`], connected (bounded by a
//! timeout), announced with a PROXY v2 header when configured, then
//! spliced both ways until either side closes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

use crate::metrics::{DropReason, ListenerCounters};
use crate::proxy_v2;
use crate::router::Router;

pub struct TcpSettings {
    pub proxy_protocol: bool,
    pub max_half_open: usize,
    pub connect_timeout: Duration,
}

/// State a TCP listener's workers share.
pub struct TcpShared {
    pub counters: ListenerCounters,
    pub router: Arc<Mutex<Router>>,
    settings: RwLock<Arc<TcpSettings>>,
    /// Connections accepted whose backend connection is not up yet.
    half_open: AtomicUsize,
}

impl TcpShared {
    pub fn new(router: Arc<Mutex<Router>>, settings: TcpSettings) -> TcpShared {
        TcpShared {
            counters: ListenerCounters::default(),
            router,
            settings: RwLock::new(Arc::new(settings)),
            half_open: AtomicUsize::new(0),
        }
    }

    pub fn set(&self, settings: TcpSettings) {
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(settings);
    }

    fn settings(&self) -> Arc<TcpSettings> {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Accepts on `listener` until aborted; must run on the worker's runtime.
pub async fn serve(listener: std::net::TcpListener, shared: Arc<TcpShared>) {
    let Ok(listener) = listener
        .set_nonblocking(true)
        .and_then(|()| TcpListener::from_std(listener))
    else {
        return;
    };
    loop {
        match listener.accept().await {
            Ok((client, peer)) => {
                tokio::spawn(splice(client, peer, shared.clone()));
            }
            // Out of descriptors or the like: pause instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn splice(mut client: TcpStream, peer: SocketAddr, shared: Arc<TcpShared>) {
    let counters = &shared.counters;
    let settings = shared.settings();
    if shared.half_open.fetch_add(1, Ordering::AcqRel) >= settings.max_half_open {
        shared.half_open.fetch_sub(1, Ordering::AcqRel);
        return counters.drop(DropReason::HalfOpen, 1);
    }
    let connected = connect(&shared, &settings, peer).await;
    shared.half_open.fetch_sub(1, Ordering::AcqRel);
    let (mut upstream, member) = match connected {
        Ok(c) => c,
        Err(reason) => return counters.drop(reason, 1),
    };
    member.active.add(1);
    member.counters.flows.add(1);
    counters.flows.add(1);
    counters.active.add(1);
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let mut header = [0u8; proxy_v2::MAX_LEN];
    let header_ok = match (settings.proxy_protocol, client.local_addr()) {
        (true, Ok(local)) => {
            let n = proxy_v2::write(&mut header, peer, local, proxy_v2::Transport::Stream);
            upstream.write_all(&header[..n]).await.is_ok()
        }
        (true, Err(_)) => false,
        (false, _) => true,
    };
    if header_ok {
        let (up, down) = tokio::io::copy_bidirectional(&mut client, &mut upstream)
            .await
            .unwrap_or((0, 0));
        counters.bytes_in.add(up);
        counters.bytes_out.add(down);
        member.counters.bytes_to.add(up);
        member.counters.bytes_from.add(down);
    }
    member.active.sub(1);
    counters.active.sub(1);
}

/// Picks a backend and connects to it.
async fn connect(
    shared: &TcpShared,
    settings: &TcpSettings,
    peer: SocketAddr,
) -> Result<(TcpStream, Arc<crate::pool::Member>), DropReason> {
    let member = {
        let mut evicted = false;
        let mut router = shared.router.lock().unwrap_or_else(|e| e.into_inner());
        let key = router.key(peer, &[]);
        let m = router.assign(key, peer.ip(), Instant::now(), &mut evicted);
        if evicted {
            shared.counters.drop(DropReason::Evicted, 1);
        }
        m?
    };
    match tokio::time::timeout(settings.connect_timeout, TcpStream::connect(member.addr)).await {
        Ok(Ok(stream)) => Ok((stream, member)),
        outcome => {
            debug!(backend = %member.addr, ?outcome, "backend connect failed");
            Err(DropReason::ConnectFailed)
        }
    }
}
