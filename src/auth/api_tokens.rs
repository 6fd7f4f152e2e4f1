//! Personal API tokens, sent as `Authorization: Bearer tt_...`. Stored hashed; the token
//! itself is shown once, when created.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Connection, PgConnection};

use super::secret_token;
use crate::error::AppError;
use crate::limits::{Limits, Quota, quota};

pub const PREFIX: &str = "tt_";

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Creates a token for `user_id` and returns it with the secret, which is not stored.
pub async fn create_api_token(
    conn: &mut PgConnection,
    limits: &Limits,
    user_id: i64,
    name: &str,
) -> Result<(ApiToken, String), AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::validation(
            "name",
            "Give the token a name of 1 to 100 characters.",
        ));
    }
    let mut tx = conn.begin().await?;
    quota::ensure_room(&mut tx, limits, Quota::ApiTokens, user_id).await?;
    let secret = secret_token::generate(PREFIX, 20);
    let token = sqlx::query_as::<_, ApiToken>(
        "INSERT INTO api_tokens (user_id, name, token_hash, prefix) VALUES ($1, $2, $3, $4)
         RETURNING id, name, prefix, created_at, last_used_at",
    )
    .bind(user_id)
    .bind(name)
    .bind(secret_token::hash(&secret))
    .bind(&secret[..PREFIX.len() + 6])
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((token, secret))
}

pub async fn list_api_tokens(
    conn: &mut PgConnection,
    user_id: i64,
) -> Result<Vec<ApiToken>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, prefix, created_at, last_used_at FROM api_tokens WHERE user_id = $1 ORDER BY id DESC",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await
}

pub async fn delete_api_token(
    conn: &mut PgConnection,
    user_id: i64,
    token_id: i64,
) -> Result<(), AppError> {
    let deleted = sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2")
        .bind(token_id)
        .bind(user_id)
        .execute(conn)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}
