//! The admin REST API (`/api/v1/…`) and `/metrics`, on axum. Loopback by
//! default (plain HTTP); anywhere else over HTTPS, with a token that every
//! request must then carry as `Authorization: Bearer <token>`. Calls are
//! listed with their media figures and can be muted; rooms in [`rooms`].

mod encryption;
mod invite;
mod json_body;
mod layouts;
pub mod lb;
mod rooms;

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use media_api::{LegId, LegStats, MediaControl};
use meeting::NewMeeting;
use registrar::Registrar;
use serde_json::json;
use signaling::core::CallInfo;
use signaling::driver::Query;
use subtle::ConstantTimeEq;

use json_body::JsonBody;
use tokio::sync::{mpsc, oneshot};

use crate::store::{CreateError, Store};

#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    /// Where admission is decided (call-outs take a seat too).
    pub seats: Arc<dyn meeting::Seats>,
    pub media: Arc<dyn MediaControl>,
    pub queries: mpsc::Sender<Query>,
    pub token: Option<String>,
    pub registrar: Arc<Registrar>,
    /// The digest realm room passwords are stored for.
    pub realm: String,
    /// The embedded load balancer, when configured.
    pub lb: Option<lb::LbAdmin>,
    /// The H.323 gatekeeper, when enabled.
    pub gatekeeper: Option<Arc<signaling::h323::ras::Gatekeeper>>,
    /// What the media engine and the embedded meeting service carry now.
    pub gauges: Gauges,
    /// Told when a room's call rate may have changed.
    pub room_policies_changed: Arc<tokio::sync::Notify>,
}

/// Live figures `/metrics` reads from shared counters (no round trip
/// through a media worker or a session task).
#[derive(Clone)]
pub struct Gauges {
    pub engine: Arc<media::RtpEngine>,
    pub sfu: Arc<meeting::sfu::SfuStats>,
    /// The SIP over TLS listener, when it runs.
    pub sip_tls: Option<Arc<signaling::tls::SipTls>>,
}

pub fn router(state: ApiState) -> Router {
    let lb_routes = state.lb.clone().map(lb::router).unwrap_or_default();
    Router::new()
        .route("/api/v1/meetings", get(list_meetings).post(create_meeting))
        .route(
            "/api/v1/meetings/{number}",
            get(show_meeting)
                .delete(delete_meeting)
                .patch(patch_meeting),
        )
        .route(
            "/api/v1/meetings/{number}/layout",
            axum::routing::put(layouts::set_meeting_layout),
        )
        .route(
            "/api/v1/meetings/{number}/encryption",
            axum::routing::put(encryption::set_meeting_encryption),
        )
        .route(
            "/api/v1/meetings/{number}/invite",
            axum::routing::post(invite::invite),
        )
        .route("/api/v1/rooms", get(rooms::list).post(rooms::create))
        .route("/api/v1/rooms.csv", get(rooms::csv))
        .route(
            "/api/v1/rooms/{user}",
            get(rooms::show).delete(rooms::delete),
        )
        .route(
            "/api/v1/rooms/{user}/password",
            axum::routing::put(rooms::set_password),
        )
        .route(
            "/api/v1/rooms/{user}/call-rate",
            axum::routing::put(rooms::set_call_rate),
        )
        .route(
            "/api/v1/rooms/{user}/encryption",
            axum::routing::put(encryption::set_room_encryption),
        )
        .route("/api/v1/calls", get(list_calls))
        .route("/api/v1/calls/{id}", axum::routing::patch(patch_call))
        .route(
            "/api/v1/calls/{id}/layout",
            axum::routing::put(layouts::set_call_layout),
        )
        .route("/metrics", get(metrics))
        .with_state(state.clone())
        .merge(lb_routes)
        .layer(axum::middleware::from_fn_with_state(
            state.token.clone(),
            require_token,
        ))
}

fn error(status: StatusCode, message: impl ToString) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

/// Refuses requests without the configured bearer token (compared in
/// constant time).
pub async fn require_token(
    State(token): State<Option<String>>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(token) = token.as_deref().filter(|t| !t.is_empty()) {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let matches = given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(token.as_bytes())));
        if !matches {
            return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
        }
    }
    next.run(req).await
}

async fn list_meetings(State(s): State<ApiState>) -> Response {
    match s.store.meetings().await {
        Ok(m) => Json(m).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn create_meeting(
    State(s): State<ApiState>,
    JsonBody(new): JsonBody<NewMeeting>,
) -> Response {
    let meeting = match new.validate() {
        Ok(m) => m,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match s.store.create_meeting(&meeting).await {
        Ok(()) => (StatusCode::CREATED, Json(meeting)).into_response(),
        Err(e @ CreateError::Exists(_)) => error(StatusCode::CONFLICT, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

pub(super) async fn show_meeting(
    State(s): State<ApiState>,
    Path(number): Path<String>,
) -> Response {
    match s.store.meeting(&number).await {
        Ok(Some(m)) => Json(m).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no meeting {number}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn delete_meeting(State(s): State<ApiState>, Path(number): Path<String>) -> Response {
    match s.store.delete_meeting(&number).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, format!("no meeting {number}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MeetingPatch {
    locked: bool,
}

async fn patch_meeting(
    State(s): State<ApiState>,
    Path(number): Path<String>,
    JsonBody(patch): JsonBody<MeetingPatch>,
) -> Response {
    match s.store.set_locked(&number, patch.locked).await {
        Ok(true) => show_meeting(State(s), Path(number)).await,
        Ok(false) => error(StatusCode::NOT_FOUND, format!("no meeting {number}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// A call with its media figures.
#[derive(serde::Serialize)]
struct CallView {
    #[serde(flatten)]
    call: CallInfo,
    media: Option<LegStats>,
}

/// 404 unless call `id` is one signaling knows.
pub(super) async fn unknown_call(s: &ApiState, id: u64) -> Option<Response> {
    let known = calls(s).await.is_some_and(|c| c.iter().any(|c| c.id == id));
    (!known).then(|| error(StatusCode::NOT_FOUND, format!("no call {id}")))
}

async fn calls(s: &ApiState) -> Option<Vec<CallInfo>> {
    let (tx, rx) = oneshot::channel();
    s.queries.send(Query::Calls(tx)).await.ok()?;
    rx.await.ok()
}

async fn list_calls(State(s): State<ApiState>) -> Response {
    let Some(calls) = calls(&s).await else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "signaling is not running");
    };
    let mut views = Vec::with_capacity(calls.len());
    for call in calls {
        let media = s.media.stats(LegId(call.id)).await.ok();
        views.push(CallView { call, media });
    }
    Json(views).into_response()
}

#[derive(serde::Deserialize)]
struct CallPatch {
    muted: bool,
}

/// `PATCH /api/v1/calls/{id}` with `{"muted": true}` keeps a room's audio out of its meeting.
async fn patch_call(
    State(s): State<ApiState>,
    Path(id): Path<u64>,
    JsonBody(patch): JsonBody<CallPatch>,
) -> Response {
    if let Some(unknown) = unknown_call(&s, id).await {
        return unknown;
    }
    match s.media.set_muted(LegId(id), patch.muted).await {
        Ok(()) => Json(json!({ "id": id, "muted": patch.muted })).into_response(),
        Err(e) => error(StatusCode::CONFLICT, e),
    }
}

async fn metrics(State(s): State<ApiState>) -> Response {
    let (tx, rx) = oneshot::channel();
    let _ = s.queries.send(Query::Stats(tx)).await;
    let Ok((calls, sip)) = rx.await else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "signaling is not running");
    };
    let mut out = String::new();
    let mut put = |name: &str, help: &str, v: u64| {
        out.push_str(&format!(
            "# HELP mra_{name} {help}\n# TYPE mra_{name} counter\nmra_{name} {v}\n"
        ));
    };
    put(
        "calls_total",
        "INVITEs that started a call attempt.",
        calls.calls_total,
    );
    put(
        "calls_admitted_total",
        "Calls admitted into a meeting.",
        calls.calls_admitted,
    );
    put(
        "calls_refused_total",
        "Calls refused by admission or the IVR.",
        calls.calls_refused,
    );
    put(
        "calls_cancelled_total",
        "Calls cancelled before answer.",
        calls.calls_cancelled,
    );
    put(
        "ivr_entered_total",
        "Calls that entered the IVR.",
        calls.ivr_entered,
    );
    put(
        "sip_requests_total",
        "Well-formed SIP requests received.",
        sip.requests,
    );
    put(
        "sip_responses_total",
        "Well-formed SIP responses received.",
        sip.responses,
    );
    put(
        "sip_malformed_rejected_total",
        "Malformed requests answered with 4xx/5xx.",
        sip.rejected_malformed,
    );
    put(
        "sip_not_sip_dropped_total",
        "Datagrams dropped because they were not SIP.",
        sip.dropped_not_sip,
    );
    put(
        "sip_malformed_responses_dropped_total",
        "Malformed responses dropped.",
        sip.dropped_malformed_responses,
    );
    put(
        "sip_retransmissions_absorbed_total",
        "Retransmitted requests absorbed by transactions.",
        sip.retransmissions_absorbed,
    );
    let r = &s.registrar.stats;
    let n = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    for (name, help, v) in [
        (
            "registrations_total",
            "Successful REGISTERs.",
            n(&r.registered),
        ),
        (
            "registration_challenges_total",
            "401 challenges sent.",
            n(&r.challenged),
        ),
        (
            "registration_auth_failures_total",
            "REGISTERs with wrong credentials or unknown users.",
            n(&r.auth_failures),
        ),
        (
            "registration_lockouts_total",
            "Source addresses locked out after repeated failures.",
            n(&r.lockouts),
        ),
        (
            "registration_locked_refused_total",
            "REGISTERs refused during a lockout.",
            n(&r.refused_locked),
        ),
        (
            "registration_stale_nonces_total",
            "REGISTERs with an expired or unknown nonce.",
            n(&r.stale_nonces),
        ),
        (
            "registration_replays_total",
            "REGISTERs replaying a nonce count.",
            n(&r.replays),
        ),
        (
            "registration_foreign_domain_total",
            "REGISTERs for a domain not served.",
            n(&r.refused_domain),
        ),
        (
            "registration_store_errors_total",
            "Registrar operations failed by the store.",
            n(&r.store_errors),
        ),
        (
            "keepalives_answered_total",
            "OPTIONS keepalives registered rooms answered.",
            n(&r.keepalives_answered),
        ),
        (
            "keepalives_unanswered_total",
            "OPTIONS keepalives that timed out or had no connection.",
            n(&r.keepalives_unanswered),
        ),
    ] {
        put(name, help, v);
    }
    if let Some(gk) = &s.gatekeeper {
        let g = &gk.stats;
        put(
            "h323_ras_requests_total",
            "RAS messages decoded.",
            n(&g.requests),
        );
        put(
            "h323_ras_rejects_total",
            "RAS requests answered with a reject or unknownMessageResponse.",
            n(&g.rejects),
        );
        put(
            "h323_ras_malformed_total",
            "RAS datagrams that did not decode.",
            n(&g.malformed),
        );
        put(
            "h323_ras_security_denials_total",
            "RAS requests refused by H.235 (no or bad token, replay, clock).",
            n(&g.security_denials),
        );
    }
    if let Some(tls) = &s.gauges.sip_tls {
        let t = &tls.stats;
        for (name, help, v) in [
            ("sip_tls_handshakes_total", "SIP TLS handshakes completed.", n(&t.handshakes)),
            (
                "sip_tls_handshake_failures_total",
                "SIP TLS handshakes that failed (garbage, no common version or cipher, a client certificate refused).",
                n(&t.handshake_failures),
            ),
            (
                "sip_tls_handshake_timeouts_total",
                "SIP TLS connections closed for not finishing the handshake in time.",
                n(&t.handshake_timeouts),
            ),
            (
                "sip_tls_refused_total",
                "SIP TLS connections closed at once: over the total or per-source limit.",
                n(&t.refused_over_limit),
            ),
        ] {
            put(name, help, v);
        }
        out.push_str(&format!(
            "# HELP mra_sip_tls_connections SIP TLS connections open now.
# TYPE mra_sip_tls_connections gauge
mra_sip_tls_connections {}
",
            n(&t.open)
        ));
    }
    let engine = s.gauges.engine.counts();
    let sfu = s.gauges.sfu.counts();
    for (name, help, v) in [
        ("media_legs", "Media legs on this node.", engine.legs as u64),
        (
            "media_workers",
            "Media worker threads on this node.",
            engine.workers as u64,
        ),
        (
            "media_meeting_hubs",
            "Meetings this node's rooms are in (one meeting-service session each).",
            engine.meeting_hubs as u64,
        ),
        (
            "media_peer_connections",
            "Peer connections this node's meeting hubs hold.",
            engine.peer_connections,
        ),
        (
            "media_video_encoders",
            "Video encoders on this node (one per distinct picture and output, shared by the rooms that take it).",
            engine.video_encoders,
        ),
        (
            "media_video_dropped",
            "Video packets dropped because a video worker was behind.",
            engine.video_dropped,
        ),
        (
            "media_video_frame_rate_divisor",
            "What the busiest video worker divides the pictures' frame rate by to keep up (1: full rate).",
            u64::from(engine.video_slowdown),
        ),
        (
            "meeting_participant_sessions",
            "Embedded meeting service: sessions of one participant (browsers).",
            sfu.browser_sessions,
        ),
        (
            "meeting_gateway_sessions",
            "Embedded meeting service: gateway sessions (a media node's rooms of one meeting).",
            sfu.gateway_sessions,
        ),
        (
            "meeting_peer_connections",
            "Embedded meeting service: peer connections it holds.",
            sfu.peer_connections,
        ),
    ] {
        out.push_str(&format!(
            "# HELP mra_{name} {help}\n# TYPE mra_{name} gauge\nmra_{name} {v}\n"
        ));
    }
    out.push_str(
        "# HELP mra_media_video_meeting_encoders Video encoders of one meeting on this node.\n\
         # TYPE mra_media_video_meeting_encoders gauge\n",
    );
    for (meeting, n) in s.gauges.engine.encoders_by_meeting() {
        out.push_str(&format!(
            "mra_media_video_meeting_encoders{{meeting=\"{meeting}\"}} {n}\n"
        ));
    }
    if let Some(lb) = &s.lb {
        out.push_str(&lb.balancer.metrics());
    }
    prometheus_text(out)
}

/// A Prometheus text exposition response.
pub fn prometheus_text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
