//! What every long-running command sets up the same way: logging, and
//! waiting for the signal to stop (reloading the load balancer on SIGHUP
//! meanwhile).

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

/// Waits for SIGTERM or SIGINT; SIGHUP reloads the load balancer.
pub async fn wait_for_stop(lb: Option<&LbAdmin>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut hup = signal(SignalKind::hangup()).expect("SIGHUP handler");
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = tokio::signal::ctrl_c() => return,
            _ = hup.recv() => match lb.map(LbAdmin::apply_reload) {
                Some(Ok(n)) => info!(listeners = n, "load balancer reloaded"),
                Some(Err(e)) => warn!(error = %format!("{e:#}"), "load balancer reload refused; the running configuration stays"),
                None => {}
            },
        }
    }
}
