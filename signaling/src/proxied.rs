//! Clients behind MRA's load balancer. From the configured LB addresses
//! only, a PROXY v2 header in front of a UDP datagram or at the start of a
//! TCP connection names the real client; the core then sees that client
//! (Via received/rport, registrations, logs), while UDP answers and
//! requests to it still go through the LB flow socket it came from.
//! Anyone else's PROXY header is not believed.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lb::lru::IdleLru;
use lb::proxy_v2::{self, Parsed};
use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedReadHalf;
use tracing::warn;

/// How long a client is reachable through the LB socket it last used
/// (longer than any sane LB flow idle timeout; the LB forgets first).
const ROUTE_IDLE: Duration = Duration::from_secs(3600);
const MAX_ROUTES: usize = 200_000;
/// A trusted LB must send the header promptly on a new connection.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

pub struct ProxiedPeers {
    trusted: Vec<IpAddr>,
    routes: Mutex<IdleLru<SocketAddr, SocketAddr>>,
    /// Headers from trusted LBs that did not parse.
    pub malformed: AtomicU64,
}

impl ProxiedPeers {
    pub fn new(trusted: Vec<IpAddr>) -> ProxiedPeers {
        ProxiedPeers {
            trusted,
            routes: Mutex::new(IdleLru::new(MAX_ROUTES, ROUTE_IDLE)),
            malformed: AtomicU64::new(0),
        }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.contains(&ip)
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, IdleLru<SocketAddr, SocketAddr>> {
        self.routes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A datagram from `src`: the client it speaks for and its SIP bytes;
    /// None when a trusted LB's header is broken (dropped, counted).
    pub fn unwrap_datagram<'a>(
        &self,
        src: SocketAddr,
        data: &'a [u8],
    ) -> Option<(SocketAddr, &'a [u8])> {
        if !self.trusts(src.ip()) {
            return Some((src, data));
        }
        match proxy_v2::read(data) {
            Ok(Parsed::NotProxy) => Some((src, data)),
            Ok(Parsed::Header(h)) => {
                let client = h.source.unwrap_or(src);
                if client != src {
                    self.routes().insert(client, src, Instant::now());
                }
                Some((client, &data[h.len..]))
            }
            Ok(Parsed::Incomplete) | Err(_) => {
                self.count_malformed(src);
                None
            }
        }
    }

    /// Where a datagram for `remote` goes: the LB flow socket a proxied
    /// client last came through, else `remote` itself.
    pub fn route(&self, remote: SocketAddr) -> SocketAddr {
        if self.trusted.is_empty() {
            return remote;
        }
        self.routes()
            .touch(&remote, Instant::now())
            .map_or(remote, |via| *via)
    }

    /// The client of a new TCP connection from `remote`, and the bytes
    /// read past its PROXY header (a trusted LB's connection must start
    /// with one or with plain SIP).
    pub async fn stream_client(
        &self,
        rd: &mut OwnedReadHalf,
        remote: SocketAddr,
    ) -> Option<(SocketAddr, Vec<u8>)> {
        if !self.trusts(remote.ip()) {
            return Some((remote, Vec::new()));
        }
        let mut buf = Vec::with_capacity(256);
        let read = async {
            loop {
                match proxy_v2::read(&buf) {
                    Ok(Parsed::NotProxy) => return Some((remote, std::mem::take(&mut buf))),
                    Ok(Parsed::Header(h)) => {
                        return Some((h.source.unwrap_or(remote), buf.split_off(h.len)))
                    }
                    Ok(Parsed::Incomplete) if buf.len() < 1024 => {}
                    _ => return None,
                }
                if rd.read_buf(&mut buf).await.ok()? == 0 {
                    return None;
                }
            }
        };
        let client = tokio::time::timeout(HEADER_TIMEOUT, read)
            .await
            .ok()
            .flatten();
        if client.is_none() {
            self.count_malformed(remote);
        }
        client
    }

    fn count_malformed(&self, from: SocketAddr) {
        if self.malformed.fetch_add(1, Ordering::Relaxed) == 0 {
            warn!(%from, "broken PROXY v2 header from a trusted load balancer (logged once; counted)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_trusted_lbs_name_the_client_and_answers_go_back_through_them() {
        let lb: SocketAddr = "10.0.0.9:41000".parse().unwrap();
        let client: SocketAddr = "192.0.2.5:5060".parse().unwrap();
        let peers = ProxiedPeers::new(vec![lb.ip()]);
        let mut wire = [0u8; proxy_v2::MAX_LEN + 7];
        let n = proxy_v2::write(&mut wire, client, lb, proxy_v2::Transport::Datagram);
        wire[n..n + 7].copy_from_slice(b"OPTIONS");
        let (who, sip) = peers.unwrap_datagram(lb, &wire[..n + 7]).unwrap();
        assert_eq!((who, sip), (client, &b"OPTIONS"[..]));
        assert_eq!(peers.route(client), lb);
        // The same header from anyone else is just bytes.
        let stranger: SocketAddr = "198.51.100.1:5060".parse().unwrap();
        let (who, sip) = peers.unwrap_datagram(stranger, &wire[..n + 7]).unwrap();
        assert_eq!((who, sip.len()), (stranger, n + 7));
        // Broken header from the LB: dropped and counted.
        assert!(peers.unwrap_datagram(lb, &wire[..n - 1]).is_none());
        assert_eq!(peers.malformed.load(Ordering::Relaxed), 1);
    }
}
