//! `GET /api/users`: the caller's teammates.

use axum::extract::State;

use super::extract::AppJson;
use crate::auth::CurrentUser;
use crate::error::{AppError, ErrorBody};
use crate::helpdesk::users::{self, User};
use crate::web::state::AppState;

#[utoipa::path(get, path = "/api/users", tag = "users",
    responses((status = 200, body = Vec<User>), (status = 401, body = ErrorBody)))]
pub async fn list_users(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<AppJson<Vec<User>>, AppError> {
    let mut conn = state.pool().acquire().await?;
    Ok(AppJson(
        users::list_users(&mut conn, current.user.workspace_id).await?,
    ))
}
