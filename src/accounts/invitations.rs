//! Invitations: an owner or admin invites someone by email with a role; the mail carries a
//! single-use link (its secret stored hashed) where they choose a name, handle and password.
//! Pending invitations can be resent (a new link, a new expiry) or revoked.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Connection, PgConnection, PgPool};
use utoipa::ToSchema;

use super::team::permissions;
use super::{AccountSettings, seconds};
use crate::app_url::AppUrl;
use crate::auth::secret_token;
use crate::error::{AppError, ConstraintConflict, ResultExt};
use crate::helpdesk::fields;
use crate::helpdesk::users::{self, NewUser, Role, User};
use crate::helpdesk::workspaces::get_workspace;
use crate::limits::{Limits, RatedAction, rate};
use crate::mail::outbox::{OutgoingMail, enqueue_mail};

/// Where an invitation link leads; the secret rides in the query, which is never logged.
pub const ACCEPT_PATH: &str = "/invitations/accept";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InvitationStatus {
    Pending,
    /// Past its expiry: resend it for a new link.
    Expired,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Invitation {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub status: InvitationStatus,
    pub invited_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    email: String,
    #[sqlx(try_from = "String")]
    role: Role,
    invited_by: Option<String>,
    created_at: DateTime<Utc>,
    sent_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl From<Row> for Invitation {
    fn from(r: Row) -> Self {
        Invitation {
            status: if r.expires_at > Utc::now() {
                InvitationStatus::Pending
            } else {
                InvitationStatus::Expired
            },
            id: r.id,
            email: r.email,
            role: r.role,
            invited_by: r.invited_by,
            created_at: r.created_at,
            sent_at: r.sent_at,
            expires_at: r.expires_at,
        }
    }
}

const SELECT: &str =
    "SELECT i.id, i.email, i.role, u.name AS invited_by, i.created_at, i.sent_at, i.expires_at
    FROM invitations i LEFT JOIN users u ON u.id = i.invited_by
    WHERE i.workspace_id = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL";

/// An invitation just made or resent, with its link when the caller must pass it on by hand
/// (no `SMTP_URL`: the mail waits in the outbox, so the inviter is shown the link instead).
pub struct Sent {
    pub invitation: Invitation,
    pub link: String,
}

/// What sending needs beside the database.
pub struct Mailing<'a> {
    pub settings: &'a AccountSettings,
    pub app_url: &'a AppUrl,
    /// Invitations sent or resent count against `INVITATIONS_PER_HOUR`.
    pub limits: &'a Limits,
}

/// The open invitations of the workspace, newest first.
pub async fn list_invitations(
    conn: &mut PgConnection,
    workspace_id: i64,
) -> Result<Vec<Invitation>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} ORDER BY i.id DESC"))
        .bind(workspace_id)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(Invitation::from).collect())
}

/// Invites `email` with `role`.
pub async fn invite(
    pool: &PgPool,
    actor: &User,
    email: &str,
    role: Role,
    mailing: &Mailing<'_>,
) -> Result<Sent, AppError> {
    permissions::may_invite(actor.role, role)?;
    let email = fields::email("email", email)?;
    count_against_rate(pool, actor, mailing).await?;
    let mut tx = pool.begin().await?;
    let member: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM users WHERE workspace_id = $1 AND lower(email) = lower($2)",
    )
    .bind(actor.workspace_id)
    .bind(&email)
    .fetch_optional(&mut *tx)
    .await?;
    if member.is_some() {
        return Err(AppError::conflict(
            "email",
            format!("{email} is already a member of this workspace."),
        ));
    }
    let secret = secret_token::generate("", 32);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO invitations (workspace_id, email, role, token_hash, invited_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6)) RETURNING id",
    )
    .bind(actor.workspace_id)
    .bind(&email)
    .bind(role.as_str())
    .bind(secret_token::hash(&secret))
    .bind(actor.id)
    .bind(seconds(mailing.settings.invitation_validity))
    .fetch_one(&mut *tx)
    .await
    .on_constraint(&[ConstraintConflict {
        constraint: "invitations_open_email_key",
        field: "email",
        message: "This address has been invited already: resend that invitation instead.",
    }])?;
    let sent = send(&mut tx, actor, id, &secret, mailing).await?;
    tx.commit().await?;
    tracing::info!(invitation.id = id, role = role.as_str(), "invitation sent");
    Ok(sent)
}

/// Sends an open invitation again with a new link and a new expiry (the old link stops).
pub async fn resend(
    pool: &PgPool,
    actor: &User,
    invitation_id: i64,
    mailing: &Mailing<'_>,
) -> Result<Sent, AppError> {
    permissions::may_invite(actor.role, Role::Agent)?;
    count_against_rate(pool, actor, mailing).await?;
    let mut tx = pool.begin().await?;
    let invitation = open_invitation(&mut tx, actor.workspace_id, invitation_id).await?;
    permissions::may_invite(actor.role, invitation.role)?;
    let secret = secret_token::generate("", 32);
    sqlx::query(
        "UPDATE invitations SET token_hash = $2, sent_at = now(),
                expires_at = now() + make_interval(secs => $3)
         WHERE id = $1",
    )
    .bind(invitation_id)
    .bind(secret_token::hash(&secret))
    .bind(seconds(mailing.settings.invitation_validity))
    .execute(&mut *tx)
    .await?;
    let sent = send(&mut tx, actor, invitation_id, &secret, mailing).await?;
    tx.commit().await?;
    Ok(sent)
}

/// Withdraws an open invitation: its link stops working.
pub async fn revoke(
    conn: &mut PgConnection,
    actor: &User,
    invitation_id: i64,
) -> Result<(), AppError> {
    let mut tx = conn.begin().await?;
    let invitation = open_invitation(&mut tx, actor.workspace_id, invitation_id).await?;
    permissions::may_invite(actor.role, invitation.role)?;
    sqlx::query("UPDATE invitations SET revoked_at = now() WHERE id = $1")
        .bind(invitation_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn count_against_rate(
    pool: &PgPool,
    actor: &User,
    mailing: &Mailing<'_>,
) -> Result<(), AppError> {
    rate::hit(
        pool,
        mailing.limits,
        RatedAction::Invitation,
        actor.workspace_id,
    )
    .await
}

async fn open_invitation(
    conn: &mut PgConnection,
    workspace_id: i64,
    invitation_id: i64,
) -> Result<Invitation, AppError> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} AND i.id = $2 FOR UPDATE OF i"))
        .bind(workspace_id)
        .bind(invitation_id)
        .fetch_optional(conn)
        .await?;
    row.map(Invitation::from).ok_or(AppError::NotFound)
}

async fn send(
    conn: &mut PgConnection,
    actor: &User,
    invitation_id: i64,
    secret: &str,
    mailing: &Mailing<'_>,
) -> Result<Sent, AppError> {
    let invitation = open_invitation(conn, actor.workspace_id, invitation_id).await?;
    let workspace = get_workspace(conn, actor.workspace_id).await?;
    let link = mailing
        .app_url
        .link(&format!("{ACCEPT_PATH}?token={secret}"));
    let days = mailing
        .settings
        .invitation_validity
        .as_secs()
        .div_ceil(86_400);
    let body = format!(
        "{inviter} invited you to join {workspace} on therethere as {role}.\n\n\
         Choose your name and password here (the link works once, for {days} day{s}):\n{link}\n\n\
         If you weren't expecting this, ignore this mail.\n",
        inviter = actor.name,
        workspace = workspace.name,
        role = invitation.role.as_str(),
        s = if days == 1 { "" } else { "s" },
    );
    let subject = format!("You're invited to {} on therethere", workspace.name);
    enqueue_mail(
        conn,
        OutgoingMail {
            workspace_id: Some(actor.workspace_id),
            to: &invitation.email,
            subject: &subject,
            body: &body,
            holds_secret: true,
        },
    )
    .await?;
    Ok(Sent { invitation, link })
}

/// What the invitation page shows before the invitee accepts.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvitationPreview {
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub workspace_name: String,
    pub invited_by: Option<String>,
}

/// The open, unexpired invitation behind a link's secret.
pub async fn preview(
    conn: &mut PgConnection,
    secret: &str,
) -> Result<Option<InvitationPreview>, sqlx::Error> {
    sqlx::query_as(
        "SELECT i.email, i.role, w.name AS workspace_name, u.name AS invited_by
         FROM invitations i JOIN workspaces w ON w.id = i.workspace_id
         LEFT JOIN users u ON u.id = i.invited_by
         WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL
           AND i.expires_at > now()",
    )
    .bind(secret_token::hash(secret))
    .fetch_optional(conn)
    .await
}

/// What the invitee chooses.
pub struct Acceptance<'a> {
    pub name: &'a str,
    pub handle: &'a str,
    pub password: &'a str,
}

pub fn link_no_longer_valid() -> AppError {
    AppError::validation(
        "token",
        "This invitation link is no longer valid: it was used, revoked or has expired. Ask for a new one.",
    )
}

/// Accepts the invitation behind `secret`: the person is created with the invited email and
/// role, and the link stops working. Nothing changes if any choice is refused.
pub async fn accept(
    conn: &mut PgConnection,
    secret: &str,
    choice: Acceptance<'_>,
) -> Result<User, AppError> {
    let mut tx = conn.begin().await?;
    let claimed: Option<(i64, i64, String, String)> = sqlx::query_as(
        "UPDATE invitations SET accepted_at = now()
         WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()
         RETURNING id, workspace_id, email, role",
    )
    .bind(secret_token::hash(secret))
    .fetch_optional(&mut *tx)
    .await?;
    let (id, workspace_id, email, role) = claimed.ok_or_else(link_no_longer_valid)?;
    let role = Role::try_from(role).map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
    let user = users::create_user(
        &mut tx,
        workspace_id,
        NewUser {
            name: choice.name,
            email: &email,
            handle: choice.handle,
            password: choice.password,
            role,
        },
    )
    .await?;
    sqlx::query("UPDATE invitations SET accepted_user_id = $2 WHERE id = $1")
        .bind(id)
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(invitation.id = id, user.id = user.id, "invitation accepted");
    Ok(user)
}
