//! Runs one pool's health checks on tokio: asks the [`Monitor`] what is
//! due, sends the probes concurrently (each bounded by the timeout), feeds
//! the results back and applies transitions to the pool.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinSet;
use tokio::time::{sleep_until, timeout, Instant};
use tracing::{info, warn};

use super::probe::{http_alive, http_request, sip_final_status, sip_options};
use super::{CheckKind, HealthConfig, Monitor, Transition};
use crate::config::Protocol;
use crate::router::Router;

/// Checks `router`'s pool forever (until the task is aborted).
pub async fn run(
    listener: String,
    config: HealthConfig,
    protocol: Protocol,
    router: Arc<Mutex<Router>>,
) {
    let config = Arc::new(config);
    let mut monitor = Monitor::new(&config);
    let mut probes = JoinSet::new();
    let mut seq = 0u64;
    loop {
        let now = Instant::now();
        let mut addrs: Vec<SocketAddr> = lock(&router)
            .pool
            .members()
            .iter()
            .map(|m| m.addr)
            .collect();
        addrs.dedup();
        monitor.set_targets(&addrs, now.into_std());
        for addr in monitor.due(now.into_std()) {
            seq += 1;
            let config = config.clone();
            probes.spawn(async move {
                let target = SocketAddr::new(addr.ip(), config.port.unwrap_or(addr.port()));
                let alive = matches!(
                    timeout(config.timeout(), probe(&config, protocol, target, seq)).await,
                    Ok(Ok(true))
                );
                (addr, alive)
            });
        }
        let next = monitor
            .next_due()
            .map_or(now + Duration::from_secs(3600), Instant::from_std);
        tokio::select! {
            Some(Ok((addr, alive))) = probes.join_next() => {
                let transition = monitor.record(addr, alive);
                let mut router = lock(&router);
                if !alive {
                    if let Some(m) = router.pool.find(addr) {
                        m.counters.checks_failed.add(1);
                    }
                }
                match transition {
                    Some(Transition::Down(a)) => {
                        router.pool.set_up(a, false);
                        warn!(listener, backend = %a, "backend down: health check failed {} times", config.fall);
                    }
                    Some(Transition::Up(a)) => {
                        router.pool.set_up(a, true);
                        info!(listener, backend = %a, "backend up again");
                    }
                    None => {}
                }
            }
            _ = sleep_until(next) => {}
        }
    }
}

fn lock(router: &Mutex<Router>) -> std::sync::MutexGuard<'_, Router> {
    router.lock().unwrap_or_else(|e| e.into_inner())
}

async fn probe(
    config: &HealthConfig,
    protocol: Protocol,
    target: SocketAddr,
    seq: u64,
) -> io::Result<bool> {
    match config.kind {
        CheckKind::Tcp => TcpStream::connect(target).await.map(|_| true),
        CheckKind::SipOptions => match config.transport.unwrap_or(protocol) {
            Protocol::Udp => sip_over_udp(target, seq).await,
            Protocol::Tcp => {
                let mut stream = TcpStream::connect(target).await?;
                let request = sip_options(target, stream.local_addr()?, "TCP", seq);
                stream.write_all(request.as_bytes()).await?;
                read_until(&mut stream, |bytes| sip_final_status(bytes).map(|_| true)).await
            }
        },
        CheckKind::Http => {
            let mut stream = TcpStream::connect(target).await?;
            let host = config.host.clone().unwrap_or_else(|| target.to_string());
            let request = http_request(&config.method, &host, &config.path);
            stream.write_all(request.as_bytes()).await?;
            read_until(&mut stream, |bytes| http_alive(bytes, config.expect_status)).await
        }
    }
}

/// Sends OPTIONS over UDP and waits for a final response (a refused port
/// fails at once through the ICMP error on the connected socket).
async fn sip_over_udp(target: SocketAddr, seq: u64) -> io::Result<bool> {
    let any: SocketAddr = if target.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(any).await?;
    socket.connect(target).await?;
    let request = sip_options(target, socket.local_addr()?, "UDP", seq);
    socket.send(request.as_bytes()).await?;
    let mut buf = [0u8; 2048];
    loop {
        let n = socket.recv(&mut buf).await?;
        if sip_final_status(&buf[..n]).is_some() {
            return Ok(true);
        }
    }
}

/// Reads until `judge` has a verdict on what arrived so far.
async fn read_until(
    stream: &mut TcpStream,
    judge: impl Fn(&[u8]) -> Option<bool>,
) -> io::Result<bool> {
    let mut buf = Vec::with_capacity(512);
    loop {
        if let Some(verdict) = judge(&buf) {
            return Ok(verdict);
        }
        if buf.len() > 8192 || stream.read_buf(&mut buf).await? == 0 {
            return Ok(false);
        }
    }
}
