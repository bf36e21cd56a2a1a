//! A listener that is up: its configuration, its data path's shared state
//! (UDP or TCP), its router, the addresses it bound and its tasks, which
//! stop when it is dropped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::task::AbortHandle;

use crate::config::ListenerConfig;
use crate::router::Router;
use crate::tcp::TcpShared;
use crate::udp::UdpShared;

/// A listener's data path state.
pub(crate) enum Shared {
    Udp(Arc<UdpShared>),
    Tcp(Arc<TcpShared>),
}

/// A running listener.
pub(crate) struct Running {
    pub config: ListenerConfig,
    pub shared: Shared,
    pub router: Arc<Mutex<Router>>,
    pub local: Vec<SocketAddr>,
    pub tasks: Vec<AbortHandle>,
    pub health: Option<AbortHandle>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.tasks
            .iter()
            .chain(&self.health)
            .for_each(AbortHandle::abort);
    }
}
