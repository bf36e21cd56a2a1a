//! Layout control: a meeting's layout and polling
//! (`PUT /api/v1/meetings/{n}/layout`, stored, and told to this node's
//! media at once; other nodes take it with their next room's join), and
//! one call's own layout (`PUT /api/v1/calls/{id}/layout`). The layout
//! in force for a call shows in `/api/v1/calls` (`media.video.layout`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use media_api::layout::{Layout, LayoutChange, MeetingLayout};
use media_api::LegId;
use serde_json::json;

use super::json_body::JsonBody;
use super::{error, show_meeting, unknown_call, ApiState};

pub async fn set_meeting_layout(
    State(s): State<ApiState>,
    Path(number): Path<String>,
    JsonBody(layout): JsonBody<MeetingLayout>,
) -> Response {
    if let Err(e) = layout.check() {
        return error(StatusCode::BAD_REQUEST, e);
    }
    match s.store.set_meeting_layout(&number, layout).await {
        Ok(true) => {}
        Ok(false) => return error(StatusCode::NOT_FOUND, format!("no meeting {number}")),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
    if let Err(e) = s.media.set_meeting_layout(number.clone(), layout).await {
        return error(StatusCode::INTERNAL_SERVER_ERROR, e);
    }
    show_meeting(State(s), Path(number)).await
}

/// A call's own layout (None: its meeting's again).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallLayout {
    layout: Option<Layout>,
}

pub async fn set_call_layout(
    State(s): State<ApiState>,
    Path(id): Path<u64>,
    JsonBody(body): JsonBody<CallLayout>,
) -> Response {
    if let Some(unknown) = unknown_call(&s, id).await {
        return unknown;
    }
    let change = LayoutChange::Set(body.layout);
    match s.media.set_layout(LegId(id), change).await {
        Ok(()) => Json(json!({ "id": id, "layout": body.layout })).into_response(),
        Err(e) => error(StatusCode::CONFLICT, e),
    }
}
