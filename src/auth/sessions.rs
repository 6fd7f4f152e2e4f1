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

/// Where a session was started from, shown on the sessions page.
#[derive(Debug, Clone, Default)]
pub struct SessionOrigin {
    pub user_agent: Option<String>,
    pub client_address: Option<String>,
}

impl SessionOrigin {
    /// Bounded: a browser's user agent is a few hundred characters.
    fn user_agent(&self) -> Option<String> {
        self.user_agent
            .as_deref()
            .map(|ua| ua.chars().filter(|c| !c.is_control()).take(300).collect())
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
    origin: &SessionOrigin,
    settings: SessionSettings,
    max_per_user: u32,
) -> Result<NewSession, sqlx::Error> {
    let lifetime = chrono::Duration::from_std(settings.lifetime).unwrap_or(chrono::Duration::MAX);
    let session = NewSession {
        token: secret_token::generate("", 32),
        csrf_token: secret_token::generate("", 24),
        expires_at: Utc::now() + lifetime,
    };
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at, user_agent, client_address)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(secret_token::hash(&session.token))
    .bind(user_id)
    .bind(&session.csrf_token)
    .bind(session.expires_at)
    .bind(origin.user_agent())
    .bind(&origin.client_address)
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

/// A live session as its person (or an owner) sees it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct SessionInfo {
    pub id: i64,
    pub user_id: i64,
    pub user_agent: Option<String>,
    pub client_address: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The live sessions of `user_id`, most recently used first.
pub async fn list_sessions(
    conn: &mut PgConnection,
    user_id: i64,
    idle_timeout: StdDuration,
) -> Result<Vec<SessionInfo>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id, user_agent, client_address, created_at, last_seen_at, expires_at
         FROM sessions
         WHERE user_id = $1 AND expires_at > now()
           AND last_seen_at > now() - make_interval(secs => $2)
         ORDER BY last_seen_at DESC, id DESC",
    )
    .bind(user_id)
    .bind(idle_timeout.as_secs_f64())
    .fetch_all(conn)
    .await
}

/// Ends the session `session_id` of a user of `workspace_id`; returns whose it was.
pub async fn end_session(
    conn: &mut PgConnection,
    workspace_id: i64,
    session_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "DELETE FROM sessions s USING users u
         WHERE s.id = $1 AND u.id = s.user_id AND u.workspace_id = $2
         RETURNING s.user_id",
    )
    .bind(session_id)
    .bind(workspace_id)
    .fetch_optional(conn)
    .await
}

/// The user who holds `session_id`, if it is a session of `workspace_id`.
pub async fn session_holder(
    conn: &mut PgConnection,
    workspace_id: i64,
    session_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT s.user_id FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.id = $1 AND u.workspace_id = $2",
    )
    .bind(session_id)
    .bind(workspace_id)
    .fetch_optional(conn)
    .await
}

/// Ends every session of `user_id` but `keep` (none: all of them); returns how many ended.
pub async fn end_sessions_of(
    conn: &mut PgConnection,
    user_id: i64,
    keep: Option<i64>,
) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND ($2::int8 IS NULL OR id <> $2)")
            .bind(user_id)
            .bind(keep)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}
