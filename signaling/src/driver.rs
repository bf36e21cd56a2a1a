//! The thin tokio driver around [`Core`]: UDP, TCP and TLS listeners feed it
//! bytes, one task owns it and runs its timers, and its outputs become
//! socket writes, directory lookups and media commands.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use media_api::{MediaControl, MediaEvent};

use crate::controller::Action;
use crate::h323::ras::CallGrant;
use meeting::{Seat, SeatId, Seats};
use registrar::Registrar;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, info};

use crate::core::{
    CallInfo, CallStats, Core, DialTarget, H323DialTarget, Input, Output, RoomPolicies,
};
use crate::flows::Flows;
use crate::h323::connections::H323Connections;
use crate::keepalive::Keepalive;
use crate::local_udp::{self, LocalUdp};
use crate::proxied::ProxiedPeers;
use crate::sip::{EndpointStats, Flow, Transport};
use crate::sip_stream::{self, Connection, Intake};
use crate::tls::{SipTls, TlsSettings};

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
    /// SIP over TLS, when enabled.
    pub tls: Option<TlsSettings>,
}

/// Questions the admin API asks the running core.
#[derive(Debug)]
pub enum Query {
    Calls(oneshot::Sender<Vec<CallInfo>>),
    Stats(oneshot::Sender<(CallStats, EndpointStats)>),
    /// Call a room into a meeting; the call's id, or why not.
    Dial(Box<CallOut>, oneshot::Sender<Result<u64, String>>),
    /// Room accounts' own settings, as they now stand.
    RoomPolicies(Arc<RoomPolicies>),
    /// What our gatekeeper granted an H.323 call.
    CallGrant(CallGrant),
}

/// A room to call into a meeting.
#[derive(Debug, Clone)]
pub struct CallOut {
    /// Its seat in the meeting, taken by whoever asked for the call; given
    /// back when the call ends or cannot start.
    pub seat: Seat,
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
    /// The room account's own call rate, kbit/s.
    pub max_call_rate_kbps: Option<u32>,
    /// The room account's own encryption policy.
    pub encryption: Option<media_api::Encryption>,
}

/// What the core's outputs are carried out with.
#[derive(Clone)]
pub struct Services {
    /// Admission: seats in meetings.
    pub seats: Arc<dyn Seats>,
    pub media: Arc<dyn MediaControl>,
    pub registrar: Arc<Registrar>,
}

/// Bound listeners, ready to run.
pub struct Driver {
    udp: Arc<LocalUdp>,
    tcp: TcpListener,
    h323: Option<TcpListener>,
    tls: Option<(TcpListener, Arc<SipTls>)>,
    max_message: usize,
    proxied: Arc<ProxiedPeers>,
}

impl Driver {
    /// Binds the SIP sockets.
    pub async fn bind(l: &Listeners) -> std::io::Result<Driver> {
        let udp = Arc::new(LocalUdp::bind(l.udp)?);
        let tcp = TcpListener::bind(l.tcp).await?;
        info!(udp = %udp.local_addr(), tcp = %tcp.local_addr()?, "SIP listening");
        let h323 = match l.h323 {
            Some(addr) => {
                let listener = TcpListener::bind(addr).await?;
                info!(addr = %listener.local_addr()?, "H.323 call signalling listening");
                Some(listener)
            }
            None => None,
        };
        let tls = match &l.tls {
            Some(settings) => {
                let tls = SipTls::new(settings.clone())?;
                let listener = TcpListener::bind(settings.addr).await?;
                info!(addr = %listener.local_addr()?, cert = %settings.cert.display(), "SIP over TLS listening");
                Some((listener, Arc::new(tls)))
            }
            None => None,
        };
        Ok(Driver {
            udp,
            tcp,
            h323,
            tls,
            max_message: l.max_message,
            proxied: Arc::new(ProxiedPeers::new(l.proxy_from.clone())),
        })
    }

    pub fn udp_addr(&self) -> SocketAddr {
        self.udp.local_addr()
    }

    /// The TLS listener's configuration (to reload) and counters.
    pub fn tls(&self) -> Option<Arc<SipTls>> {
        self.tls.as_ref().map(|(_, tls)| tls.clone())
    }

    /// The TLS listener's port, when it runs.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls
            .as_ref()
            .and_then(|(l, _)| l.local_addr().ok())
            .map(|a| a.port())
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
        let Driver {
            udp,
            tcp,
            h323,
            tls,
            max_message,
            proxied,
        } = self;
        let flows = Flows::new(udp.clone());
        let h323_in = in_tx.clone();
        let h323_links = H323Connections::new(Arc::new(move |input| {
            let _ = h323_in.send(Input::H323(input));
        }));
        let h323_local = h323
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.ip());
        let h323_task = h323.map(|l| tokio::spawn(h323_links.clone().accept_call_signalling(l)));
        let udp_task = tokio::spawn(read_udp(udp, in_tx.clone(), proxied.clone()));
        let (media_tx, media_rx) = mpsc::unbounded_channel();
        let media_task = tokio::spawn(crate::media_queue::run(
            services.media.clone(),
            media_rx,
            in_tx.clone(),
        ));
        let intake = Intake {
            in_tx: in_tx.clone(),
            flows: flows.clone(),
            max_message,
            proxied: proxied.clone(),
        };
        let tcp_task = tokio::spawn(accept_tcp(tcp, intake.clone()));
        let tls_task =
            tls.map(|(listener, tls)| tokio::spawn(crate::tls::accept(listener, tls, intake)));
        let keepalive = Keepalive::new(services.registrar.clone());
        let interval = services.registrar.config().keepalive_secs;
        let keepalive_task = (interval > 0).then(|| {
            let flows = flows.clone();
            let flow_to = move |transport, remote| flows.to(transport, remote);
            tokio::spawn(keepalive.clone().run(
                Duration::from_secs(interval),
                in_tx.clone(),
                flow_to,
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
                    Query::Stats(reply) => { let _ = reply.send((core.stats(), core.endpoint_stats())); }
                    Query::Dial(out, reply) => {
                        let seat = out.seat.id;
                        let dialed = dial(&mut core, out, &flows, h323_local);
                        if dialed.is_err() {
                            release_seat(&services, seat);
                        }
                        let _ = reply.send(dialed);
                    }
                    Query::RoomPolicies(policies) => core.handle(Input::RoomPolicies(policies), std::time::Instant::now()),
                    Query::CallGrant(grant) => core.handle(Input::CallGrant(grant), std::time::Instant::now()),
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
                    out => execute(&flows, &proxied, out, &in_tx, &services, &media_tx),
                }
            }
            if stop_by.is_some_and(|t| core.is_idle() || Instant::now() >= t) {
                break;
            }
        }
        udp_task.abort();
        tcp_task.abort();
        if let Some(task) = tls_task {
            task.abort();
        }
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

/// Resolves the flow of a call-out (a room on TCP is called over the
/// connection it registered on) and starts it. `h323_local`: the address
/// H.323 call signalling is bound to.
fn dial(
    core: &mut Core,
    out: Box<CallOut>,
    flows: &Flows,
    h323_local: Option<IpAddr>,
) -> Result<u64, String> {
    if let Some(alias) = out.h323_alias {
        let local = match h323_local {
            Some(ip) if !ip.is_unspecified() => ip,
            _ => local_udp::route_source(out.remote).ok_or("no route to the room")?,
        };
        let target = H323DialTarget {
            call_signal: out.remote,
            local,
            alias,
            display_name: out.display_name,
            max_call_rate_kbps: out.max_call_rate_kbps,
            encryption: out.encryption,
        };
        return core.dial_h323(target, out.seat).map(|leg| leg.0);
    }
    let flow = flows
        .to(out.transport, out.remote)
        .ok_or("the room's TCP or TLS connection is closed")?;
    let target = DialTarget {
        flow,
        uri: out.uri,
        route: out.route,
        display_name: out.display_name,
        max_call_rate_kbps: out.max_call_rate_kbps,
        encryption: out.encryption,
    };
    core.dial(target, out.seat).map(|leg| leg.0)
}

/// Gives a seat back, without waiting for it.
fn release_seat(services: &Services, seat: SeatId) {
    let seats = services.seats.clone();
    tokio::spawn(async move { seats.release(seat).await });
}

fn execute(
    flows: &Flows,
    proxied: &ProxiedPeers,
    out: Output,
    in_tx: &mpsc::UnboundedSender<Input>,
    services: &Services,
    media: &mpsc::UnboundedSender<Action>,
) {
    match out {
        Output::Transmit { flow, data } => match flow.transport {
            Transport::Udp => {
                let to = proxied.route(flow.remote);
                if let Err(e) = flows.udp().try_send(&data, to, flow.local.ip()) {
                    debug!(to = %flow.remote, error = %e, "UDP send failed");
                }
            }
            Transport::Tcp | Transport::Tls => {
                if !flows.send_stream(flow.conn, data) {
                    debug!(to = %flow.remote, "connection gone; message dropped");
                }
            }
        },
        Output::Control(Action::TakeSeat { leg, request }) => {
            let (seats, in_tx) = (services.seats.clone(), in_tx.clone());
            tokio::spawn(async move {
                let result = seats.take(request).await.map_err(|e| e.to_string());
                let _ = in_tx.send(Input::Seat { leg, result });
            });
        }
        Output::Control(Action::ReleaseSeat { seat }) => release_seat(services, seat),
        Output::Register { tx, request } => {
            let (registrar, in_tx) = (services.registrar.clone(), in_tx.clone());
            tokio::spawn(async move {
                let reply = registrar.register(&request, registrar::unix_now()).await;
                let _ = in_tx.send(Input::Registered { tx, reply });
            });
        }
        Output::Control(media_command) => {
            let _ = media.send(media_command);
        }
        Output::ProbeResult { .. } | Output::H323(_) => {}
    }
}

async fn read_udp(
    sock: Arc<LocalUdp>,
    in_tx: mpsc::UnboundedSender<Input>,
    proxied: Arc<ProxiedPeers>,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        match sock.recv(&mut buf).await {
            Ok(got) => {
                for datagram in buf[..got.len].chunks(got.stride) {
                    let Some((remote, data)) = proxied.unwrap_datagram(got.from, datagram) else {
                        continue;
                    };
                    let flow = Flow {
                        transport: Transport::Udp,
                        remote,
                        local: got.local,
                        conn: 0,
                    };
                    let data = Bytes::copy_from_slice(data);
                    if in_tx.send(Input::Sip { data, flow }).is_err() {
                        return;
                    }
                }
            }
            Err(e) => debug!(error = %e, "UDP receive error"),
        }
    }
}

async fn accept_tcp(listener: TcpListener, intake: Intake) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let Ok(local) = stream.local_addr() else {
            continue;
        };
        let intake = intake.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let (mut reader, writer) = stream.into_split();
            if let Some((remote, early)) = intake.proxied.stream_client(&mut reader, peer).await {
                let conn = Connection {
                    transport: Transport::Tcp,
                    reader,
                    writer,
                    remote,
                    local,
                    early,
                };
                sip_stream::serve(conn, &intake).await;
            }
        });
    }
}
