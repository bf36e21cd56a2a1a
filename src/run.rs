//! `mra run`: wires store, media, signaling and the admin API together in
//! one process and stops them cleanly on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use media::{MeetingLink, PortRange, RtpEngine};
use media_api::{AudioCodec, VideoCodec};
use meeting::web::WebServer;
use meeting::{Sfu, SfuConfig, WebConfig};
use registrar::Registrar;
use signaling::core::{Core, CoreConfig};
use signaling::driver::{Driver, Listeners, Query, Services};
use signaling::h323::ras::{Gatekeeper, GatekeeperConfig};
use signaling::h323::ras_socket;
use signaling::ivr::IvrConfig;
use signaling::local_udp::LocalUdp;
use signaling::sdp::{Codecs, VideoOffer, AUDIO_KBPS};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::addresses;
use crate::api::lb::{LbAdmin, Reload};
use crate::api::{self, ApiState};
use crate::config::Config;
use crate::process::{init_logging, reload_lb_on_hangup, wait_for_stop};
use crate::store::{SharedSeats, Store};
use lb::Balancer;

/// Logs to stderr at the configured level.
pub async fn run(cfg: Config, reload_lb: Reload) -> anyhow::Result<()> {
    init_logging(&cfg.log);
    let lb = if cfg.lb.listener.is_empty() {
        None
    } else {
        let balancer = Balancer::start(&cfg.lb).context("starting the load balancer")?;
        Some(LbAdmin {
            balancer: Arc::new(balancer),
            reload: reload_lb,
        })
    };
    let store = Store::open(&cfg.data_dir, cfg.database.url.as_deref()).await?;
    info!(data_dir = %cfg.data_dir.display(), "store open");

    // Meeting hubs reach the meeting service on this node at the
    // configured address, else over loopback; browsers at any of ours.
    let configured_rtc = cfg.web.rtc_address.or(cfg.sip.advertised_address);
    let rtc_ip = configured_rtc.unwrap_or_else(|| cfg.advertised_ip());
    let rtc_ips = match configured_rtc {
        Some(ip) => vec![ip],
        None if cfg.sip.bind.is_unspecified() => addresses::host_ipv4(),
        None => vec![cfg.sip.bind],
    };
    let directory: Arc<dyn meeting::Directory> = Arc::new(store.clone());
    let seats = seats(&cfg, &store, &directory).await?;
    let sfu = Sfu::new(
        SfuConfig {
            rtc_ips: rtc_ips.clone(),
        },
        directory,
        seats.clone(),
    );

    let (media_tx, media_rx) = mpsc::unbounded_channel();
    let engine = RtpEngine::new(
        PortRange {
            min: cfg.media.port_min,
            max: cfg.media.port_max,
        },
        media_tx,
        MeetingLink {
            service: Arc::new(sfu.clone()),
            rtc_ip,
            layout: cfg.media.layout,
        },
        cfg.media.worker_count(),
    );

    let sip_addr = SocketAddr::new(cfg.sip.bind, cfg.sip.port);
    let sip_tls = sip_tls(&cfg)?;
    let driver = Driver::bind(&Listeners {
        udp: sip_addr,
        tcp: sip_addr,
        max_message: cfg.sip.max_message_bytes,
        proxy_from: cfg.sip.proxy_protocol_from.clone(),
        h323: cfg
            .h323
            .enabled
            .then(|| SocketAddr::new(cfg.sip.bind, cfg.h323.call_signal_port)),
        tls: sip_tls,
    })
    .await
    .with_context(|| format!("binding SIP and H.323 call signalling on {}", cfg.sip.bind))?;
    let mut core = Core::new(CoreConfig {
        force_rport: cfg.sip.force_rport,
        advertised: cfg.sip.advertised_address,
        sip_port: driver.udp_addr().port(),
        tls_port: driver.tls_port().unwrap_or(cfg.sip.tls_port),
        codecs: offered_codecs(&cfg.media),
        ivr: IvrConfig {
            first_digit_timeout: Duration::from_secs(cfg.ivr.first_digit_timeout_secs),
            inter_digit_timeout: Duration::from_secs(cfg.ivr.inter_digit_timeout_secs),
            max_attempts: cfg.ivr.max_attempts,
        },
        ivr_enabled: cfg.ivr.enabled,
        min_se: cfg.sip.min_session_expires,
        encryption: cfg.media.encryption,
        ..CoreConfig::default()
    });

    let (query_tx, query_rx) = mpsc::channel(16);
    let room_policies_changed = Arc::new(tokio::sync::Notify::new());
    // What the gatekeeper grants H.323 calls, on to the call core.
    let (grants_tx, mut grants_rx) = mpsc::unbounded_channel();
    let grant_queries = query_tx.clone();
    let grants_task = tokio::spawn(async move {
        while let Some(grant) = grants_rx.recv().await {
            if grant_queries.send(Query::CallGrant(grant)).await.is_err() {
                return;
            }
        }
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    // The admin API in clear on loopback; anywhere else over HTTPS with
    // the meeting page's certificate (and a token, see Config::check).
    let api_web = WebConfig {
        name: "admin API",
        bind: cfg.admin.bind,
        tls: !cfg.admin.bind.ip().is_loopback(),
        certificate: cfg.web.cert.clone().zip(cfg.web.key.clone()),
        data_dir: cfg.data_dir.clone(),
    };
    let api_server = WebServer::bind(&api_web)
        .with_context(|| format!("binding admin API on {}", cfg.admin.bind))?;
    info!(addr = %api_server.local_addr()?, "admin API listening");
    let registrar = Arc::new(Registrar::new(cfg.registrar(), Arc::new(store.clone())));
    let gatekeeper = if cfg.h323.enabled {
        let ras_addr = SocketAddr::new(cfg.sip.bind, cfg.h323.ras_port);
        let socket =
            LocalUdp::bind(ras_addr).with_context(|| format!("binding H.323 RAS on {ras_addr}"))?;
        // Unspecified: each request is answered with the address it was
        // sent to.
        let ours = cfg.sip.advertised_address.unwrap_or(cfg.sip.bind);
        let gk = Arc::new(
            Gatekeeper::new(
                GatekeeperConfig {
                    id: cfg.h323.gatekeeper_id.clone(),
                    ras: SocketAddr::new(ours, socket.local_addr().port()),
                    call_signal: SocketAddr::new(ours, cfg.h323.call_signal_port),
                    time_to_live: cfg.h323.time_to_live_secs,
                    require_h235: cfg.h323.require_h235,
                    h235_clock_skew: cfg.h323.h235_clock_skew_secs,
                    max_call_rate_kbps: cfg.media.max_call_rate_kbps,
                },
                registrar.clone(),
            )
            .with_grants(grants_tx),
        );
        info!(addr = %socket.local_addr(), "H.323 gatekeeper (RAS) listening");
        let discovery = if cfg.h323.multicast_discovery {
            let port = cfg.h323.discovery_port;
            let socket = ras_socket::bind_discovery(cfg.sip.bind, port)
                .with_context(|| format!("joining the H.323 discovery group on port {port}"))?;
            info!(group = %ras_socket::DISCOVERY_GROUP, port, "H.323 gatekeeper discovery listening");
            Some(socket)
        } else {
            None
        };
        Some((socket, discovery, gk))
    } else {
        None
    };
    let app = api::router(ApiState {
        store: store.clone(),
        seats: seats.clone(),
        media: engine.clone(),
        queries: query_tx.clone(),
        token: cfg.admin.token.clone(),
        registrar: registrar.clone(),
        realm: cfg.registrar.realm.clone(),
        lb: lb.clone(),
        gatekeeper: gatekeeper.as_ref().map(|(_, _, gk)| gk.clone()),
        room_policies_changed: room_policies_changed.clone(),
        gauges: api::Gauges {
            engine: engine.clone(),
            sfu: sfu.stats().clone(),
            sip_tls: driver.tls(),
        },
    });
    let mut api_stop = stop_rx.clone();
    let api_task = tokio::spawn(api_server.serve(app, async move {
        while api_stop.changed().await.is_ok() && !*api_stop.borrow() {}
    }));

    let web = WebConfig {
        name: "meeting page",
        bind: cfg.web.bind,
        tls: cfg.web.tls,
        certificate: cfg.web.cert.clone().zip(cfg.web.key.clone()),
        data_dir: cfg.data_dir.clone(),
    };
    let web_server =
        WebServer::bind(&web).with_context(|| format!("meeting page on {}", web.bind))?;
    let mut web_stop = stop_rx.clone();
    let web_task = tokio::spawn(
        web_server.serve(meeting::web::router(Arc::new(sfu)), async move {
            while web_stop.changed().await.is_ok() && !*web_stop.borrow() {}
        }),
    );

    let services = Services {
        seats: seats.clone(),
        media: engine,
        registrar,
    };
    let mut ras_tasks = Vec::new();
    if let Some((socket, discovery, gk)) = gatekeeper {
        for socket in std::iter::once(socket).chain(discovery) {
            let serve = ras_socket::serve(socket, gk.clone(), stop_rx.clone());
            ras_tasks.push(tokio::spawn(serve));
        }
    }
    // Calls from the first on are held to their rooms' own settings.
    let policies = store
        .room_policies()
        .await
        .context("reading rooms' own settings")?;
    core.handle(
        signaling::core::Input::RoomPolicies(Arc::new(policies.clone())),
        std::time::Instant::now(),
    );
    let rates_task = tokio::spawn(crate::room_policies::follow(
        store.clone(),
        policies,
        query_tx,
        room_policies_changed,
        stop_rx.clone(),
    ));
    let tls_reload = driver.tls();
    let signaling = tokio::spawn(driver.run(core, services, media_rx, query_rx, stop_rx));
    log_served(&cfg, &rtc_ips);
    info!("mra running");
    wait_for_stop(|| {
        reload_lb_on_hangup(lb.as_ref());
        if let Some(Err(e)) = tls_reload.as_ref().map(|tls| tls.reload()) {
            warn!(error = %e, "SIP TLS certificate not reloaded; the running one stays");
        }
    })
    .await;
    info!("signal received; stopping");
    stop_tx.send_replace(true);
    signaling.await.context("signaling task")?;
    rates_task.abort();
    grants_task.abort();
    for task in ras_tasks {
        let _ = task.await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), api_task).await;
    let _ = tokio::time::timeout(Duration::from_secs(3), web_task).await;
    info!("stopped");
    Ok(())
}

/// Says where rooms and browsers reach this node.
fn log_served(cfg: &Config, rtc_ips: &[std::net::IpAddr]) {
    let signalling = match (cfg.sip.advertised_address, cfg.sip.bind.is_unspecified()) {
        (Some(ip), _) => format!("{ip} (advertised)"),
        (None, true) => {
            let ips: Vec<String> = addresses::host_ipv4()
                .iter()
                .map(|ip| ip.to_string())
                .collect();
            format!("{} (each room gets the address it dialled)", ips.join(", "))
        }
        (None, false) => cfg.sip.bind.to_string(),
    };
    let rtc: Vec<String> = rtc_ips.iter().map(|ip| ip.to_string()).collect();
    info!(
        sip_port = cfg.sip.port,
        sip_tls_port = cfg.sip.tls_port,
        h323 = cfg.h323.enabled,
        web = %cfg.web.bind,
        "serving rooms at {signalling}; WebRTC host candidates on {}",
        rtc.join(", ")
    );
}

/// The SIP over TLS listener's settings: its own certificate if one is
/// configured, else the meeting page's, else the node's self-signed one.
fn sip_tls(cfg: &Config) -> anyhow::Result<Option<signaling::tls::TlsSettings>> {
    if cfg.sip.tls_port == 0 {
        return Ok(None);
    }
    let configured = (cfg.sip.tls_cert.clone().zip(cfg.sip.tls_key.clone()))
        .or_else(|| cfg.web.cert.clone().zip(cfg.web.key.clone()));
    let (cert, key) = match configured {
        Some(pair) => pair,
        None => {
            std::fs::create_dir_all(&cfg.data_dir)?;
            let pair = meeting::tls::self_signed(&cfg.data_dir)
                .context("making the node's self-signed certificate")?;
            info!(cert = %pair.0.display(), "SIP over TLS uses the node's self-signed certificate: rooms that check certificates need sip.tls_cert and sip.tls_key");
            pair
        }
    };
    Ok(Some(signaling::tls::TlsSettings {
        addr: SocketAddr::new(cfg.sip.bind, cfg.sip.tls_port),
        cert,
        key,
        client_ca: cfg.sip.tls_client_ca.clone(),
        handshake_timeout: Duration::from_secs(cfg.sip.tls_handshake_timeout_secs.max(1)),
        max_connections: cfg.sip.tls_max_connections,
        max_per_source: cfg.sip.tls_max_connections_per_source,
    }))
}

/// Where admission counts seats: in the shared database when other nodes
/// may share it (this node named by its SIP address), else in memory.
async fn seats(
    cfg: &Config,
    store: &Store,
    directory: &Arc<dyn meeting::Directory>,
) -> anyhow::Result<Arc<dyn meeting::Seats>> {
    let max = cfg.meetings.max_participants;
    if !store.is_shared() {
        return Ok(Arc::new(meeting::LocalSeats::new(directory.clone(), max)));
    }
    let node = SocketAddr::new(cfg.advertised_ip(), cfg.sip.port).to_string();
    info!(%node, "seats counted in the shared database");
    let seats = SharedSeats::start(store.clone(), node, max)
        .await
        .context("clearing this node's seats")?;
    Ok(seats)
}

/// What rooms are offered and may pick from: the configured codecs, and
/// video within the call rate less what audio takes.
fn offered_codecs(media: &crate::config::Media) -> Codecs {
    let video: Vec<VideoCodec> = media
        .video_codecs
        .iter()
        .filter_map(|c| VideoCodec::from_name(c))
        .collect();
    Codecs {
        audio: media
            .codecs
            .iter()
            .filter_map(|c| AudioCodec::from_name(c))
            .collect(),
        video: (!video.is_empty()).then(|| VideoOffer {
            codecs: video,
            max_kbps: media.max_call_rate_kbps.saturating_sub(AUDIO_KBPS),
        }),
    }
}
