//! The SIP flows the driver has open: the UDP socket and the TCP and TLS
//! connections by number, each with our address on it. Finds the flow to
//! reach a room we send to first (a keepalive, a call-out): its TCP or
//! TLS connection while open, else UDP from the address routing picks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::local_udp::LocalUdp;
use crate::sip::{Flow, Transport};

/// One open TCP or TLS connection.
struct StreamConn {
    transport: Transport,
    remote: SocketAddr,
    local: SocketAddr,
    writer: mpsc::UnboundedSender<Bytes>,
}

#[derive(Clone)]
pub struct Flows {
    udp: Arc<LocalUdp>,
    streams: Arc<Mutex<HashMap<u64, StreamConn>>>,
}

impl Flows {
    pub fn new(udp: Arc<LocalUdp>) -> Flows {
        Flows {
            udp,
            streams: Arc::default(),
        }
    }

    pub fn udp(&self) -> &LocalUdp {
        &self.udp
    }

    fn streams(&self) -> std::sync::MutexGuard<'_, HashMap<u64, StreamConn>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers the connection of `flow`; what is sent on it goes to
    /// `writer`.
    pub fn add_stream(&self, flow: Flow, writer: mpsc::UnboundedSender<Bytes>) {
        self.streams().insert(
            flow.conn,
            StreamConn {
                transport: flow.transport,
                remote: flow.remote,
                local: flow.local,
                writer,
            },
        );
    }

    pub fn remove_stream(&self, id: u64) {
        self.streams().remove(&id);
    }

    /// Queues `data` on connection `id`; false when it is gone.
    pub fn send_stream(&self, id: u64, data: Bytes) -> bool {
        self.streams()
            .get(&id)
            .is_some_and(|c| c.writer.send(data).is_ok())
    }

    /// The flow to `remote` over `transport`; None for TCP or TLS when no
    /// such connection from it is open.
    pub fn to(&self, transport: Transport, remote: SocketAddr) -> Option<Flow> {
        if transport == Transport::Udp {
            return Some(Flow {
                transport,
                remote,
                local: self.udp.local_towards(remote),
                conn: 0,
            });
        }
        self.streams()
            .iter()
            .find(|(_, c)| c.remote == remote && c.transport == transport)
            .map(|(&conn, c)| Flow {
                transport,
                remote,
                local: c.local,
                conn,
            })
    }
}
