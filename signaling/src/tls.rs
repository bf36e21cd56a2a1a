//! SIP over TLS (RFC 3261 26.2, port 5061): the listener's rustls
//! configuration (TLS 1.2 and 1.3 only, the node's certificate, optionally
//! rooms' client certificates checked against a CA), reloaded from its
//! files on request; and what a public TLS port must bear: connections
//! limited per source and in total, and a handshake that has to finish in
//! time. Each refusal is counted, and logged once.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use crate::sip::Transport;
use crate::sip_stream::{self, Connection, Intake};

/// Settings of the TLS listener.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub addr: SocketAddr,
    /// PEM certificate chain and key.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Rooms must show a certificate issued by a CA in this PEM bundle.
    pub client_ca: Option<PathBuf>,
    /// Time a client has from connecting to a finished handshake.
    pub handshake_timeout: Duration,
    /// Open TLS connections, at most, in total and from one address.
    pub max_connections: usize,
    pub max_per_source: usize,
}

/// What the TLS listener has seen, for `/metrics`.
#[derive(Debug, Default)]
pub struct TlsStats {
    pub handshakes: AtomicU64,
    pub handshake_failures: AtomicU64,
    pub handshake_timeouts: AtomicU64,
    /// Connections closed at once: over the total or per-source limit.
    pub refused_over_limit: AtomicU64,
    /// Connections open now.
    pub open: AtomicU64,
}

/// The listener's configuration, replaceable while it runs.
pub struct SipTls {
    settings: TlsSettings,
    config: RwLock<Arc<ServerConfig>>,
    pub stats: TlsStats,
    per_source: Mutex<HashMap<IpAddr, usize>>,
}

impl SipTls {
    /// Reads the certificate, key and client CA.
    pub fn new(settings: TlsSettings) -> std::io::Result<SipTls> {
        let config = build(&settings)?;
        Ok(SipTls {
            settings,
            config: RwLock::new(config),
            stats: TlsStats::default(),
            per_source: Mutex::default(),
        })
    }

    /// Reads the files again; new handshakes use them, open connections
    /// go on. On an error the running configuration stays.
    pub fn reload(&self) -> std::io::Result<()> {
        let config = build(&self.settings)?;
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = config;
        info!(cert = %self.settings.cert.display(), "SIP TLS certificate reloaded");
        Ok(())
    }

    fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(
            self.config
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }

    /// A slot for a new connection from `ip`, or None over a limit.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut per_source = self.per_source.lock().unwrap_or_else(|e| e.into_inner());
        let total: usize = per_source.values().sum();
        let from_ip = per_source.entry(ip).or_default();
        if total >= self.settings.max_connections || *from_ip >= self.settings.max_per_source {
            if *from_ip == 0 {
                per_source.remove(&ip);
            }
            if self
                .stats
                .refused_over_limit
                .fetch_add(1, Ordering::Relaxed)
                == 0
            {
                warn!(source = %ip, total, "SIP TLS connection refused: over the connection limit (logged once; counted)");
            }
            return None;
        }
        *from_ip += 1;
        self.stats.open.fetch_add(1, Ordering::Relaxed);
        Some(Slot {
            tls: self.clone(),
            ip,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.settings.addr
    }
}

/// A connection's place under the limits, given back when it closes.
struct Slot {
    tls: Arc<SipTls>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per_source = self
            .tls
            .per_source
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = per_source.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_source.remove(&self.ip);
            }
        }
        self.tls.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

fn build(s: &TlsSettings) -> std::io::Result<Arc<ServerConfig>> {
    let (chain, key) = meeting::tls::load(&s.cert, &s.key)?;
    let provider = meeting::tls::provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?;
    let builder = match &s.client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in meeting::tls::certificates(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| std::io::Error::other(format!("{}: {e}", ca.display())))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(std::io::Error::other)?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(std::io::Error::other)?;
    Ok(Arc::new(config))
}

/// Accepts TLS connections on `listener` for as long as it runs.
pub async fn accept(listener: TcpListener, tls: Arc<SipTls>, intake: Intake) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let (tls, intake) = (tls.clone(), intake.clone());
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            serve(stream, peer, tls, intake).await;
        });
    }
}

/// One TLS connection: the PROXY header of a trusted load balancer, the
/// limits for the client it names, the handshake in time, then SIP.
async fn serve(stream: TcpStream, peer: SocketAddr, tls: Arc<SipTls>, intake: Intake) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let (mut rd, wr) = stream.into_split();
    let Some((remote, early)) = intake.proxied.stream_client(&mut rd, peer).await else {
        return;
    };
    let Some(_slot) = tls.admit(remote.ip()) else {
        return;
    };
    // What was read past a PROXY header starts the ClientHello.
    let io = tokio::io::join(std::io::Cursor::new(early).chain(rd), wr);
    let handshake = tokio::time::timeout(tls.settings.handshake_timeout, tls.acceptor().accept(io));
    let stream = match handshake.await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            if tls.stats.handshake_failures.fetch_add(1, Ordering::Relaxed) == 0 {
                warn!(source = %remote, error = %e, "SIP TLS handshake failed (logged once; counted)");
            }
            return;
        }
        Err(_) => {
            if tls.stats.handshake_timeouts.fetch_add(1, Ordering::Relaxed) == 0 {
                warn!(source = %remote, "SIP TLS handshake not finished in time (logged once; counted)");
            }
            return;
        }
    };
    tls.stats.handshakes.fetch_add(1, Ordering::Relaxed);
    let (reader, writer) = tokio::io::split(stream);
    let conn = Connection {
        transport: Transport::Tls,
        reader,
        writer,
        remote,
        local,
        early: Vec::new(),
    };
    sip_stream::serve(conn, &intake).await;
}
