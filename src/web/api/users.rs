//! `/api/users`: the caller's teammates with role, status and last use; roles (owners),
//! deactivation and reactivation (owners, and admins for non-owners), ending sessions.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::{AppJson, AppPath};
use crate::accounts::team::{self, TeamMember};
use crate::auth::CurrentUser;
use crate::auth::sessions::{self, SessionInfo};
use crate::error::{AppError, ErrorBody};
use crate::helpdesk::users::Role;
use crate::web::state::AppState;

#[utoipa::path(get, path = "/api/users", tag = "users",
    responses((status = 200, body = Vec<TeamMember>), (status = 401, body = ErrorBody)))]
pub async fn list_users(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<AppJson<Vec<TeamMember>>, AppError> {
    let mut conn = state.pool().acquire().await?;
    Ok(AppJson(
        team::list_members(&mut conn, current.user.workspace_id).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct RoleChange {
    pub role: Role,
}

/// Changes someone's role (owners only). The last active owner cannot be demoted (409).
#[utoipa::path(patch, path = "/api/users/{id}", tag = "users", params(("id" = i64, Path)),
    request_body = RoleChange,
    responses((status = 200, body = TeamMember), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_user(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
    AppJson(change): AppJson<RoleChange>,
) -> Result<AppJson<TeamMember>, AppError> {
    let mut conn = state.pool().acquire().await?;
    let member = team::change_role(&mut conn, &current.user, id, change.role).await?;
    state.credentials().forget_all();
    Ok(AppJson(member))
}

/// Takes someone's access away at once: sessions end, API tokens and personal destinations
/// stop. Owners for anyone, admins for admins and agents; never oneself or the last owner.
#[utoipa::path(post, path = "/api/users/{id}/deactivate", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = TeamMember), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn deactivate_user(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<TeamMember>, AppError> {
    let mut conn = state.pool().acquire().await?;
    let member = team::deactivate(&mut conn, &current.user, id).await?;
    // Other instances forget it when notified; this one at once.
    state.credentials().forget_all();
    Ok(AppJson(member))
}

/// Gives a deactivated person their access back (password and API tokens work again).
#[utoipa::path(post, path = "/api/users/{id}/reactivate", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = TeamMember), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn reactivate_user(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<TeamMember>, AppError> {
    let mut conn = state.pool().acquire().await?;
    let member = team::reactivate(&mut conn, &current.user, id).await?;
    state.credentials().forget_all();
    Ok(AppJson(member))
}

/// The caller's live browser sessions.
#[utoipa::path(get, path = "/api/sessions", tag = "users",
    responses((status = 200, body = Vec<SessionInfo>), (status = 401, body = ErrorBody)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<AppJson<Vec<SessionInfo>>, AppError> {
    let mut conn = state.pool().acquire().await?;
    Ok(AppJson(
        sessions::list_sessions(
            &mut conn,
            current.user.id,
            state.config().sessions.idle_timeout,
        )
        .await?,
    ))
}

/// Ends a session: one's own, or (owners) anyone's in the workspace.
#[utoipa::path(delete, path = "/api/sessions/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn end_session(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<StatusCode, AppError> {
    let mut conn = state.pool().acquire().await?;
    team::end_session(&mut conn, &current.user, id).await?;
    state.credentials().forget_all();
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of a person (owners for anyone; anyone for themselves).
#[utoipa::path(delete, path = "/api/users/{id}/sessions", tag = "users", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn end_user_sessions(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<StatusCode, AppError> {
    let mut conn = state.pool().acquire().await?;
    team::end_all_sessions(&mut conn, &current.user, id).await?;
    state.credentials().forget_all();
    Ok(StatusCode::NO_CONTENT)
}
