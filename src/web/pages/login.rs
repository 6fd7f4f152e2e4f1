//! Logging in and out.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;

use super::extract::{PageForm, PageQuery};
use super::{PageError, PageUser, render};
use crate::auth::client_address::ClientAddress;
use crate::auth::{csrf, login, sessions};
use crate::error::AppError;
use crate::web::redirect;
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    PageQuery(query): PageQuery<NextQuery>,
) -> Response {
    render(&LoginPage {
        email: String::new(),
        next: redirect::after_login(&state.config().app_url, query.next.as_deref()),
        error: None,
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn submit(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    jar: CookieJar,
    PageForm(form): PageForm<LoginForm>,
) -> Result<Response, PageError> {
    let config = state.config();
    csrf::refuse_cross_site(&headers, &config.app_url)?;
    let next = redirect::after_login(&config.app_url, Some(&form.next));
    let refused = |status: StatusCode, message: String, retry_after: Option<u64>| {
        let page = LoginPage {
            email: form.email.clone(),
            next: next.clone(),
            error: Some(message),
        };
        let mut response = (status, render(&page)).into_response();
        crate::error::set_retry_after(&mut response, retry_after);
        Ok(response)
    };
    let checked = login::check_login(
        state.pool(),
        state.logins(),
        &config.login_throttle,
        client,
        &form.email,
        &form.password,
    )
    .await;
    let user = match checked {
        Ok(Some(user)) => user,
        Ok(None) => {
            return refused(
                StatusCode::UNAUTHORIZED,
                "That email and password don't match an account.".into(),
                None,
            );
        }
        Err(err @ (AppError::RateLimited { .. } | AppError::Overloaded { .. })) => {
            return refused(err.status(), err.public_message(), err.retry_after());
        }
        Err(other) => return Err(other.into()),
    };
    let jar = start_session(&state, &headers, client, user.id, jar).await?;
    tracing::info!(user.id = user.id, "user logged in");
    Ok((jar, Redirect::to(&next)).into_response())
}

/// Signs `user_id` in on this browser: a new session, its cookie added to `jar`.
pub async fn start_session(
    state: &AppState,
    headers: &HeaderMap,
    client: std::net::IpAddr,
    user_id: i64,
    jar: CookieJar,
) -> Result<CookieJar, PageError> {
    let config = state.config();
    let origin = sessions::SessionOrigin {
        user_agent: headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        client_address: Some(client.to_string()),
    };
    let mut conn = state.pool().acquire().await?;
    let session = sessions::create_session(
        &mut conn,
        user_id,
        &origin,
        config.sessions,
        config.limits.sessions_per_user,
    )
    .await?;
    let max_age = i64::try_from(config.sessions.lifetime.as_secs()).unwrap_or(i64::MAX);
    let cookie = Cookie::build((sessions::COOKIE_NAME, session.token))
        .path("/")
        .http_only(true)
        .secure(config.cookies_secure())
        .same_site(SameSite::Lax)
        .max_age(time::Duration::seconds(max_age));
    Ok(jar.add(cookie))
}

pub async fn logout(
    State(state): State<AppState>,
    PageUser(_user): PageUser,
    jar: CookieJar,
) -> Result<Response, PageError> {
    if let Some(cookie) = jar.get(sessions::COOKIE_NAME) {
        let mut conn = state.pool().acquire().await?;
        sessions::delete_session(&mut conn, cookie.value()).await?;
        // Other instances forget it when notified; this one at once.
        state.credentials().forget_all();
    }
    let jar = jar.remove(Cookie::build(sessions::COOKIE_NAME).path("/"));
    Ok((jar, Redirect::to("/login")).into_response())
}
