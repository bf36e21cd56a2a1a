//! The RAS sockets: datagrams in, the gatekeeper's answers out, until
//! stop; and the socket that hears gatekeeper discovery sent to the RAS
//! multicast group.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::warn;

use super::ras::Gatekeeper;

/// The group endpoints send gatekeeper discovery to (H.225.0 Annex B).
pub const DISCOVERY_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 1, 41);

/// A socket on `port` (1718) in the discovery group, joined on the
/// interface of `interface` (every interface when unspecified or IPv6).
pub fn bind_discovery(interface: IpAddr, port: u16) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    let on = match interface {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    };
    socket.join_multicast_v4(&DISCOVERY_GROUP, &on)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

/// Serves `socket` (UDP 1719, or the discovery socket) until `stop` turns
/// true.
pub async fn serve(
    socket: UdpSocket,
    gatekeeper: Arc<Gatekeeper>,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
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
        let now = registrar::unix_now();
        if let Some((reply, to)) = gatekeeper.handle(&buf[..n], from, now).await {
            if let Err(e) = socket.send_to(&reply, to).await {
                warn!(%to, "RAS answer not sent: {e}");
            }
        }
    }
}
