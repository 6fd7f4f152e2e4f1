//! `/api/channels`: list (anyone), create (owner and admin).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::AppJson;
use crate::auth::CurrentUser;
use crate::error::{AppError, ErrorBody};
use crate::helpdesk::channels::{self, Channel};
use crate::web::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct NewChannel {
    pub name: String,
}

#[utoipa::path(get, path = "/api/channels", tag = "channels",
    responses((status = 200, body = Vec<Channel>), (status = 401, body = ErrorBody)))]
pub async fn list_channels(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<AppJson<Vec<Channel>>, AppError> {
    let mut conn = state.pool().acquire().await?;
    Ok(AppJson(
        channels::list_channels(&mut conn, current.user.workspace_id).await?,
    ))
}

#[utoipa::path(post, path = "/api/channels", tag = "channels", request_body = NewChannel,
    responses((status = 201, body = Channel), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_channel(
    State(state): State<AppState>,
    current: CurrentUser,
    AppJson(new): AppJson<NewChannel>,
) -> Result<(StatusCode, AppJson<Channel>), AppError> {
    current.require_admin()?;
    let mut conn = state.pool().acquire().await?;
    let channel = channels::create_channel(&mut conn, current.user.workspace_id, &new.name).await?;
    Ok((StatusCode::CREATED, AppJson(channel)))
}
