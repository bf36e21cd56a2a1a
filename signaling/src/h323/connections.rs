//! The tokio side of H.323 calls: the call-signalling listener (TCP 1720)
//! and the separate H.245 connections (accepted on a listener of the call's
//! own, or opened to the room's h245Address). Every connection is TPKT
//! framed both ways; what it carries goes to the core as [`H323Input`],
//! and the core's [`H323Output`] is carried out here.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use media_api::LegId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::io::{H323Input, H323Output};
use super::tpkt::{frame, TpktReader};

/// How long a room has to open the H.245 connection we listen for.
const H245_ACCEPT_WITHIN: Duration = Duration::from_secs(30);
/// How long opening a connection to a room may take.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);

type Writers<K> = Arc<Mutex<HashMap<K, mpsc::UnboundedSender<Bytes>>>>;

/// Numbers call-signalling connections, accepted and opened alike.
static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

/// Where the connections' input goes (the core's queue, in the driver).
pub type Deliver = Arc<dyn Fn(H323Input) + Send + Sync>;

/// Open H.323 connections and where their input goes.
#[derive(Clone)]
pub struct H323Connections {
    deliver: Deliver,
    call_signalling: Writers<u64>,
    h245: Writers<LegId>,
}

impl H323Connections {
    pub fn new(deliver: Deliver) -> H323Connections {
        H323Connections {
            deliver,
            call_signalling: Arc::default(),
            h245: Arc::default(),
        }
    }

    fn input(&self, input: H323Input) {
        (self.deliver)(input);
    }

    /// Accepts call-signalling connections until the task is aborted.
    pub async fn accept_call_signalling(self, listener: TcpListener) {
        loop {
            let Ok((stream, remote)) = listener.accept().await else {
                continue;
            };
            let (conn, outgoing) = self.new_call_signalling();
            tokio::spawn(
                self.clone()
                    .serve_call_signalling(conn, remote, stream, outgoing),
            );
        }
    }

    /// A number and a writer queue for a call-signalling connection,
    /// registered before the core hears of it.
    fn new_call_signalling(&self) -> (u64, mpsc::UnboundedReceiver<Bytes>) {
        let conn = NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        self.call_signalling.lock().expect("lock").insert(conn, tx);
        (conn, rx)
    }

    async fn serve_call_signalling(
        self,
        conn: u64,
        remote: SocketAddr,
        stream: TcpStream,
        outgoing: mpsc::UnboundedReceiver<Bytes>,
    ) {
        // Our address as the room reached it: H.225 and H.245 name it.
        let Ok(local) = stream.local_addr() else {
            self.call_signalling.lock().expect("lock").remove(&conn);
            self.input(H323Input::CallSignallingClosed { conn });
            return;
        };
        serve_tpkt(stream, outgoing, |data| {
            self.input(H323Input::CallSignalling {
                conn,
                remote,
                local,
                data,
            })
        })
        .await;
        self.call_signalling.lock().expect("lock").remove(&conn);
        self.input(H323Input::CallSignallingClosed { conn });
    }

    pub fn execute(&self, out: H323Output) {
        match out {
            H323Output::CallSignalling { conn, data } => {
                send(&self.call_signalling, &conn, data);
            }
            H323Output::CloseCallSignalling { conn } => {
                self.call_signalling.lock().expect("lock").remove(&conn);
            }
            H323Output::ConnectCallSignalling { leg, to } => {
                let links = self.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(CONNECT_WITHIN, TcpStream::connect(to)).await {
                        Ok(Ok(stream)) => {
                            let (conn, outgoing) = links.new_call_signalling();
                            links.input(H323Input::CallSignallingConnected { leg, conn });
                            links
                                .serve_call_signalling(conn, to, stream, outgoing)
                                .await;
                        }
                        _ => links.input(H323Input::DialFailed { leg }),
                    }
                });
            }
            H323Output::ListenH245 { leg, ip } => self.listen_h245(leg, ip),
            H323Output::ConnectH245 { leg, to } => {
                let links = self.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(CONNECT_WITHIN, TcpStream::connect(to)).await {
                        Ok(Ok(stream)) => links.serve_h245(leg, stream).await,
                        _ => {
                            warn!(leg = leg.0, %to, "could not open the H.245 connection");
                            links.input(H323Input::H245Closed { leg });
                        }
                    }
                });
            }
            H323Output::H245 { leg, data } => send(&self.h245, &leg, data),
            H323Output::CloseH245 { leg } => {
                self.h245.lock().expect("lock").remove(&leg);
            }
        }
    }

    fn listen_h245(&self, leg: LegId, ip: IpAddr) {
        let bound = std::net::TcpListener::bind((ip, 0)).and_then(|l| {
            l.set_nonblocking(true)?;
            TcpListener::from_std(l)
        });
        let listener = match bound {
            Ok(l) => l,
            Err(e) => {
                return self.input(H323Input::H245Listening {
                    leg,
                    result: Err(e.to_string()),
                })
            }
        };
        let result = listener.local_addr().map_err(|e| e.to_string());
        self.input(H323Input::H245Listening { leg, result });
        let links = self.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(H245_ACCEPT_WITHIN, listener.accept()).await {
                Ok(Ok((stream, _))) => links.serve_h245(leg, stream).await,
                _ => links.input(H323Input::H245Closed { leg }),
            }
        });
    }

    async fn serve_h245(&self, leg: LegId, stream: TcpStream) {
        let (tx, rx) = mpsc::unbounded_channel();
        self.h245.lock().expect("lock").insert(leg, tx);
        self.input(H323Input::H245Connected { leg });
        serve_tpkt(stream, rx, |data| self.input(H323Input::H245 { leg, data })).await;
        self.h245.lock().expect("lock").remove(&leg);
        self.input(H323Input::H245Closed { leg });
    }
}

fn send<K: std::hash::Hash + Eq + std::fmt::Debug>(writers: &Writers<K>, key: &K, data: Bytes) {
    let sent = writers
        .lock()
        .expect("lock")
        .get(key)
        .is_some_and(|tx| tx.send(data).is_ok());
    if !sent {
        debug!(?key, "H.323 connection gone; message dropped");
    }
}

/// Reads TPKT packets from `stream` into `on_packet` and writes what comes
/// on `outgoing` framed, until either side ends: the peer closes (or
/// breaks framing), or `outgoing` closes (we close after what was queued).
async fn serve_tpkt(
    stream: TcpStream,
    mut outgoing: mpsc::UnboundedReceiver<Bytes>,
    on_packet: impl Fn(Bytes),
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let mut writer = tokio::spawn(async move {
        while let Some(data) = outgoing.recv().await {
            if wr.write_all(&frame(&data)).await.is_err() {
                return;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut reader = TpktReader::default();
    let mut buf = vec![0u8; 16384];
    loop {
        tokio::select! {
            read = rd.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => reader.push(&buf[..n]),
            },
            _ = &mut writer => return,
        }
        loop {
            match reader.next_packet() {
                Ok(Some(p)) => on_packet(p.into()),
                Ok(None) => break,
                Err(e) => {
                    warn!(error = %e, "closing an H.323 connection");
                    writer.abort();
                    return;
                }
            }
        }
    }
    writer.abort();
}
