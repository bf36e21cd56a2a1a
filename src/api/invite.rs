//! `POST /api/v1/meetings/{number}/invite`: the gateway calls a room into
//! the meeting — a registered room by its user (over the flow it registered
//! on, best contact first; over H.323 to its call-signalling address when
//! it registered with our gatekeeper), or any SIP URI with an IP address. Answers 202
//! with the call's id, whose progress (dialing, ringing, in-meeting) shows
//! in `/api/v1/calls`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use meeting::SeatRequest;
use serde_json::json;
use signaling::driver::{CallOut, Query};
use signaling::sip::Transport;
use tokio::sync::oneshot;

use super::json_body::JsonBody;
use super::{error, ApiState};
use crate::store::MIN_CALL_RATE_KBPS;
use registrar::h323::H323Endpoint;
use registrar::unix_now;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    /// A registered room's user.
    room: Option<String>,
    /// Or any `sip:` URI whose host is an IP address.
    uri: Option<String>,
    /// Name shown in the meeting (default: the room's name or the URI's user).
    name: Option<String>,
    /// This call's rate, kbit/s (default: the room account's, else the
    /// installation's).
    max_call_rate_kbps: Option<u32>,
}

pub async fn invite(
    State(s): State<ApiState>,
    Path(number): Path<String>,
    JsonBody(invite): JsonBody<Invite>,
) -> Response {
    let meeting = match s.store.meeting(&number).await {
        Ok(Some(m)) => m,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no meeting {number}")),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let target = match (&invite.room, &invite.uri) {
        (Some(user), None) => registered_room(&s, user).await,
        (None, Some(uri)) => any_uri(uri),
        _ => Err((StatusCode::BAD_REQUEST, "give either room or uri".into())),
    };
    let target = match target {
        Ok(t) => t,
        Err((status, why)) => return error(status, why),
    };
    let max_call_rate_kbps = match invite.max_call_rate_kbps {
        Some(k) if k < MIN_CALL_RATE_KBPS => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("max_call_rate_kbps: at least {MIN_CALL_RATE_KBPS}"),
            )
        }
        Some(k) => Some(k),
        None => target.max_call_rate_kbps,
    };
    let uri = target.uri.clone();
    let display_name = invite.name.unwrap_or(target.shown);
    // Call-outs are admitted like dial-ins: a seat first, so a full or
    // locked meeting is refused here rather than after the room answers.
    let request = SeatRequest {
        number: meeting.number,
        password: meeting.password,
        holder: display_name.clone(),
    };
    let seat = match s.seats.take(request).await {
        Ok(Ok(seat)) => seat,
        Ok(Err(refusal)) => return error(StatusCode::CONFLICT, refusal.text()),
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e),
    };
    let out = CallOut {
        seat,
        uri: target.uri,
        route: target.route,
        display_name,
        transport: target.transport,
        remote: target.remote,
        h323_alias: target.h323_alias,
        max_call_rate_kbps,
        encryption: target.encryption,
    };
    let (tx, rx) = oneshot::channel();
    if s.queries
        .send(Query::Dial(Box::new(out), tx))
        .await
        .is_err()
    {
        return error(StatusCode::SERVICE_UNAVAILABLE, "signaling is not running");
    }
    match rx.await {
        Ok(Ok(call)) => (
            StatusCode::ACCEPTED,
            Json(json!({ "call": call, "meeting": number, "uri": uri })),
        )
            .into_response(),
        Ok(Err(why)) => error(StatusCode::CONFLICT, why),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "signaling is not running"),
    }
}

/// Where and how to call.
struct Target {
    uri: String,
    route: Vec<String>,
    /// The name shown unless the request gives one.
    shown: String,
    transport: Transport,
    remote: SocketAddr,
    h323_alias: Option<String>,
    /// The room account's own call rate.
    max_call_rate_kbps: Option<u32>,
    /// The room account's own encryption policy.
    encryption: Option<media_api::Encryption>,
}

/// Why a target cannot be called: the API's status and message.
type Refused = (StatusCode, String);

/// A registered room's best live contact: answering keepalives, highest q,
/// most recently registered.
async fn registered_room(s: &ApiState, user: &str) -> Result<Target, Refused> {
    let failed = |e: sqlx::Error| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let account = s
        .store
        .room(user)
        .await
        .map_err(failed)?
        .ok_or((StatusCode::NOT_FOUND, format!("no room {user}")))?;
    let bindings = s.store.bindings(Some(user)).await.map_err(failed)?;
    let now = unix_now();
    let best = bindings
        .into_iter()
        .filter(|b| b.expires_at > now)
        .filter_map(|b| Some((reach(&b)?, b)))
        .max_by(|(_, a), (_, b)| {
            let rank = |b: &registrar::Binding| (b.reachable != Some(false), b.q, b.updated_at);
            rank(a)
                .partial_cmp(&rank(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    let Some((remote, b)) = best else {
        return Err((
            StatusCode::CONFLICT,
            format!("room {user} is not registered"),
        ));
    };
    let transport = Transport::from_name(&b.transport).unwrap_or(Transport::Udp);
    let h323_alias = H323Endpoint::from_binding(&b).map(|e| e.alias);
    Ok(Target {
        uri: b.contact,
        route: b.path,
        shown: account.display_name,
        transport,
        remote,
        h323_alias,
        max_call_rate_kbps: account.max_call_rate_kbps,
        encryption: account.encryption,
    })
}

/// Where a binding is reached: a SIP room at the address it registered
/// from, an H.323 room at the call-signalling address it registered.
fn reach(b: &registrar::Binding) -> Option<SocketAddr> {
    match H323Endpoint::from_binding(b) {
        Some(endpoint) => Some(endpoint.call_signal),
        None => b.source.parse().ok(),
    }
}

/// A `sip:` URI with an IP host (default port 5060), over UDP.
fn any_uri(uri: &str) -> Result<Target, Refused> {
    let bad = |why: &str| (StatusCode::BAD_REQUEST, format!("uri {uri:?}: {why}"));
    let parsed = rsip::Uri::try_from(uri).map_err(|_| bad("not a SIP URI"))?;
    let host = parsed.host_with_port.host.to_string();
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| bad("the host must be an IP address (or call a registered room)"))?;
    let lower = uri.to_ascii_lowercase();
    if lower.contains("transport=tcp")
        || lower.contains("transport=tls")
        || lower.starts_with("sips:")
    {
        return Err(bad("a TCP or TLS call-out needs a room registered over it"));
    }
    let port = parsed.host_with_port.port.map_or(5060, |p| *p.value());
    Ok(Target {
        uri: uri.to_owned(),
        route: Vec::new(),
        shown: parsed.user().unwrap_or(&host).to_owned(),
        transport: Transport::Udp,
        remote: SocketAddr::new(ip, port),
        h323_alias: None,
        max_call_rate_kbps: None,
        encryption: None,
    })
}
