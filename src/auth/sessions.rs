//! Browser sessions: a row per login holding the hash of the cookie's secret, its user,
//! its CSRF token and its expiry. Kept in Postgres so every instance sees every session.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;

use super::secret_token;

pub const COOKIE_NAME: &str = "therethere_session";
pub const LIFETIME: Duration = Duration::days(14);

pub struct NewSession {
    /// The cookie value; only its hash is stored.
    pub token: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

pub async fn create_session(
    conn: &mut PgConnection,
    user_id: i64,
) -> Result<NewSession, sqlx::Error> {
    let session = NewSession {
        token: secret_token::generate("", 32),
        csrf_token: secret_token::generate("", 24),
        expires_at: Utc::now() + LIFETIME,
    };
    sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(secret_token::hash(&session.token))
        .bind(user_id)
        .bind(&session.csrf_token)
        .bind(session.expires_at)
        .execute(&mut *conn)
        .await?;
    // Expired rows are swept here rather than by a timer: logins are frequent enough.
    sqlx::query("DELETE FROM sessions WHERE expires_at < now()")
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
