//! `/api/v1/rooms`: room accounts (created with a password, shown without
//! any secret) with their registration status, and a CSV export.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::json_body::JsonBody;
use super::{error, ApiState};
use crate::store::{rooms_csv, NewRoom, RoomError};

pub async fn list(State(s): State<ApiState>) -> Response {
    match s.store.room_views(None).await {
        Ok(rooms) => Json(rooms).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

pub async fn csv(State(s): State<ApiState>) -> Response {
    match s.store.room_views(None).await {
        Ok(rooms) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"rooms.csv\"",
                ),
            ],
            rooms_csv(&rooms),
        )
            .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

pub async fn create(State(s): State<ApiState>, JsonBody(new): JsonBody<NewRoom>) -> Response {
    let account = match new.account(&s.realm) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match s.store.create_room(&account).await {
        Ok(()) => {
            s.room_policies_changed.notify_one();
            (StatusCode::CREATED, show_json(&s, &account.user).await).into_response()
        }
        Err(e @ RoomError::Exists(_)) => error(StatusCode::CONFLICT, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

pub(super) async fn show_json(s: &ApiState, user: &str) -> Response {
    match s.store.room_views(Some(user)).await {
        Ok(mut rooms) if !rooms.is_empty() => Json(rooms.remove(0)).into_response(),
        Ok(_) => error(StatusCode::NOT_FOUND, format!("no room {user}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

pub async fn show(State(s): State<ApiState>, Path(user): Path<String>) -> Response {
    show_json(&s, &user).await
}

pub async fn delete(State(s): State<ApiState>, Path(user): Path<String>) -> Response {
    match s.store.delete_room(&user).await {
        Ok(true) => {
            s.room_policies_changed.notify_one();
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => error(StatusCode::NOT_FOUND, format!("no room {user}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    password: String,
}

/// `PUT /api/v1/rooms/{user}/password` with `{"password": "…"}`.
pub async fn set_password(
    State(s): State<ApiState>,
    Path(user): Path<String>,
    JsonBody(change): JsonBody<PasswordChange>,
) -> Response {
    let changed = s
        .store
        .set_room_password(&user, &change.password, &s.realm)
        .await;
    match refused(changed, &user) {
        Some(refusal) => refusal,
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// The answer to a change of room `user` that did not happen (no such
/// room, an invalid value, the store failing); None when it did.
fn refused(changed: Result<bool, RoomError>, user: &str) -> Option<Response> {
    match changed {
        Ok(true) => None,
        Ok(false) => Some(error(StatusCode::NOT_FOUND, format!("no room {user}"))),
        Err(e @ RoomError::Invalid(_)) => Some(error(StatusCode::BAD_REQUEST, e)),
        Err(e) => Some(error(StatusCode::INTERNAL_SERVER_ERROR, e)),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallRateChange {
    max_call_rate_kbps: Option<u32>,
}

/// `PUT /api/v1/rooms/{user}/call-rate` with `{"max_call_rate_kbps": 512}`
/// (null: the installation's). Calls placed from then on use it; every
/// node learns it within [`crate::room_policies::REFRESH`].
pub async fn set_call_rate(
    State(s): State<ApiState>,
    Path(user): Path<String>,
    JsonBody(change): JsonBody<CallRateChange>,
) -> Response {
    let changed = s
        .store
        .set_room_call_rate(&user, change.max_call_rate_kbps)
        .await;
    if let Some(refusal) = refused(changed, &user) {
        return refusal;
    }
    s.room_policies_changed.notify_one();
    show_json(&s, &user).await
}
