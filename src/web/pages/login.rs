//! Logging in and out.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;

use super::{PageError, PageUser, render};
use crate::auth::{csrf, sessions};
use crate::error::AppError;
use crate::helpdesk::users::verify_login;
use crate::state::AppState;

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

pub async fn show(Query(query): Query<NextQuery>) -> Response {
    render(&LoginPage {
        email: String::new(),
        next: safe_next(query.next.as_deref()).to_string(),
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
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    // No session yet, so no token: refuse logins posted from other sites instead.
    if csrf::is_cross_site(&headers) {
        return Err(AppError::Csrf.into());
    }
    let mut conn = state.pool().acquire().await?;
    let Some(user) = verify_login(&mut conn, &form.email, &form.password).await? else {
        let page = LoginPage {
            email: form.email,
            next: safe_next(Some(&form.next)).to_string(),
            error: Some("That email and password don't match an account.".into()),
        };
        return Ok((axum::http::StatusCode::UNAUTHORIZED, render(&page)).into_response());
    };
    let session = sessions::create_session(&mut conn, user.id).await?;
    let cookie = Cookie::build((sessions::COOKIE_NAME, session.token))
        .path("/")
        .http_only(true)
        .secure(state.config().cookies_secure())
        .same_site(SameSite::Lax)
        .max_age(time::Duration::seconds(sessions::LIFETIME.num_seconds()));
    tracing::info!(user.id = user.id, "user logged in");
    Ok((jar.add(cookie), Redirect::to(safe_next(Some(&form.next)))).into_response())
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

/// Only local paths: a login link must not bounce the user to another site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/tickets",
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/tickets/3")), "/tickets/3");
        assert_eq!(safe_next(Some("//evil.example")), "/tickets");
        assert_eq!(safe_next(Some("https://evil.example")), "/tickets");
        assert_eq!(safe_next(Some("/\\evil.example")), "/tickets");
        assert_eq!(safe_next(None), "/tickets");
    }
}
