//! A UDP socket that knows which of our addresses each datagram was sent
//! to (`IP_PKTINFO` / `IPV6_PKTINFO`, through quinn-udp) and answers from
//! that same address. A box bound to `0.0.0.0` with several addresses
//! then tells a room the address the room actually reached, and its
//! answers leave from it (a strict firewall or NAT drops answers from
//! another address).

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// One datagram (or a train of same-size datagrams the kernel coalesced,
/// `stride` bytes each) as received.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub from: SocketAddr,
    /// The address it was sent to: ours, with the socket's port.
    pub local: SocketAddr,
    pub len: usize,
    pub stride: usize,
}

pub struct LocalUdp {
    socket: UdpSocket,
    state: UdpSocketState,
    bound: SocketAddr,
}

impl LocalUdp {
    pub fn bind(addr: SocketAddr) -> io::Result<LocalUdp> {
        LocalUdp::from_std(StdUdpSocket::bind(addr)?)
    }

    /// Takes a bound socket (made non-blocking here).
    pub fn from_std(socket: StdUdpSocket) -> io::Result<LocalUdp> {
        socket.set_nonblocking(true)?;
        let socket = UdpSocket::from_std(socket)?;
        let state = UdpSocketState::new((&socket).into())?;
        let bound = socket.local_addr()?;
        Ok(LocalUdp {
            socket,
            state,
            bound,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.bound
    }

    /// Waits for the next datagram into `buf`.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        let mut meta = [RecvMeta::default()];
        loop {
            self.socket.readable().await?;
            let got = self.socket.try_io(Interest::READABLE, || {
                let mut slices = [IoSliceMut::new(buf)];
                self.state
                    .recv((&self.socket).into(), &mut slices, &mut meta)
            });
            match got {
                Ok(0) => continue,
                Ok(_) => {
                    let m = &meta[0];
                    return Ok(Received {
                        from: m.addr,
                        local: self.local_for_received(m.dst_ip),
                        len: m.len,
                        stride: m.stride.max(1),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn local_for_received(&self, dst_ip: Option<IpAddr>) -> SocketAddr {
        let ip = match dst_ip {
            Some(ip) if self.bound.ip().is_unspecified() => unmapped(ip),
            _ => self.bound.ip(),
        };
        SocketAddr::new(ip, self.bound.port())
    }

    /// Sends `data` to `to` from our address `from` (ignored when the
    /// socket is bound to one address, or `from` is unspecified). A full
    /// socket buffer drops, as for any UDP send.
    pub fn try_send(&self, data: &[u8], to: SocketAddr, from: IpAddr) -> io::Result<()> {
        let transmit = Transmit {
            destination: to,
            ecn: None,
            contents: data,
            segment_size: None,
            src_ip: (self.bound.ip().is_unspecified() && !from.is_unspecified()).then_some(from),
        };
        self.state.try_send((&self.socket).into(), &transmit)
    }

    /// Sends, waiting for room in the socket buffer.
    pub async fn send(&self, data: &[u8], to: SocketAddr, from: IpAddr) -> io::Result<()> {
        loop {
            self.socket.writable().await?;
            match self
                .socket
                .try_io(Interest::WRITABLE, || self.try_send(data, to, from))
            {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return r,
            }
        }
    }

    /// Our address a datagram to `remote` leaves from: the bound one, or
    /// the one the kernel's routing picks.
    pub fn local_towards(&self, remote: SocketAddr) -> SocketAddr {
        let ip = if self.bound.ip().is_unspecified() {
            route_source(remote).unwrap_or(self.bound.ip())
        } else {
            self.bound.ip()
        };
        SocketAddr::new(ip, self.bound.port())
    }
}

/// The source address the kernel's routing table picks towards `remote`
/// (a connected UDP socket's local address; nothing is sent).
pub fn route_source(remote: SocketAddr) -> Option<IpAddr> {
    let any: SocketAddr = match remote {
        SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let probe = StdUdpSocket::bind(any).ok()?;
    probe.connect(remote).ok()?;
    Some(probe.local_addr().ok()?.ip())
}

/// An IPv4-mapped IPv6 address as plain IPv4.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_come_from_the_address_the_request_was_sent_to() {
        let server = LocalUdp::bind("0.0.0.0:0".parse().unwrap()).unwrap();
        let port = server.local_addr().port();
        let client = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        for last in [1u8, 2, 3] {
            let ours = SocketAddr::from(([127, 0, 0, last], port));
            client.send_to(b"ping", ours).unwrap();
            let mut buf = [0u8; 64];
            let got = server.recv(&mut buf).await.unwrap();
            assert_eq!((got.local, &buf[..got.len]), (ours, &b"ping"[..]));
            server
                .send(b"pong", got.from, got.local.ip())
                .await
                .unwrap();
            let (n, from) = client.recv_from(&mut buf).unwrap();
            assert_eq!((from, &buf[..n]), (ours, &b"pong"[..]));
        }
        assert_eq!(
            route_source("127.0.0.1:9".parse().unwrap()),
            Some([127, 0, 0, 1].into())
        );
    }
}
