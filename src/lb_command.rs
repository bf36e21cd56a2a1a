//! `mra lb`: the load balancer alone, with its admin API and metrics;
//! SIGHUP (or POST /api/v1/lb/reload) re-reads the configuration without
//! dropping flows. Also the signal loop `mra run` shares.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::routing::get;
use lb::{Balancer, LbConfig};
use tracing::info;

use crate::api::lb::{router, LbAdmin, Reload};
use crate::api::{prometheus_text, require_token};
use crate::config::Config;
use crate::process::{reload_lb_on_hangup, wait_for_stop};

/// Reads the LB configuration: a file of its own (an `[lb]` table or its
/// content at top level) or, without one, `mra.toml` and the environment.
pub fn reader(path: Option<PathBuf>) -> Reload {
    Arc::new(move || match &path {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            LbConfig::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
        }
        None => Ok(Config::load(None, std::env::vars())?.lb),
    })
}

/// Reads the `[lb]` section of `mra run`'s configuration again.
pub fn embedded_reader(path: Option<PathBuf>) -> Reload {
    Arc::new(move || Ok(Config::load(path.as_deref(), std::env::vars())?.lb))
}

pub async fn run(cfg: &Config, reload: Reload) -> anyhow::Result<()> {
    crate::process::init_logging(&cfg.log);
    let lb_cfg = reload()?;
    if lb_cfg.listener.is_empty() {
        anyhow::bail!("no [[lb.listener]] configured");
    }
    let admin = LbAdmin {
        balancer: Arc::new(Balancer::start(&lb_cfg)?),
        reload,
    };
    let listener = tokio::net::TcpListener::bind(lb_cfg.admin)
        .await
        .with_context(|| format!("binding the LB admin API on {}", lb_cfg.admin))?;
    info!(addr = %listener.local_addr()?, "LB admin API listening");
    let balancer = admin.balancer.clone();
    let app = router(admin.clone())
        .route(
            "/metrics",
            get(move || {
                let balancer = balancer.clone();
                async move { prometheus_text(balancer.metrics()) }
            }),
        )
        .layer(axum::middleware::from_fn_with_state(
            cfg.admin.token.clone(),
            require_token,
        ));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    info!("mra lb running");
    wait_for_stop(|| reload_lb_on_hangup(Some(&admin))).await;
    server.abort();
    info!("stopped");
    Ok(())
}
