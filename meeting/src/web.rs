//! The meeting service's web front: the browser page (plain HTML/JS/CSS
//! compiled into the binary) and the WebSocket that carries the signaling
//! protocol to a [`MeetingService`] session. Served over HTTPS, or plain
//! HTTP when bound to loopback (development and tests).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tracing::info;

use crate::protocol::{ClientMessage, ServerMessage};
use crate::service::{MeetingService, Session};
use crate::tls;
use axum_server::tls_rustls::RustlsConfig;

/// Where and how the page is served.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// What is served, for the log ("meeting page", "admin API").
    pub name: &'static str,
    pub bind: SocketAddr,
    /// Serve HTTPS (required unless `bind` is a loopback address).
    pub tls: bool,
    /// PEM certificate and key; generated (self-signed) into the data
    /// directory at first start when not given.
    pub certificate: Option<(PathBuf, PathBuf)>,
    pub data_dir: PathBuf,
}

const INDEX: &str = include_str!("../web/index.html");
const APP: &str = include_str!("../web/app.js");
const STYLE: &str = include_str!("../web/style.css");

/// The page and the WebSocket.
pub fn router(service: Arc<dyn MeetingService>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { page("text/html; charset=utf-8", INDEX) }),
        )
        .route("/app.js", get(|| async { page("text/javascript", APP) }))
        .route("/style.css", get(|| async { page("text/css", STYLE) }))
        .route("/ws", get(upgrade))
        .with_state(service)
}

fn page(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn upgrade(ws: WebSocketUpgrade, State(service): State<Arc<dyn MeetingService>>) -> Response {
    ws.max_message_size(256 * 1024)
        .on_upgrade(move |socket| bridge(socket, service.connect()))
}

/// Carries one session between the socket and the service until either ends.
async fn bridge(mut socket: WebSocket, session: Session) {
    let Session {
        to_service,
        mut from_service,
    } = session;
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<ClientMessage>(&text) {
                    Ok(message) => if to_service.send(message).await.is_err() { break },
                    Err(e) => {
                        let error = ServerMessage::error("bad_message", e.to_string());
                        if send(&mut socket, &error).await.is_err() { break }
                    }
                },
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                _ => break,
            },
            outgoing = from_service.recv() => match outgoing {
                Some(message) => if send(&mut socket, &message).await.is_err() { break },
                None => break,
            },
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

async fn send(socket: &mut WebSocket, message: &ServerMessage) -> Result<(), axum::Error> {
    let text = serde_json::to_string(message).expect("messages serialize");
    socket.send(Message::Text(text.into())).await
}

/// The bound listener, ready to serve.
pub struct WebServer {
    name: &'static str,
    listener: std::net::TcpListener,
    tls: Option<(RustlsConfig, PathBuf)>,
}

impl WebServer {
    /// Binds the address and loads (or generates) the certificate, so a
    /// busy port or a bad certificate stops start-up.
    pub fn bind(config: &WebConfig) -> std::io::Result<WebServer> {
        let listener = std::net::TcpListener::bind(config.bind)?;
        listener.set_nonblocking(true)?;
        let tls = if config.tls {
            let (cert, key) = match &config.certificate {
                Some(pair) => pair.clone(),
                None => tls::self_signed(&config.data_dir)?,
            };
            Some((tls::server_config(&cert, &key)?, cert))
        } else {
            None
        };
        Ok(WebServer {
            name: config.name,
            listener,
            tls,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `router` until `stop` resolves.
    pub async fn serve(
        self,
        router: Router,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let addr = self.listener.local_addr()?;
        let Some((rustls, cert)) = self.tls else {
            info!(%addr, "{} on http", self.name);
            let listener = tokio::net::TcpListener::from_std(self.listener)?;
            return axum::serve(listener, router)
                .with_graceful_shutdown(stop)
                .await;
        };
        let handle = axum_server::Handle::new();
        let stopper = handle.clone();
        tokio::spawn(async move {
            stop.await;
            stopper.graceful_shutdown(Some(std::time::Duration::from_secs(2)));
        });
        info!(%addr, cert = %cert.display(), "{} on https", self.name);
        axum_server::from_tcp_rustls(self.listener, rustls)?
            .handle(handle)
            .serve(router.into_make_service())
            .await
    }
}
