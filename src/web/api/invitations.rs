//! `/api/invitations`: inviting people by email with a role (owners and admins; admins not
//! owners), listing the open invitations, resending and revoking them.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{AppJson, AppPath};
use crate::accounts::invitations::{self, Invitation, Sent};
use crate::auth::CurrentUser;
use crate::error::{AppError, ErrorBody};
use crate::helpdesk::users::Role;
use crate::web::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct NewInvitation {
    pub email: String,
    pub role: Role,
}

#[derive(Serialize, ToSchema)]
pub struct SentInvitation {
    #[serde(flatten)]
    pub invitation: Invitation,
    /// The link, only when the server has no `SMTP_URL` and the inviter must pass it on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_link: Option<String>,
}

fn answer(state: &AppState, sent: Sent) -> SentInvitation {
    let mail_configured = state.config().mail.smtp_url.is_some();
    SentInvitation {
        invitation: sent.invitation,
        invite_link: (!mail_configured).then_some(sent.link),
    }
}

#[utoipa::path(get, path = "/api/invitations", tag = "users",
    responses((status = 200, body = Vec<Invitation>), (status = 403, body = ErrorBody)))]
pub async fn list_invitations(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<AppJson<Vec<Invitation>>, AppError> {
    current.require_admin()?;
    let mut conn = state.pool().acquire().await?;
    Ok(AppJson(
        invitations::list_invitations(&mut conn, current.user.workspace_id).await?,
    ))
}

/// Mails a single-use link (valid `INVITATION_VALIDITY_HOURS`, 7 days by default).
#[utoipa::path(post, path = "/api/invitations", tag = "users", request_body = NewInvitation,
    responses((status = 201, body = SentInvitation), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
pub async fn create_invitation(
    State(state): State<AppState>,
    current: CurrentUser,
    AppJson(new): AppJson<NewInvitation>,
) -> Result<(StatusCode, AppJson<SentInvitation>), AppError> {
    let sent = invitations::invite(
        state.pool(),
        &current.user,
        &new.email,
        new.role,
        &state.invitation_mailing(),
    )
    .await?;
    Ok((StatusCode::CREATED, AppJson(answer(&state, sent))))
}

/// A new link and a new expiry; the previous link stops working.
#[utoipa::path(post, path = "/api/invitations/{id}/resend", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = SentInvitation), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn resend_invitation(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<SentInvitation>, AppError> {
    let sent =
        invitations::resend(state.pool(), &current.user, id, &state.invitation_mailing()).await?;
    Ok(AppJson(answer(&state, sent)))
}

#[utoipa::path(delete, path = "/api/invitations/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_invitation(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<StatusCode, AppError> {
    let mut conn = state.pool().acquire().await?;
    invitations::revoke(&mut conn, &current.user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
