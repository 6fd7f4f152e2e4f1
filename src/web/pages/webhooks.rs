//! Settings › Notifications (personal webhooks) and Settings › Workspace Notifications
//! (owner and admin): destinations, their secret, test sends and replays. The delivery log
//! and Resend are in `webhook_log`.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::charts::{self, HourBar};
use super::extract::{PageForm, PagePath, PageQuery};
use super::webhook_log::header_lines;
use super::{Layout, PageError, PageUser, flash, render};
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::web::state::AppState;
use crate::webhooks::deliveries;
use crate::webhooks::destinations::{self, Destination, DestinationInput, Scope};
use crate::webhooks::event_types::EventType;
use crate::webhooks::health::{self, DestinationHealth};
use crate::webhooks::replay_offer::{self, ReplayOffer};

/// A checkbox for one notification type.
pub struct EventChoice {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

fn choices(scope: Scope, selected: &[String]) -> Vec<EventChoice> {
    EventType::ALL
        .into_iter()
        .filter(|e| scope == Scope::Personal || e.allowed_for_workspace())
        .map(|e| EventChoice {
            value: e.as_str(),
            label: e.label(),
            checked: selected.iter().any(|s| s == e.as_str()),
        })
        .collect()
}

fn scope_path(scope: Scope) -> &'static str {
    match scope {
        Scope::Personal => "/settings/notifications",
        Scope::Workspace => "/settings/workspace-notifications",
    }
}

#[derive(Template)]
#[template(path = "webhooks/list.html")]
struct ListPage {
    layout: Layout,
    scope_label: &'static str,
    action: &'static str,
    destinations: Vec<Destination>,
    choices: Vec<EventChoice>,
    url: String,
    name: String,
    error: Option<(String, String)>,
}

impl ListPage {
    fn error_for(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }
}

async fn list_page(
    state: &AppState,
    user: &CurrentUser,
    scope: Scope,
    flash: Option<String>,
) -> Result<ListPage, PageError> {
    let mut conn = state.pool().acquire().await?;
    let (title, nav, label) = match scope {
        Scope::Personal => ("Notifications", "notifications", "personal"),
        Scope::Workspace => (
            "Workspace Notifications",
            "workspace-notifications",
            "workspace",
        ),
    };
    Ok(ListPage {
        layout: Layout::new(title, nav, user, flash),
        scope_label: label,
        action: scope_path(scope),
        destinations: destinations::list_destinations(&mut conn, user, Some(scope)).await?,
        choices: choices(scope, &[]),
        url: String::new(),
        name: String::new(),
        error: None,
    })
}

pub async fn personal(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let (jar, flash) = flash::take(jar);
    Ok((
        jar,
        render(&list_page(&state, &user, Scope::Personal, flash).await?),
    )
        .into_response())
}

pub async fn workspace(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    jar: CookieJar,
) -> Result<Response, PageError> {
    user.require_admin()?;
    let (jar, flash) = flash::take(jar);
    Ok((
        jar,
        render(&list_page(&state, &user, Scope::Workspace, flash).await?),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct DestinationForm {
    url: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    events: Vec<String>,
    /// Present (checked) or absent; only on the edit form.
    #[serde(default)]
    enabled: Option<String>,
}

async fn create(
    state: AppState,
    user: CurrentUser,
    jar: CookieJar,
    scope: Scope,
    form: DestinationForm,
) -> Result<Response, PageError> {
    let input = DestinationInput {
        scope: Some(scope),
        url: Some(form.url.clone()),
        events: Some(form.events.clone()),
        name: Some(form.name.clone()),
        enabled: None,
    };
    match destinations::create_destination(
        state.pool(),
        state.outbound(),
        &state.config().limits,
        &user,
        input,
    )
    .await
    {
        Ok(d) => Ok((
            flash::set(jar, "Webhook added. Send a test to check your endpoint."),
            Redirect::to(&format!("/settings/webhooks/{}", d.id)),
        )
            .into_response()),
        Err(err) => {
            let Some(inline) = err.inline_on_form() else {
                return Err(err.into());
            };
            let mut page = list_page(&state, &user, scope, None).await?;
            page.url = form.url;
            page.name = form.name;
            page.choices = choices(scope, &form.events);
            page.error = Some(inline);
            Ok((err.status(), render(&page)).into_response())
        }
    }
}

pub async fn create_personal(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    jar: CookieJar,
    PageForm(form): PageForm<DestinationForm>,
) -> Result<Response, PageError> {
    create(state, user, jar, Scope::Personal, form).await
}

pub async fn create_workspace(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    jar: CookieJar,
    PageForm(form): PageForm<DestinationForm>,
) -> Result<Response, PageError> {
    user.require_admin()?;
    create(state, user, jar, Scope::Workspace, form).await
}

#[derive(Template)]
#[template(path = "webhooks/destination.html")]
struct DestinationPage {
    layout: Layout,
    destination: Destination,
    back: &'static str,
    choices: Vec<EventChoice>,
    url: String,
    name: String,
    enabled: bool,
    error: Option<(String, String)>,
    /// The latest attempt's request headers and body, exactly as sent.
    latest: Option<(String, String)>,
    health: Option<DestinationHealth>,
    /// Attempts per hour by outcome (SVG, numbers only).
    chart: String,
    /// Just enabled after failing: what failed meanwhile, offered for resending.
    replay_offer: Option<ReplayOffer>,
}

impl DestinationPage {
    fn tab(&self) -> &'static str {
        "settings"
    }

    /// "97.5%", or a dash with no attempt.
    fn success_rate(&self) -> String {
        match self.health.as_ref().and_then(|h| h.success_rate) {
            Some(rate) => format!("{:.1}%", rate * 100.0),
            None => "\u{2014}".into(),
        }
    }

    fn when(&self, at: &Option<chrono::DateTime<chrono::Utc>>) -> String {
        at.map_or_else(
            || "none in the last 24 hours".into(),
            |at| at.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
    }

    fn error_for(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }
}

fn destination_page(
    user: &CurrentUser,
    destination: Destination,
    flash: Option<String>,
) -> DestinationPage {
    let selected: Vec<String> = destination
        .events
        .iter()
        .map(|e| e.as_str().to_string())
        .collect();
    let nav = if destination.scope == Scope::Personal {
        "notifications"
    } else {
        "workspace-notifications"
    };
    let title = if destination.name.is_empty() {
        "Webhook".to_string()
    } else {
        destination.name.clone()
    };
    DestinationPage {
        layout: Layout::new(title, nav, user, flash),
        back: scope_path(destination.scope),
        choices: choices(destination.scope, &selected),
        url: destination.url.clone(),
        name: destination.name.clone(),
        enabled: destination.enabled,
        destination,
        error: None,
        latest: None,
        health: None,
        chart: String::new(),
        replay_offer: None,
    }
}

/// The page with what it shows beside the form: health, and the latest delivery.
async fn with_activity(
    state: &AppState,
    user: &CurrentUser,
    mut page: DestinationPage,
) -> Result<DestinationPage, PageError> {
    let health = health::destination_health(state.pool(), user, page.destination.id).await?;
    let bars: Vec<HourBar> = health
        .hourly
        .iter()
        .map(|h| HourBar {
            hour: h.hour,
            ok: h.succeeded,
            failed: h.failed,
        })
        .collect();
    page.chart = charts::hourly_outcomes(
        &bars,
        chrono::Utc::now(),
        "Attempts per hour, last 24 hours",
    );
    page.health = Some(health);
    if let Some((attempt, payload)) =
        deliveries::latest_attempt(state.pool(), page.destination.id).await?
    {
        page.latest = Some((
            format!(
                "POST {}\n{}",
                attempt.url,
                header_lines(&attempt.request_headers)
            ),
            payload,
        ));
    }
    Ok(page)
}

/// The destination page's query: after enabling a failing destination, the moment from which
/// to offer resending what failed.
#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    replay_since: Option<DateTime<Utc>>,
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    PageQuery(query): PageQuery<ShowQuery>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let (jar, flash) = flash::take(jar);
    let mut conn = state.pool().acquire().await?;
    let destination = destinations::get_destination(&mut conn, &user, id).await?;
    drop(conn);
    let offer = match query.replay_since {
        Some(since) if destination.enabled => {
            replay_offer::offer_since(state.pool(), id, since).await?
        }
        _ => None,
    };
    let mut page =
        with_activity(&state, &user, destination_page(&user, destination, flash)).await?;
    page.replay_offer = offer;
    Ok((jar, render(&page)).into_response())
}

pub async fn update(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
    PageForm(form): PageForm<DestinationForm>,
) -> Result<Response, PageError> {
    let input = DestinationInput {
        scope: None,
        url: Some(form.url.clone()),
        events: Some(form.events.clone()),
        name: Some(form.name.clone()),
        enabled: Some(form.enabled.is_some()),
    };
    match destinations::update_destination(state.pool(), state.outbound(), &user, id, input).await {
        Ok(saved) => {
            let to = match saved.replay_offer {
                Some(offer) => format!(
                    "/settings/webhooks/{id}?replay_since={}",
                    url::form_urlencoded::byte_serialize(offer.since.to_rfc3339().as_bytes())
                        .collect::<String>()
                ),
                None => format!("/settings/webhooks/{id}"),
            };
            Ok((flash::set(jar, "Webhook saved."), Redirect::to(&to)).into_response())
        }
        Err(AppError::Validation { field, message }) => {
            let mut conn = state.pool().acquire().await?;
            let destination = destinations::get_destination(&mut conn, &user, id).await?;
            let scope = destination.scope;
            let mut page = destination_page(&user, destination, None);
            page.url = form.url;
            page.name = form.name;
            page.enabled = form.enabled.is_some();
            page.choices = choices(scope, &form.events);
            page.error = Some((field.unwrap_or_default(), message));
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
pub struct RegenerateForm {
    /// Hours the old secret keeps signing `webhook-signature`; blank or 0: none.
    #[serde(default)]
    grace_period_hours: String,
}

pub async fn regenerate(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
    PageForm(form): PageForm<RegenerateForm>,
) -> Result<Response, PageError> {
    let raw = form.grace_period_hours.trim();
    let grace = if raw.is_empty() {
        None
    } else {
        Some(raw.parse::<i64>().unwrap_or(-1))
    };
    let destination = destinations::regenerate_secret(state.pool(), &user, id, grace).await?;
    let message = match destination.previous_secret_until {
        Some(until) => format!(
            "New secret generated. The old secret keeps signing the webhook-signature header until {} UTC; ThereThere-Signature uses the new secret from now on.",
            until.format("%Y-%m-%d %H:%M")
        ),
        None => "New secret generated. Receivers using the old secret will now reject deliveries."
            .to_string(),
    };
    Ok((
        flash::set(jar, &message),
        Redirect::to(&format!("/settings/webhooks/{id}")),
    )
        .into_response())
}

pub async fn retire_previous_secret(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    destinations::retire_previous_secret(state.pool(), &user, id).await?;
    let jar = flash::set(jar, "The old secret no longer signs anything.");
    Ok((jar, Redirect::to(&format!("/settings/webhooks/{id}"))).into_response())
}

pub async fn send_test(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    crate::webhooks::test_notification::send_test(state.pool(), &state.config().limits, &user, id)
        .await?;
    let jar = flash::set(
        jar,
        "Test notification queued. It appears below within a moment.",
    );
    Ok((
        jar,
        Redirect::to(&format!("/settings/webhooks/{id}/deliveries")),
    )
        .into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let mut conn = state.pool().acquire().await?;
    let back = scope_path(
        destinations::get_destination(&mut conn, &user, id)
            .await?
            .scope,
    );
    destinations::delete_destination(state.pool(), &user, id).await?;
    Ok((flash::set(jar, "Webhook deleted."), Redirect::to(back)).into_response())
}
