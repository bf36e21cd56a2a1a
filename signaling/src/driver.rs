//! The thin tokio driver around [`Core`]: UDP and TCP listeners feed it
//! bytes, one task owns it and runs its timers, and its outputs become
//! socket writes, directory lookups and media commands.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use media::{MediaControl, MediaEvent};
use meeting::{Directory, Meeting};
use registrar::Registrar;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::core::{CallInfo, CallStats, Core, DialTarget, H323DialTarget, Input, Output};
use crate::h323::connections::H323Connections;
use crate::keepalive::Keepalive;
use crate::proxied::ProxiedPeers;
use crate::sip::framing::{Frame, Framer};
use crate::sip::{EndpointStats, Flow, Transport};

/// Listener settings.
#[derive(Debug, Clone)]
pub struct Listeners {
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    /// Largest SIP message accepted over TCP.
    pub max_message: usize,
    /// Load balancers whose PROXY v2 headers name the real client.
    pub proxy_from: Vec<IpAddr>,
    /// H.323 call signalling (TCP), when enabled.
    pub h323: Option<SocketAddr>,
}

/// Questions the admin API asks the running core.
#[derive(Debug)]
pub enum Query {
    Calls(oneshot::Sender<Vec<CallInfo>>),
    Stats(oneshot::Sender<(CallStats, EndpointStats)>),
    /// Call a room into a meeting; the call's id, or why not.
    Dial(Box<CallOut>, oneshot::Sender<Result<u64, String>>),
}

/// A room to call into a meeting.
#[derive(Debug, Clone)]
pub struct CallOut {
    pub meeting: Meeting,
    /// The room's contact (Request-URI).
    pub uri: String,
    /// Route set (the Path it registered through).
    pub route: Vec<String>,
    pub display_name: String,
    /// Where to send: the room's registered source address, or the URI's
    /// (for H.323, its call-signalling address).
    pub transport: Transport,
    pub remote: SocketAddr,
    /// Call over H.323 instead of SIP, to this alias.
    pub h323_alias: Option<String>,
}

/// Open TCP connections: number → (remote address, writer).
type Connections = Arc<Mutex<HashMap<u64, (SocketAddr, mpsc::UnboundedSender<Bytes>)>>>;

/// What the core's outputs are carried out with.
#[derive(Clone)]
pub struct Services {
    pub directory: Arc<dyn Directory>,
    pub media: Arc<dyn MediaControl>,
    pub registrar: Arc<Registrar>,
}

/// Bound listeners, ready to run.
pub struct Driver {
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
    h323: Option<TcpListener>,
    max_message: usize,
    proxied: Arc<ProxiedPeers>,
}

impl Driver {
    /// Binds the SIP sockets.
    pub async fn bind(l: &Listeners) -> std::io::Result<Driver> {
        let udp = Arc::new(UdpSocket::bind(l.udp).await?);
        let tcp = TcpListener::bind(l.tcp).await?;
        info!(udp = %udp.local_addr()?, tcp = %tcp.local_addr()?, "SIP listening");
        let h323 = match l.h323 {
            Some(addr) => {
                let listener = TcpListener::bind(addr).await?;
                info!(addr = %listener.local_addr()?, "H.323 call signalling listening");
                Some(listener)
            }
            None => None,
        };
        Ok(Driver {
            udp,
            tcp,
            h323,
            max_message: l.max_message,
            proxied: Arc::new(ProxiedPeers::new(l.proxy_from.clone())),
        })
    }

    pub fn udp_addr(&self) -> SocketAddr {
        self.udp.local_addr().expect("bound")
    }

    /// Runs until `shutdown` turns true and calls are cleared (or 5 s pass).
    pub async fn run(
        self,
        mut core: Core,
        services: Services,
        mut media_events: mpsc::UnboundedReceiver<MediaEvent>,
        mut queries: mpsc::Receiver<Query>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let (in_tx, mut in_rx) = mpsc::unbounded_channel::<Input>();
        let conns: Connections = Arc::default();
        let Driver {
            udp,
            tcp,
            h323,
            max_message,
            proxied,
        } = self;
        let h323_links = H323Connections::new(in_tx.clone());
        let h323_task = h323.map(|l| tokio::spawn(h323_links.clone().accept_call_signalling(l)));
        let udp_task = tokio::spawn(read_udp(udp.clone(), in_tx.clone(), proxied.clone()));
        let (media_tx, media_rx) = mpsc::unbounded_channel();
        let media_task = tokio::spawn(run_media(services.media.clone(), media_rx, in_tx.clone()));
        let tcp_task = tokio::spawn(accept_tcp(
            tcp,
            in_tx.clone(),
            conns.clone(),
            max_message,
            proxied.clone(),
        ));
        let keepalive = Keepalive::new(services.registrar.clone());
        let interval = services.registrar.config().keepalive_secs;
        let keepalive_task = (interval > 0).then(|| {
            let conns = conns.clone();
            let find_conn = move |remote: SocketAddr| tcp_conn(&conns, remote);
            tokio::spawn(keepalive.clone().run(
                Duration::from_secs(interval),
                in_tx.clone(),
                find_conn,
            ))
        });
        let mut stop_by: Option<Instant> = None;
        loop {
            let deadline = core
                .next_deadline()
                .map(Instant::from_std)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            // Shutting down: wake by the grace period's end even when no
            // timer is due before it (completed transactions linger 32 s).
            let deadline = stop_by.map_or(deadline, |stop| deadline.min(stop));
            tokio::select! {
                Some(input) = in_rx.recv() => core.handle(input, std::time::Instant::now()),
                Some(ev) = media_events.recv() => core.handle(Input::Media(ev), std::time::Instant::now()),
                Some(q) = queries.recv() => match q {
                    Query::Calls(reply) => { let _ = reply.send(core.calls()); }
                    Query::Stats(reply) => { let _ = reply.send((core.stats, core.endpoint_stats())); }
                    Query::Dial(out, reply) => { let _ = reply.send(dial(&mut core, out, &conns)); }
                },
                _ = tokio::time::sleep_until(deadline) => core.on_timer(std::time::Instant::now()),
                r = shutdown.changed(), if stop_by.is_none() => {
                    if r.is_err() || *shutdown.borrow() {
                        info!("shutting down signaling: ending calls");
                        core.handle(Input::Shutdown, std::time::Instant::now());
                        stop_by = Some(Instant::now() + Duration::from_secs(5));
                    }
                }
            }
            while let Some(out) = core.poll_output() {
                match out {
                    Output::ProbeResult { id, alive } => keepalive.finished(id, alive),
                    Output::H323(o) => h323_links.execute(o),
                    out => execute(&udp, &proxied, out, &in_tx, &conns, &services, &media_tx),
                }
            }
            if stop_by.is_some_and(|t| core.is_idle() || Instant::now() >= t) {
                break;
            }
        }
        udp_task.abort();
        tcp_task.abort();
        if let Some(task) = h323_task {
            task.abort();
        }
        if let Some(task) = keepalive_task {
            task.abort();
        }
        drop(media_tx);
        let _ = media_task.await;
    }
}

/// The open TCP connection from `remote`.
fn tcp_conn(conns: &Connections, remote: SocketAddr) -> Option<u64> {
    let conns = conns.lock().expect("conns lock");
    conns
        .iter()
        .find(|(_, (r, _))| *r == remote)
        .map(|(id, _)| *id)
}

/// Resolves the flow of a call-out (a room on TCP is called over the
/// connection it registered on) and starts it.
fn dial(core: &mut Core, out: Box<CallOut>, conns: &Connections) -> Result<u64, String> {
    if let Some(alias) = out.h323_alias {
        let target = H323DialTarget {
            call_signal: out.remote,
            alias,
            display_name: out.display_name,
        };
        return core.dial_h323(target, &out.meeting).map(|leg| leg.0);
    }
    let conn = match out.transport {
        Transport::Udp => 0,
        Transport::Tcp => {
            tcp_conn(conns, out.remote).ok_or("the room's TCP connection is closed")?
        }
    };
    let target = DialTarget {
        flow: Flow {
            transport: out.transport,
            remote: out.remote,
            conn,
        },
        uri: out.uri,
        route: out.route,
        display_name: out.display_name,
    };
    core.dial(target, &out.meeting).map(|leg| leg.0)
}

fn execute(
    udp: &UdpSocket,
    proxied: &ProxiedPeers,
    out: Output,
    in_tx: &mpsc::UnboundedSender<Input>,
    conns: &Connections,
    services: &Services,
    media: &mpsc::UnboundedSender<Output>,
) {
    match out {
        Output::Transmit { flow, data } => match flow.transport {
            Transport::Udp => {
                if let Err(e) = udp.try_send_to(&data, proxied.route(flow.remote)) {
                    debug!(to = %flow.remote, error = %e, "UDP send failed");
                }
            }
            Transport::Tcp => {
                let sent = conns
                    .lock()
                    .expect("conns lock")
                    .get(&flow.conn)
                    .map(|(_, tx)| tx.send(data).is_ok());
                if sent != Some(true) {
                    debug!(to = %flow.remote, "TCP connection gone; message dropped");
                }
            }
        },
        Output::LookupMeeting { leg, number } => {
            let (directory, in_tx) = (services.directory.clone(), in_tx.clone());
            tokio::spawn(async move {
                let result = directory.find(&number).await.map_err(|e| e.to_string());
                let _ = in_tx.send(Input::MeetingLookup { leg, result });
            });
        }
        Output::Register { tx, request } => {
            let (registrar, in_tx) = (services.registrar.clone(), in_tx.clone());
            tokio::spawn(async move {
                let reply = registrar.register(&request, registrar::unix_now()).await;
                let _ = in_tx.send(Input::Registered { tx, reply });
            });
        }
        media_command => {
            let _ = media.send(media_command);
        }
    }
}

/// Carries out media commands one at a time, in the order the core gave
/// them (a leg is created before it is configured or joins a meeting).
async fn run_media(
    media: Arc<dyn MediaControl>,
    mut commands: mpsc::UnboundedReceiver<Output>,
    in_tx: mpsc::UnboundedSender<Input>,
) {
    while let Some(command) = commands.recv().await {
        let (leg, result) = match command {
            Output::CreateLeg { leg, ip } => {
                let result = media.create_leg(leg, ip).await.map_err(|e| e.to_string());
                let _ = in_tx.send(Input::LegCreated { leg, result });
                continue;
            }
            Output::ConfigureLeg { leg, media: params } => {
                (leg, media.configure_leg(leg, params).await)
            }
            Output::DestroyLeg { leg } => (leg, media.destroy_leg(leg).await),
            Output::JoinMeeting { leg, join } => (leg, media.join_meeting(leg, join).await),
            Output::Prompt { leg, prompt } => (leg, media.play(leg, prompt).await),
            Output::Transmit { .. }
            | Output::LookupMeeting { .. }
            | Output::Register { .. }
            | Output::ProbeResult { .. }
            | Output::H323(_) => continue,
        };
        if let Err(e) = result {
            warn!(leg = leg.0, error = %e, "media command failed");
        }
    }
}

async fn read_udp(
    sock: Arc<UdpSocket>,
    in_tx: mpsc::UnboundedSender<Input>,
    proxied: Arc<ProxiedPeers>,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, src)) => {
                let Some((remote, data)) = proxied.unwrap_datagram(src, &buf[..n]) else {
                    continue;
                };
                let flow = Flow {
                    transport: Transport::Udp,
                    remote,
                    conn: 0,
                };
                if in_tx
                    .send(Input::Sip {
                        data: Bytes::copy_from_slice(data),
                        flow,
                    })
                    .is_err()
                {
                    return;
                }
            }
            Err(e) => debug!(error = %e, "UDP receive error"),
        }
    }
}

async fn accept_tcp(
    listener: TcpListener,
    in_tx: mpsc::UnboundedSender<Input>,
    conns: Connections,
    max_message: usize,
    proxied: Arc<ProxiedPeers>,
) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let (in_tx, conns, proxied) = (in_tx.clone(), conns.clone(), proxied.clone());
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let (mut rd, wr) = stream.into_split();
            if let Some((remote, early)) = proxied.stream_client(&mut rd, peer).await {
                serve_tcp(rd, wr, remote, early, in_tx, conns, max_message).await;
            }
        });
    }
}

/// Reads SIP messages from one TCP connection (`early`: bytes already
/// read) until it closes, and writes what the core sends on it.
async fn serve_tcp(
    mut rd: tokio::net::tcp::OwnedReadHalf,
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    remote: SocketAddr,
    early: Vec<u8>,
    in_tx: mpsc::UnboundedSender<Input>,
    conns: Connections,
    max_message: usize,
) {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    conns
        .lock()
        .expect("conns lock")
        .insert(id, (remote, tx.clone()));
    let flow = Flow {
        transport: Transport::Tcp,
        remote,
        conn: id,
    };
    tokio::spawn(async move {
        while let Some(data) = rx.recv().await {
            if wr.write_all(&data).await.is_err() {
                break;
            }
        }
    });
    let mut framer = Framer::new(max_message);
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
                    warn!(source = %remote, error = %e, "closing SIP TCP connection");
                    break 'conn;
                }
            }
        }
        match rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => framer.push(&buf[..n]),
        }
    }
    conns.lock().expect("conns lock").remove(&id);
}
