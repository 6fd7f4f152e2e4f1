//! Browser sessions: a row per login holding the hash of the cookie's secret, its user,
//! its CSRF token, its expiry and its last use. Kept in Postgres so every instance sees every
//! session. A session ends at its absolute expiry or after a time unused, whichever is first.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::secret_token;

pub const COOKIE_NAME: &str = "therethere_session";

/// How long sessions live (`SESSION_LIFETIME_SECONDS`, `SESSION_IDLE_TIMEOUT_SECONDS`).
#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    /// From login, however busy the session is.
    pub lifetime: StdDuration,
    /// Without a request.
    pub idle_timeout: StdDuration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            lifetime: StdDuration::from_secs(14 * 24 * 3600),
            idle_timeout: StdDuration::from_secs(12 * 3600),
        }
    }
}

pub struct NewSession {
    /// The cookie value; only its hash is stored.
    pub token: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Starts a session for `user_id`; past `max_per_user` live sessions, the oldest end.
pub async fn create_session(
    conn: &mut PgConnection,
    user_id: i64,
    settings: SessionSettings,
    max_per_user: u32,
) -> Result<NewSession, sqlx::Error> {
    let lifetime = chrono::Duration::from_std(settings.lifetime).unwrap_or(chrono::Duration::MAX);
    let session = NewSession {
        token: secret_token::generate("", 32),
        csrf_token: secret_token::generate("", 24),
        expires_at: Utc::now() + lifetime,
    };
    sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(secret_token::hash(&session.token))
        .bind(user_id)
        .bind(&session.csrf_token)
        .bind(session.expires_at)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "DELETE FROM sessions WHERE user_id = $1 AND token_hash NOT IN (
             SELECT token_hash FROM sessions WHERE user_id = $1
             ORDER BY created_at DESC, token_hash LIMIT $2)",
    )
    .bind(user_id)
    .bind(i64::from(max_per_user.max(1)))
    .execute(&mut *conn)
    .await?;
    // Ended rows are swept here rather than by a timer: logins are frequent enough.
    sqlx::query(
        "DELETE FROM sessions WHERE expires_at < now() OR last_seen_at < now() - make_interval(secs => $1)",
    )
    .bind(settings.idle_timeout.as_secs_f64())
    .execute(conn)
    .await?;
    Ok(session)
}

pub async fn delete_session(conn: &mut PgConnection, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(secret_token::hash(token))
        .execute(conn)
        .await?;
    Ok(())
}
