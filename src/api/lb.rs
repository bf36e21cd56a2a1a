//! The load balancer's admin routes: status, drain, reload, metrics.
//! Served by `mra lb` alone and merged into `mra run`'s admin API when the
//! LB is embedded.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use lb::{AdminError, Balancer, LbConfig};
use serde_json::json;

use super::error;

/// Re-reads the LB's configuration (file and environment).
pub type Reload = Arc<dyn Fn() -> anyhow::Result<LbConfig> + Send + Sync>;

#[derive(Clone)]
pub struct LbAdmin {
    pub balancer: Arc<Balancer>,
    pub reload: Reload,
}

impl LbAdmin {
    /// Reloads and applies the configuration; the error says what is wrong.
    pub fn apply_reload(&self) -> anyhow::Result<usize> {
        let config = (self.reload)()?;
        self.balancer.reload(&config)?;
        Ok(config.listener.len())
    }
}

pub fn router(admin: LbAdmin) -> Router {
    Router::new()
        .route("/api/v1/lb", get(status))
        .route("/api/v1/lb/reload", post(reload))
        .route(
            "/api/v1/lb/listeners/{name}/backends/{backend}/drain",
            put(drain).delete(undrain),
        )
        .with_state(admin)
}

async fn status(State(a): State<LbAdmin>) -> Response {
    Json(json!({ "listeners": a.balancer.status() })).into_response()
}

async fn reload(State(a): State<LbAdmin>) -> Response {
    match a.apply_reload() {
        Ok(n) => Json(json!({ "listeners": n })).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, format!("{e:#}")),
    }
}

async fn drain(State(a): State<LbAdmin>, Path(p): Path<(String, String)>) -> Response {
    set_draining(&a, p, true)
}

async fn undrain(State(a): State<LbAdmin>, Path(p): Path<(String, String)>) -> Response {
    set_draining(&a, p, false)
}

fn set_draining(a: &LbAdmin, (name, backend): (String, String), on: bool) -> Response {
    let Ok(addr) = backend.parse::<SocketAddr>() else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("{backend:?} is not ip:port"),
        );
    };
    match a.balancer.drain(&name, addr, on) {
        Ok(()) => {
            Json(json!({ "listener": name, "backend": addr, "draining": on })).into_response()
        }
        Err(e @ (AdminError::NoListener(_) | AdminError::NoBackend(..))) => {
            error(StatusCode::NOT_FOUND, e)
        }
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}
