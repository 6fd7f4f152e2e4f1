//! Pages reached without a session, through a link or from the login page: accepting an
//! invitation, asking for a password reset, and choosing a password through a single-use link.
//! Each form post is refused when it comes from another site (there is no session to carry a
//! CSRF token yet), and each success signs the person in.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::extract::{PageForm, PageQuery};
use super::login::start_session;
use super::{PageError, render};
use crate::accounts::invitations::{self, Acceptance, InvitationPreview};
use crate::accounts::password_links::{self, Purpose};
use crate::auth::client_address::ClientAddress;
use crate::auth::csrf;
use crate::error::AppError;
use crate::limits::{RatedAction, rate};
use crate::web::state::AppState;

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Template)]
#[template(path = "account/accept_invitation.html")]
struct AcceptPage {
    invitation: InvitationPreview,
    token: String,
    name: String,
    handle: String,
    error: Option<String>,
}

pub async fn show_invitation(
    State(state): State<AppState>,
    PageQuery(query): PageQuery<TokenQuery>,
) -> Result<Response, PageError> {
    let mut conn = state.pool().acquire().await?;
    let invitation = invitations::preview(&mut conn, &query.token)
        .await?
        .ok_or_else(invitations::link_no_longer_valid)?;
    let handle = crate::helpdesk::users::handle_from_email(&invitation.email);
    Ok(render(&AcceptPage {
        invitation,
        token: query.token,
        name: String::new(),
        handle,
        error: None,
    }))
}

#[derive(Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    handle: String,
    #[serde(default)]
    password: String,
}

pub async fn accept_invitation(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    jar: CookieJar,
    PageForm(form): PageForm<AcceptForm>,
) -> Result<Response, PageError> {
    csrf::refuse_cross_site(&headers, &state.config().app_url)?;
    let mut conn = state.pool().acquire().await?;
    let choice = Acceptance {
        name: &form.name,
        handle: &form.handle,
        password: &form.password,
    };
    match invitations::accept(&mut conn, &form.token, choice).await {
        Ok(user) => {
            drop(conn);
            let jar = start_session(&state, &headers, client, user.id, jar).await?;
            Ok((jar, Redirect::to("/tickets")).into_response())
        }
        Err(err) if err.field() == Some("token") => Err(err.into()),
        Err(err) => {
            let Some((_, message)) = err.inline_on_form() else {
                return Err(err.into());
            };
            let invitation = invitations::preview(&mut conn, &form.token)
                .await?
                .ok_or_else(invitations::link_no_longer_valid)?;
            let page = AcceptPage {
                invitation,
                token: form.token,
                name: form.name,
                handle: form.handle,
                error: Some(message),
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "account/forgot_password.html")]
struct ForgotPage {
    email: String,
    sent: bool,
    error: Option<String>,
}

pub async fn show_forgot() -> Response {
    render(&ForgotPage {
        email: String::new(),
        sent: false,
        error: None,
    })
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
}

/// Answers the same, in the same time, whether or not the email has an account: the lookup
/// and the mail happen after the answer, apart from it.
pub async fn request_reset(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    PageForm(form): PageForm<ForgotForm>,
) -> Result<Response, PageError> {
    csrf::refuse_cross_site(&headers, &state.config().app_url)?;
    let email = form.email.trim().to_lowercase();
    if email.is_empty() || email.chars().count() > 320 {
        let page = ForgotPage {
            email: form.email,
            sent: false,
            error: Some("Give the email of your account.".into()),
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response());
    }
    let limits = &state.config().limits;
    let throttled = async {
        rate::hit_named(
            state.pool(),
            limits,
            RatedAction::PasswordResetPerAddress,
            &client.to_string(),
        )
        .await?;
        rate::hit_named(
            state.pool(),
            limits,
            RatedAction::PasswordResetPerEmail,
            &email,
        )
        .await
    }
    .await;
    if let Err(err @ AppError::RateLimited { .. }) = throttled {
        let page = ForgotPage {
            email: form.email,
            sent: false,
            error: Some(err.public_message()),
        };
        let mut response = (err.status(), render(&page)).into_response();
        crate::error::set_retry_after(&mut response, err.retry_after());
        return Ok(response);
    }
    throttled?;
    let pool = state.pool().clone();
    let (settings, app_url) = (state.config().accounts, state.config().app_url.clone());
    let lookup_email = email.clone();
    tokio::spawn(async move {
        let outcome = async {
            let mut conn = pool.acquire().await?;
            password_links::mail_reset_link(&mut conn, &settings, &app_url, &lookup_email).await
        }
        .await;
        if let Err(err) = outcome {
            tracing::error!(error = %err, "a password reset request failed");
        }
    });
    Ok(render(&ForgotPage {
        email: form.email,
        sent: true,
        error: None,
    }))
}

#[derive(Template)]
#[template(path = "account/choose_password.html")]
struct ChoosePage {
    heading: &'static str,
    email: String,
    token: String,
    error: Option<String>,
}

fn heading(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Setup => "Choose your password",
        Purpose::Reset => "Choose a new password",
    }
}

pub async fn show_choose(
    State(state): State<AppState>,
    PageQuery(query): PageQuery<TokenQuery>,
) -> Result<Response, PageError> {
    let mut conn = state.pool().acquire().await?;
    let (purpose, email) = password_links::check_link(&mut conn, &query.token)
        .await?
        .ok_or_else(password_links::link_no_longer_valid)?;
    Ok(render(&ChoosePage {
        heading: heading(purpose),
        email,
        token: query.token,
        error: None,
    }))
}

#[derive(Deserialize)]
pub struct ChooseForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

pub async fn choose_password(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    jar: CookieJar,
    PageForm(form): PageForm<ChooseForm>,
) -> Result<Response, PageError> {
    csrf::refuse_cross_site(&headers, &state.config().app_url)?;
    let mut conn = state.pool().acquire().await?;
    let (purpose, email) = password_links::check_link(&mut conn, &form.token)
        .await?
        .ok_or_else(password_links::link_no_longer_valid)?;
    match password_links::use_link(&mut conn, &form.token, &form.password).await {
        Ok(user) => {
            drop(conn);
            // Every session of the account ended: this instance forgets them at once.
            state.credentials().forget_all();
            super::security::recheck_demo_passwords(&state);
            let jar = start_session(&state, &headers, client, user.id, jar).await?;
            Ok((jar, Redirect::to("/tickets")).into_response())
        }
        Err(err) if err.field() == Some("token") => Err(err.into()),
        Err(err) => {
            let Some((_, message)) = err.inline_on_form() else {
                return Err(err.into());
            };
            let page = ChoosePage {
                heading: heading(purpose),
                email,
                token: form.token,
                error: Some(message),
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
    }
}
