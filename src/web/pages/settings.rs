//! The settings area: profile, personal API tokens, and (owner and admin) channels.
//! Later features add their own pages to its navigation.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::extract::{PageForm, PagePath};
use super::{Layout, PageError, PageUser, flash, render};
use crate::auth::api_tokens::{self, ApiToken, NewApiToken, TokenScope};
use crate::error::AppError;
use crate::helpdesk::channels::{self, Channel};
use crate::helpdesk::users::User;
use crate::helpdesk::workspaces::{Workspace, get_workspace};
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "settings/profile.html")]
struct ProfilePage {
    layout: Layout,
    user: User,
    workspace: Workspace,
}

pub async fn profile(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let (jar, flash) = flash::take(jar);
    let mut conn = state.pool().acquire().await?;
    let workspace = get_workspace(&mut conn, user.user.workspace_id).await?;
    let page = ProfilePage {
        layout: Layout::new("Profile", "profile", &user, flash),
        user: user.user.clone(),
        workspace,
    };
    Ok((jar, render(&page)).into_response())
}

#[derive(Template)]
#[template(path = "settings/api_tokens.html")]
struct ApiTokensPage {
    layout: Layout,
    tokens: Vec<ApiToken>,
    /// Shown once, right after creation.
    new_token: Option<String>,
    name_draft: String,
    error: Option<String>,
}

pub async fn api_tokens(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let (jar, flash) = flash::take(jar);
    let mut conn = state.pool().acquire().await?;
    let page = ApiTokensPage {
        layout: Layout::new("API tokens", "api-tokens", &user, flash),
        tokens: api_tokens::list_api_tokens(&mut conn, user.user.id).await?,
        new_token: None,
        name_draft: String::new(),
        error: None,
    };
    Ok((jar, render(&page)).into_response())
}

#[derive(Deserialize)]
pub struct NameForm {
    name: String,
}

#[derive(Deserialize)]
pub struct TokenForm {
    name: String,
    #[serde(default)]
    scope: String,
    /// Days, or empty for never.
    #[serde(default)]
    expires_in_days: String,
}

pub async fn create_api_token(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PageForm(form): PageForm<TokenForm>,
) -> Result<Response, PageError> {
    let mut conn = state.pool().acquire().await?;
    let created = match token_choice(&form) {
        Ok(new) => {
            api_tokens::create_api_token(&mut conn, &state.config().limits, user.user.id, new).await
        }
        Err(err) => Err(err),
    };
    let (status, new_token, error, name_draft) = match created {
        Ok((_, secret)) => (StatusCode::OK, Some(secret), None, String::new()),
        Err(err) => match err.inline_on_form() {
            Some((_, message)) => (err.status(), None, Some(message), form.name),
            None => return Err(err.into()),
        },
    };
    let page = ApiTokensPage {
        layout: Layout::new("API tokens", "api-tokens", &user, None),
        tokens: api_tokens::list_api_tokens(&mut conn, user.user.id).await?,
        new_token,
        name_draft,
        error,
    };
    Ok((status, render(&page)).into_response())
}

pub async fn delete_api_token(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let mut conn = state.pool().acquire().await?;
    api_tokens::delete_api_token(&mut conn, user.user.id, id).await?;
    // Other instances forget it when notified; this one at once.
    state.credentials().forget_all();
    Ok((
        flash::set(jar, "Token revoked."),
        Redirect::to("/settings/api-tokens"),
    )
        .into_response())
}

/// The form's choices as the domain takes them.
fn token_choice(form: &TokenForm) -> Result<NewApiToken<'_>, AppError> {
    // A form without the field (an older page) makes what tokens always were: write.
    let scope = match form.scope.as_str() {
        "" => TokenScope::Write,
        other => TokenScope::parse(other)
            .ok_or_else(|| AppError::validation("scope", "Choose read or write."))?,
    };
    let expires_in_days = match form.expires_in_days.trim() {
        "" | "never" => None,
        days => Some(days.parse::<u32>().map_err(|_| {
            AppError::validation("expires_in_days", "Choose when the token expires.")
        })?),
    };
    Ok(NewApiToken {
        name: &form.name,
        scope,
        expires_in_days,
    })
}

#[derive(Template)]
#[template(path = "settings/channels.html")]
struct ChannelsPage {
    layout: Layout,
    channels: Vec<Channel>,
    name_draft: String,
    error: Option<String>,
}

pub async fn channels(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    jar: CookieJar,
) -> Result<Response, PageError> {
    user.require_admin()?;
    let (jar, flash) = flash::take(jar);
    let mut conn = state.pool().acquire().await?;
    let page = ChannelsPage {
        layout: Layout::new("Channels", "channels", &user, flash),
        channels: channels::list_channels(&mut conn, user.user.workspace_id).await?,
        name_draft: String::new(),
        error: None,
    };
    Ok((jar, render(&page)).into_response())
}

pub async fn create_channel(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    jar: CookieJar,
    PageForm(form): PageForm<NameForm>,
) -> Result<Response, PageError> {
    user.require_admin()?;
    let mut conn = state.pool().acquire().await?;
    match channels::create_channel(&mut conn, user.user.workspace_id, &form.name).await {
        Ok(channel) => {
            let jar = flash::set(
                jar,
                &format!("Channel \u{201c}{}\u{201d} created.", channel.name),
            );
            Ok((jar, Redirect::to("/settings/channels")).into_response())
        }
        Err(AppError::Validation { message, .. } | AppError::Conflict { message, .. }) => {
            let page = ChannelsPage {
                layout: Layout::new("Channels", "channels", &user, None),
                channels: channels::list_channels(&mut conn, user.user.workspace_id).await?,
                name_draft: form.name,
                error: Some(message),
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
        Err(other) => Err(other.into()),
    }
}
