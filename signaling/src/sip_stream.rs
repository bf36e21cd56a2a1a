//! SIP over one connection of a byte stream (TCP, or TLS once its
//! handshake is done): messages framed out of what arrives and fed to the
//! core, CRLF keepalives answered, and what the core sends on the flow
//! written in order by the connection's own writer task.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::warn;

use crate::core::Input;
use crate::flows::Flows;
use crate::proxied::ProxiedPeers;
use crate::sip::framing::{Frame, Framer};
use crate::sip::{Flow, Transport};

/// What every stream connection is served with, TCP or TLS.
#[derive(Clone)]
pub struct Intake {
    pub in_tx: mpsc::UnboundedSender<Input>,
    pub flows: Flows,
    /// Largest SIP message accepted.
    pub max_message: usize,
    /// Load balancers whose PROXY headers name the client.
    pub proxied: Arc<ProxiedPeers>,
}

/// One accepted connection, ready to carry SIP.
pub struct Connection<R, W> {
    pub transport: Transport,
    pub reader: R,
    pub writer: W,
    /// The client (as a trusted load balancer named it) and our address.
    pub remote: SocketAddr,
    pub local: SocketAddr,
    /// Bytes already read past a PROXY header.
    pub early: Vec<u8>,
}

/// Reads SIP messages from `conn` until it closes or breaks the framing,
/// and writes what the core sends on it.
pub async fn serve<R, W>(conn: Connection<R, W>, intake: &Intake)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let Connection {
        transport,
        mut reader,
        mut writer,
        remote,
        local,
        early,
    } = conn;
    let Intake {
        in_tx,
        flows,
        max_message,
        ..
    } = intake;
    let flow = Flow {
        transport,
        remote,
        local,
        conn: NEXT.fetch_add(1, Ordering::Relaxed),
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    flows.add_stream(flow, tx.clone());
    tokio::spawn(async move {
        while let Some(data) = rx.recv().await {
            if writer.write_all(&data).await.is_err() {
                break;
            }
            // TLS holds written records until flushed.
            if writer.flush().await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });
    let mut framer = Framer::new(*max_message);
    framer.push(&early);
    let mut buf = vec![0u8; 16384];
    'conn: loop {
        loop {
            match framer.next_frame() {
                Ok(Some(Frame::Message(data))) => {
                    let _ = in_tx.send(Input::Sip { data, flow });
                }
                Ok(Some(Frame::Ping)) => {
                    let _ = tx.send(Bytes::from_static(b"\r\n"));
                }
                Ok(None) => break,
                Err(e) => {
                    warn!(source = %remote, transport = transport.via_token(), error = %e, "closing SIP connection");
                    break 'conn;
                }
            }
        }
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => framer.push(&buf[..n]),
        }
    }
    flows.remove_stream(flow.conn);
}
