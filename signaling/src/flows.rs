//! The SIP flows the driver has open: the UDP socket and the TCP
//! connections by number, each with our address on it. Finds the flow to
//! reach a room we send to first (a keepalive, a call-out): its TCP
//! connection while open, else UDP from the address routing picks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::local_udp::LocalUdp;
use crate::sip::{Flow, Transport};

/// One open TCP connection.
struct TcpConn {
    remote: SocketAddr,
    local: SocketAddr,
    writer: mpsc::UnboundedSender<Bytes>,
}

#[derive(Clone)]
pub struct Flows {
    udp: Arc<LocalUdp>,
    tcp: Arc<Mutex<HashMap<u64, TcpConn>>>,
}

impl Flows {
    pub fn new(udp: Arc<LocalUdp>) -> Flows {
        Flows {
            udp,
            tcp: Arc::default(),
        }
    }

    pub fn udp(&self) -> &LocalUdp {
        &self.udp
    }

    fn tcp(&self) -> std::sync::MutexGuard<'_, HashMap<u64, TcpConn>> {
        self.tcp.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers TCP connection `id`; what is sent on it goes to `writer`.
    pub fn add_tcp(
        &self,
        id: u64,
        remote: SocketAddr,
        local: SocketAddr,
        writer: mpsc::UnboundedSender<Bytes>,
    ) {
        self.tcp().insert(
            id,
            TcpConn {
                remote,
                local,
                writer,
            },
        );
    }

    pub fn remove_tcp(&self, id: u64) {
        self.tcp().remove(&id);
    }

    /// Queues `data` on TCP connection `id`; false when it is gone.
    pub fn send_tcp(&self, id: u64, data: Bytes) -> bool {
        self.tcp()
            .get(&id)
            .is_some_and(|c| c.writer.send(data).is_ok())
    }

    /// The flow to `remote` over `transport`; None for TCP when no
    /// connection from it is open.
    pub fn to(&self, transport: Transport, remote: SocketAddr) -> Option<Flow> {
        match transport {
            Transport::Udp => Some(Flow {
                transport,
                remote,
                local: self.udp.local_towards(remote),
                conn: 0,
            }),
            Transport::Tcp => {
                self.tcp()
                    .iter()
                    .find(|(_, c)| c.remote == remote)
                    .map(|(&conn, c)| Flow {
                        transport,
                        remote,
                        local: c.local,
                        conn,
                    })
            }
        }
    }
}
