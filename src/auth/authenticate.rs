//! Authenticating a request by API token or session cookie, and checking CSRF for
//! state-changing requests made with a cookie. The `CurrentUser` extractor works with any
//! state that can hand out an `Authenticator`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use sqlx::PgPool;

use super::api_tokens::TokenScope;
use super::client_address::{TrustedClientIpHeader, client_address};
use super::credential_cache::{self, CredentialCache, CredentialKey};
use super::csrf::{self, SubmittedCsrfToken};
use super::current_user::{AuthMethod, CurrentUser};
use super::{api_tokens, secret_token, sessions};
use crate::error::AppError;
use crate::helpdesk::users::User;

/// What authenticating needs: the database, this instance's remembered credentials, and how
/// long an unused session lives.
#[derive(Clone)]
pub struct Authenticator {
    pub pool: PgPool,
    pub credentials: Arc<CredentialCache>,
    pub session_idle_timeout: Duration,
    /// Where the client's address comes from, recorded as a token's last use.
    pub client_ip_header: TrustedClientIpHeader,
}

impl<S> FromRequestParts<S> for CurrentUser
where
    S: Send + Sync,
    Authenticator: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(known) = parts.extensions.get::<CurrentUser>() {
            return Ok(known.clone());
        }
        let current = authenticate(parts, &Authenticator::from_ref(state))
            .await?
            .ok_or(AppError::Unauthorized)?;
        match &current.auth {
            AuthMethod::Session { csrf_token, .. } if !parts.method.is_safe() => {
                csrf::verify(
                    &parts.headers,
                    parts.extensions.get::<SubmittedCsrfToken>(),
                    csrf_token,
                )?;
            }
            AuthMethod::ApiToken { scope } if !scope.allows(&parts.method) => {
                return Err(AppError::forbidden(
                    "This API token has the read scope: it can only read (GET). Create a token with the write scope to change things.",
                ));
            }
            _ => {}
        }
        let span = tracing::Span::current();
        span.record("user_id", current.user.id);
        span.record("workspace_id", current.user.workspace_id);
        parts.extensions.insert(current.clone());
        Ok(current)
    }
}

/// The user behind the request's credentials, if any. A bearer token wins over a cookie.
pub async fn authenticate(
    parts: &Parts,
    auth: &Authenticator,
) -> Result<Option<CurrentUser>, AppError> {
    let (pool, cache) = (&auth.pool, &*auth.credentials);
    if let Some(header) = parts.headers.get(AUTHORIZATION) {
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(AppError::Unauthorized)?;
        if !token.starts_with(api_tokens::PREFIX) {
            return Ok(None);
        }
        let hash = secret_token::hash(token);
        let key = CredentialKey::ApiToken(hash.clone());
        // Read from PostgreSQL only when not remembered, and the address with it.
        let read = async {
            let from = client_address(parts, &auth.client_ip_header).0.to_string();
            user_by_api_token(pool, &hash, &from).await
        };
        return remembered(cache, key, read).await;
    }
    let jar = CookieJar::from_headers(&parts.headers);
    let Some(cookie) = jar.get(sessions::COOKIE_NAME) else {
        return Ok(None);
    };
    let hash = secret_token::hash(cookie.value());
    let key = CredentialKey::Session(hash.clone());
    let idle_timeout = auth.session_idle_timeout;
    remembered(cache, key, user_by_session(pool, &hash, idle_timeout)).await
}

/// The user behind a credential as this instance remembers it, else as `read` finds it in
/// PostgreSQL (then remembered for as long as `read` says it stays valid, at most 30 s).
async fn remembered(
    cache: &CredentialCache,
    key: CredentialKey,
    read: impl Future<Output = Result<Option<(CurrentUser, Duration)>, AppError>>,
) -> Result<Option<CurrentUser>, AppError> {
    if let Some(current) = cache.get(&key) {
        return Ok(Some(current));
    }
    // Taken before `read` runs (futures start when awaited).
    let ticket = cache.ticket();
    Ok(read.await?.map(|(current, valid_for)| {
        if let Some(ticket) = ticket {
            cache.insert(ticket, key, current.clone(), valid_for);
        }
        current
    }))
}

/// One round trip: the active user of the unexpired token with this hash, its scope, how long
/// it stays valid, and whether its last use is stale enough to record (with `from`).
async fn user_by_api_token(
    pool: &PgPool,
    hash: &[u8],
    from: &str,
) -> Result<Option<(CurrentUser, Duration)>, AppError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: User,
        #[sqlx(try_from = "String")]
        scope: TokenScope,
        remaining_seconds: Option<f64>,
        stale: bool,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT u.id, u.workspace_id, u.name, u.email, u.handle, u.role, t.scope,
                EXTRACT(EPOCH FROM t.expires_at - now())::float8 AS remaining_seconds,
                (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute') AS stale
         FROM api_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = $1 AND u.deactivated_at IS NULL
           AND (t.expires_at IS NULL OR t.expires_at > now())",
    )
    .bind(hash)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    if row.stale {
        // Throttled so a busy integration does not write on every request.
        sqlx::query(
            "UPDATE api_tokens SET last_used_at = now(), last_used_from = $2 WHERE token_hash = $1",
        )
        .bind(hash)
        .bind(from)
        .execute(pool)
        .await?;
    }
    let current = CurrentUser {
        user: row.user,
        auth: AuthMethod::ApiToken { scope: row.scope },
    };
    // Remembered no longer than the token lives.
    let valid_for = row
        .remaining_seconds
        .map_or(credential_cache::MAX_AGE, |s| {
            Duration::from_secs_f64(s.max(0.0))
        });
    Ok(Some((current, valid_for)))
}

/// The user of the live session with this hash, and how long it may be remembered: until its
/// expiry, and never more than a quarter of the idle timeout.
async fn user_by_session(
    pool: &PgPool,
    hash: &[u8],
    idle_timeout: Duration,
) -> Result<Option<(CurrentUser, Duration)>, AppError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: User,
        session_id: i64,
        csrf_token: String,
        remaining_seconds: f64,
        seen_long_ago: bool,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT u.id, u.workspace_id, u.name, u.email, u.handle, u.role, s.id AS session_id, s.csrf_token,
                -- Remembered at most a quarter of the idle timeout, so a session in use is
                -- read again (and its last use recorded) well before it would time out.
                least(EXTRACT(EPOCH FROM s.expires_at - now())::float8, $2 / 4) AS remaining_seconds,
                s.last_seen_at < now() - make_interval(secs => least(60, $2 / 4)) AS seen_long_ago
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = $1 AND s.expires_at > now() AND u.deactivated_at IS NULL
           AND s.last_seen_at > now() - make_interval(secs => $2)",
    )
    .bind(hash)
    .bind(idle_timeout.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    if row.as_ref().is_some_and(|row| row.seen_long_ago) {
        // Throttled like a token's last use (at most once a minute, or a quarter of the idle
        // timeout); a remembered session is re-read within 30 s.
        sqlx::query("UPDATE sessions SET last_seen_at = now() WHERE token_hash = $1")
            .bind(hash)
            .execute(pool)
            .await?;
    }
    Ok(row.map(|row| {
        let current = CurrentUser {
            user: row.user,
            auth: AuthMethod::Session {
                id: row.session_id,
                csrf_token: row.csrf_token,
            },
        };
        (
            current,
            Duration::from_secs_f64(row.remaining_seconds.max(0.0)),
        )
    }))
}
