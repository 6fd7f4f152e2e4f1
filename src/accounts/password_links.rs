//! Single-use links to choose a password: `setup` for an owner created by
//! `therethere workspace create` (printed once), `reset` for a forgotten password (mailed).
//! Only the secret's hash is stored; using a link ends every session of its person and every
//! other link of theirs.

use sqlx::{Connection, PgConnection};

use super::{AccountSettings, seconds};
use crate::app_url::AppUrl;
use crate::auth::{secret_token, sessions};
use crate::error::AppError;
use crate::helpdesk::password;
use crate::helpdesk::users::User;
use crate::mail::outbox::{OutgoingMail, enqueue_mail};

/// Where a link leads; the secret rides in the query, which is never logged.
pub const PATH: &str = "/password/choose";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A new account's first password.
    Setup,
    /// A forgotten one.
    Reset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Setup => "setup",
            Purpose::Reset => "reset",
        }
    }
}

impl TryFrom<String> for Purpose {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "setup" => Ok(Purpose::Setup),
            "reset" => Ok(Purpose::Reset),
            other => Err(format!("unknown link purpose {other:?}")),
        }
    }
}

/// Makes a link for `user_id`; returns its absolute URL (the only place the secret exists).
pub async fn create_link(
    conn: &mut PgConnection,
    app_url: &AppUrl,
    user_id: i64,
    purpose: Purpose,
    valid_for: std::time::Duration,
) -> Result<String, sqlx::Error> {
    let secret = secret_token::generate("", 32);
    sqlx::query(
        "INSERT INTO password_links (token_hash, user_id, purpose, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
    )
    .bind(secret_token::hash(&secret))
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(seconds(valid_for))
    .execute(conn)
    .await?;
    Ok(app_url.link(&format!("{PATH}?token={secret}")))
}

/// Mails a reset link to the active person with this email, if there is one. Callers answer
/// the same whatever happens here, and run it apart from the answer so that its time says
/// nothing either.
pub async fn mail_reset_link(
    conn: &mut PgConnection,
    settings: &AccountSettings,
    app_url: &AppUrl,
    email: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    let user: Option<(i64, i64, String)> = sqlx::query_as(
        "SELECT id, workspace_id, email FROM users
         WHERE lower(email) = lower($1) AND deactivated_at IS NULL",
    )
    .bind(email.trim())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((user_id, workspace_id, to)) = user else {
        return Ok(());
    };
    // Only the newest reset link works.
    sqlx::query("DELETE FROM password_links WHERE user_id = $1 AND purpose = 'reset'")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let link = create_link(
        &mut tx,
        app_url,
        user_id,
        Purpose::Reset,
        settings.reset_validity,
    )
    .await?;
    let minutes = settings.reset_validity.as_secs().div_ceil(60);
    let body = format!(
        "Someone asked to reset the password of your therethere account.\n\n\
         Choose a new password here (the link works once, for {minutes} minutes):\n{link}\n\n\
         If it wasn't you, ignore this mail: your password stays as it is.\n"
    );
    enqueue_mail(
        &mut tx,
        OutgoingMail {
            workspace_id: Some(workspace_id),
            to: &to,
            subject: "Reset your therethere password",
            body: &body,
            holds_secret: true,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Whom a valid link is for, and why; `None` for a used, expired or unknown link.
pub async fn check_link(
    conn: &mut PgConnection,
    secret: &str,
) -> Result<Option<(Purpose, String)>, sqlx::Error> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT l.purpose, u.email FROM password_links l JOIN users u ON u.id = l.user_id
         WHERE l.token_hash = $1 AND l.used_at IS NULL AND l.expires_at > now()
           AND u.deactivated_at IS NULL",
    )
    .bind(secret_token::hash(secret))
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(|(purpose, email)| Purpose::try_from(purpose).ok().map(|p| (p, email))))
}

pub fn link_no_longer_valid() -> AppError {
    AppError::validation(
        "token",
        "This link is no longer valid: it was used or has expired. Ask for a new one.",
    )
}

/// Sets the password of the link's person and spends the link; every session of theirs ends
/// (a reset is what one does when someone else may be signed in).
pub async fn use_link(
    conn: &mut PgConnection,
    secret: &str,
    new_password: &str,
) -> Result<User, AppError> {
    let hash = password::hash(password::acceptable(new_password)?)?;
    let mut tx = conn.begin().await?;
    let user: Option<User> = sqlx::query_as(
        "WITH spent AS (
             UPDATE password_links SET used_at = now()
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
             RETURNING user_id)
         UPDATE users u SET password_hash = $2 FROM spent
         WHERE u.id = spent.user_id AND u.deactivated_at IS NULL
         RETURNING u.id, u.workspace_id, u.name, u.email, u.handle, u.role",
    )
    .bind(secret_token::hash(secret))
    .bind(&hash)
    .fetch_optional(&mut *tx)
    .await?;
    let user = user.ok_or_else(link_no_longer_valid)?;
    sqlx::query("DELETE FROM password_links WHERE user_id = $1 AND used_at IS NULL")
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    sessions::end_sessions_of(&mut tx, user.id, None).await?;
    tx.commit().await?;
    tracing::info!(user.id = user.id, "password chosen through a link");
    Ok(user)
}
