//! Personal API tokens, sent as `Authorization: Bearer tt_...`. Stored hashed; the token
//! itself is shown once, when created. A token has a scope (`read`: safe methods only;
//! `write`: whatever its person may do) and may expire; only a browser session creates one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Connection, PgConnection};
use utoipa::ToSchema;

use super::secret_token;
use crate::error::AppError;
use crate::limits::{Limits, Quota, quota};

pub const PREFIX: &str = "tt_";

/// The longest expiry a token may be given: a year.
pub const MAX_EXPIRY_DAYS: u32 = 366;

/// What a token lets its bearer do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// Only safe methods (GET, HEAD, OPTIONS).
    Read,
    /// Whatever the person may do.
    Write,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Write => "write",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "read" => Some(TokenScope::Read),
            "write" => Some(TokenScope::Write),
            _ => None,
        }
    }

    /// Whether a request with this method may go through on a token of this scope.
    pub fn allows(self, method: &axum::http::Method) -> bool {
        self == TokenScope::Write || method.is_safe()
    }
}

impl TryFrom<String> for TokenScope {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        TokenScope::parse(&value).ok_or_else(|| format!("unknown token scope {value:?}"))
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    #[sqlx(try_from = "String")]
    pub scope: TokenScope,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_from: Option<String>,
}

impl ApiToken {
    pub fn expired(&self) -> bool {
        self.expires_at.is_some_and(|at| at <= Utc::now())
    }
}

pub struct NewApiToken<'a> {
    pub name: &'a str,
    pub scope: TokenScope,
    /// None: never expires.
    pub expires_in_days: Option<u32>,
}

impl<'a> NewApiToken<'a> {
    /// A token that may do what its person may, and never expires.
    pub fn write(name: &'a str) -> Self {
        NewApiToken {
            name,
            scope: TokenScope::Write,
            expires_in_days: None,
        }
    }
}

const COLUMNS: &str =
    "id, name, prefix, scope, created_at, expires_at, last_used_at, last_used_from";

/// Creates a token for `user_id` and returns it with the secret, which is not stored.
pub async fn create_api_token(
    conn: &mut PgConnection,
    limits: &Limits,
    user_id: i64,
    new: NewApiToken<'_>,
) -> Result<(ApiToken, String), AppError> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::validation(
            "name",
            "Give the token a name of 1 to 100 characters.",
        ));
    }
    if new
        .expires_in_days
        .is_some_and(|days| days == 0 || days > MAX_EXPIRY_DAYS)
    {
        return Err(AppError::validation(
            "expires_in_days",
            format!("A token expires after 1 to {MAX_EXPIRY_DAYS} days, or never."),
        ));
    }
    let mut tx = conn.begin().await?;
    quota::ensure_room(&mut tx, limits, Quota::ApiTokens, user_id).await?;
    let secret = secret_token::generate(PREFIX, 20);
    let token = sqlx::query_as::<_, ApiToken>(&format!(
        "INSERT INTO api_tokens (user_id, name, token_hash, prefix, scope, expires_at)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(days => $6))
         RETURNING {COLUMNS}"
    ))
    .bind(user_id)
    .bind(name)
    .bind(secret_token::hash(&secret))
    .bind(&secret[..PREFIX.len() + 6])
    .bind(new.scope.as_str())
    .bind(new.expires_in_days.map(|d| d as i32))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((token, secret))
}

pub async fn list_api_tokens(
    conn: &mut PgConnection,
    user_id: i64,
) -> Result<Vec<ApiToken>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY id DESC"
    ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn a_read_token_allows_only_safe_methods() {
        for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(TokenScope::Read.allows(&method));
        }
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(!TokenScope::Read.allows(&method), "{method}");
            assert!(TokenScope::Write.allows(&method));
        }
    }
}
