//! `GET /api/me`: who the caller is, and in which workspace.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::AppJson;
use crate::auth::CurrentUser;
use crate::error::{AppError, ErrorBody};
use crate::helpdesk::users::User;
use crate::helpdesk::workspaces::{Workspace, get_workspace};
use crate::web::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub user: User,
    pub workspace: Workspace,
}

#[utoipa::path(get, path = "/api/me", tag = "me",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn get_me(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<AppJson<Me>, AppError> {
    let mut conn = state.pool().acquire().await?;
    let workspace = get_workspace(&mut conn, current.user.workspace_id).await?;
    Ok(AppJson(Me {
        user: current.user,
        workspace,
    }))
}
