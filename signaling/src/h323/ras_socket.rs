//! The RAS sockets: datagrams in, the gatekeeper's answers out (from the
//! address each request was sent to), until stop; and the socket that
//! hears gatekeeper discovery sent to the RAS multicast group.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::sync::watch;
use tracing::warn;

use super::ras::Gatekeeper;
use crate::local_udp::{route_source, LocalUdp};

/// The group endpoints send gatekeeper discovery to (H.225.0 Annex B).
pub const DISCOVERY_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 1, 41);

/// A socket on `port` (1718) in the discovery group, joined on the
/// interface of `interface` (every interface when unspecified or IPv6).
pub fn bind_discovery(interface: IpAddr, port: u16) -> std::io::Result<LocalUdp> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    let on = match interface {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    };
    socket.join_multicast_v4(&DISCOVERY_GROUP, &on)?;
    LocalUdp::from_std(socket.into())
}

/// Serves `socket` (UDP 1719, or the discovery socket) until `stop` turns
/// true.
pub async fn serve(socket: LocalUdp, gatekeeper: Arc<Gatekeeper>, mut stop: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 65536];
    loop {
        let got = tokio::select! {
            r = socket.recv(&mut buf) => match r {
                Ok(x) => x,
                // ICMP errors of earlier sends surface here; go on.
                Err(_) => continue,
            },
            _ = stop.changed() => {
                if *stop.borrow() {
                    return;
                }
                continue;
            }
        };
        // Discovery sent to the group is answered from our address
        // towards the endpoint.
        let local = match got.local.ip() {
            ip if ip.is_multicast() => route_source(got.from).unwrap_or(ip),
            ip => ip,
        };
        let now = registrar::unix_now();
        for datagram in buf[..got.len].chunks(got.stride) {
            if let Some((reply, to)) = gatekeeper.handle(datagram, got.from, local, now).await {
                if let Err(e) = socket.send(&reply, to, local).await {
                    warn!(%to, "RAS answer not sent: {e}");
                }
            }
        }
    }
}
