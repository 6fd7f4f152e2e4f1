//! Settings › Password & sessions: changing one's password, and the sessions one is signed in
//! with (each can be ended; an owner ends anyone's from the Team page).

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::extract::{PageForm, PagePath};
use super::{Layout, PageError, PageUser, flash, render};
use crate::accounts::{passwords, team};
use crate::auth::CurrentUser;
use crate::auth::sessions::{self, SessionInfo};
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "settings/security.html")]
struct SecurityPage {
    layout: Layout,
    email: String,
    sessions: Vec<SessionInfo>,
    current_session: Option<i64>,
    error: Option<String>,
    error_field: String,
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    flash: Option<String>,
    error: Option<(String, String)>,
) -> Result<SecurityPage, PageError> {
    let mut conn = state.pool().acquire().await?;
    let (error_field, error) = match error {
        Some((field, message)) => (field, Some(message)),
        None => (String::new(), None),
    };
    Ok(SecurityPage {
        layout: Layout::new("Password & sessions", "security", user, flash),
        email: user.user.email.clone(),
        sessions: sessions::list_sessions(
            &mut conn,
            user.user.id,
            state.config().sessions.idle_timeout,
        )
        .await?,
        current_session: user.session_id(),
        error,
        error_field,
    })
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let (jar, flash) = flash::take(jar);
    Ok((jar, render(&page(&state, &user, flash, None).await?)).into_response())
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    jar: CookieJar,
    PageForm(form): PageForm<PasswordForm>,
) -> Result<Response, PageError> {
    let session_id = user.require_session()?;
    let mut conn = state.pool().acquire().await?;
    let changed = passwords::change_password(
        &mut conn,
        user.user.id,
        session_id,
        &form.current_password,
        &form.new_password,
    )
    .await;
    drop(conn);
    match changed {
        Ok(()) => {
            state.credentials().forget_all();
            recheck_demo_passwords(&state);
            let jar = flash::set(jar, "Password changed. Your other sessions have ended.");
            Ok((jar, Redirect::to("/settings/security")).into_response())
        }
        Err(err) => match err.inline_on_form() {
            Some(inline) => {
                let status = err.status();
                let page = page(&state, &user, None, Some(inline)).await?;
                Ok((status, render(&page)).into_response())
            }
            None => Err(err.into()),
        },
    }
}

pub async fn end_session(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(session_id): PagePath<i64>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let mut conn = state.pool().acquire().await?;
    team::end_session(&mut conn, &user.user, session_id).await?;
    // Other instances forget it when notified; this one at once.
    state.credentials().forget_all();
    if user.session_id() == Some(session_id) {
        return Ok(Redirect::to("/login").into_response());
    }
    let jar = flash::set(jar, "Session ended.");
    Ok((jar, Redirect::to("/settings/security")).into_response())
}

/// After a password changes, whether the demo's published passwords are still in use is
/// checked again (in the background: it hashes).
pub fn recheck_demo_passwords(state: &AppState) {
    if !crate::demo::passwords_in_use() {
        return;
    }
    let pool = state.pool().clone();
    tokio::spawn(async move {
        if let Err(err) = crate::demo::check_published_passwords(&pool).await {
            tracing::warn!(error = %err, "checking the demo's passwords failed");
        }
    });
}
