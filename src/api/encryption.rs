//! Encryption policies of meetings and room accounts
//! (`PUT /api/v1/meetings/{n}/encryption`,
//! `PUT /api/v1/rooms/{user}/encryption`, `{"encryption": "required"}`;
//! null: the installation's `media.encryption`). A meeting's applies to
//! rooms admitted from then on; a room's reaches every node within
//! [`crate::room_policies::REFRESH`].

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use media_api::Encryption;

use super::json_body::JsonBody;
use super::{error, rooms, show_meeting, ApiState};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    encryption: Option<Encryption>,
}

pub async fn set_meeting_encryption(
    State(s): State<ApiState>,
    Path(number): Path<String>,
    JsonBody(policy): JsonBody<Policy>,
) -> Response {
    if let Err(e) = meeting::record::check_encryption(policy.encryption) {
        return error(StatusCode::BAD_REQUEST, e);
    }
    match s
        .store
        .set_meeting_encryption(&number, policy.encryption)
        .await
    {
        Ok(true) => show_meeting(State(s), Path(number)).await,
        Ok(false) => error(StatusCode::NOT_FOUND, format!("no meeting {number}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

pub async fn set_room_encryption(
    State(s): State<ApiState>,
    Path(user): Path<String>,
    JsonBody(policy): JsonBody<Policy>,
) -> Response {
    match s.store.set_room_encryption(&user, policy.encryption).await {
        Ok(true) => {
            s.room_policies_changed.notify_one();
            rooms::show_json(&s, &user).await
        }
        Ok(false) => error(StatusCode::NOT_FOUND, format!("no room {user}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}
