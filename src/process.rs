//! What every long-running command sets up the same way: logging, and
//! waiting for the signal to stop (reloading what it can on SIGHUP
//! meanwhile: the load balancer, certificates).

use std::io::IsTerminal;

use tracing::{info, warn};
use tracing_subscriber::EnvFilter;

use crate::api::lb::LbAdmin;

/// Logs to stderr at the configured level (RUST_LOG overrides it).
pub fn init_logging(log: &crate::config::Log) {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(log.filter(std::env::var("RUST_LOG").ok())))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Waits for SIGTERM or SIGINT; each SIGHUP calls `on_hangup`.
pub async fn wait_for_stop(on_hangup: impl Fn()) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut hup = signal(SignalKind::hangup()).expect("SIGHUP handler");
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = tokio::signal::ctrl_c() => return,
            _ = hup.recv() => on_hangup(),
        }
    }
}

/// Re-reads the load balancer's configuration, when there is one.
pub fn reload_lb_on_hangup(lb: Option<&LbAdmin>) {
    match lb.map(LbAdmin::apply_reload) {
        Some(Ok(n)) => info!(listeners = n, "load balancer reloaded"),
        Some(Err(e)) => {
            warn!(error = %format!("{e:#}"), "load balancer reload refused; the running configuration stays")
        }
        None => {}
    }
}
