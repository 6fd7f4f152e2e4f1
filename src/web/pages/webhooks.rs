//! Settings › Notifications (personal webhooks) and Settings › Workspace Notifications
//! (owner and admin): destinations, their secret, test sends, the delivery log, Resend.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::charts::{self, HourBar};
use super::extract::{PageForm, PagePath, PageQuery};
use super::{Layout, PageError, PageUser, flash, render};
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::web::state::AppState;
use crate::webhooks::deliveries::{self, DeliveryDetail, DeliveryStatus, DeliverySummary};
use crate::webhooks::destinations::{self, Destination, DestinationInput, Scope};
use crate::webhooks::event_types::EventType;
use crate::webhooks::health::{self, DestinationHealth};
use crate::webhooks::payload;
use crate::webhooks::replay::{self, Replay};
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

/// The replay form: a moment, as the page's `datetime-local` field sends it (UTC, no zone)
/// or as RFC 3339 (the offer's hidden field).
#[derive(Deserialize)]
pub struct ReplayForm {
    since: String,
}

fn parse_moment(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    DateTime::parse_from_rfc3339(raw)
        .map(|at| at.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
                .iter()
                .find_map(|format| chrono::NaiveDateTime::parse_from_str(raw, format).ok())
                .map(|at| at.and_utc())
        })
}

pub async fn replay(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
    PageForm(form): PageForm<ReplayForm>,
) -> Result<Response, PageError> {
    let log = format!("/settings/webhooks/{id}/deliveries");
    let Some(since) = parse_moment(&form.since) else {
        let jar = flash::set(jar, "Nothing resent: give a date and time (UTC).");
        return Ok((jar, Redirect::to(&log)).into_response());
    };
    let message =
        match replay::replay_failed(state.pool(), &state.config().limits, &user, id, since).await {
            Ok(done) if done.repeated => format!(
                "Already asked: the failed deliveries since {} are being resent ({} of {} left).",
                since.format("%Y-%m-%d %H:%M UTC"),
                done.remaining,
                done.deliveries
            ),
            Ok(done) => format!(
                "Resending {} failed deliver{} since {}. Each appears below as a resend.",
                done.deliveries,
                if done.deliveries == 1 { "y" } else { "ies" },
                since.format("%Y-%m-%d %H:%M UTC")
            ),
            Err(
                AppError::Validation { message, .. }
                | AppError::Conflict { message, .. }
                | AppError::RateLimited { message, .. },
            ) => format!("Nothing resent: {message}"),
            Err(other) => return Err(other.into()),
        };
    Ok((flash::set(jar, &message), Redirect::to(&log)).into_response())
}

pub async fn send_test(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    deliveries::send_test(state.pool(), &state.config().limits, &user, id).await?;
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

#[derive(Template)]
#[template(path = "webhooks/deliveries.html")]
struct DeliveriesPage {
    layout: Layout,
    destination: Destination,
    deliveries: Vec<DeliverySummary>,
    /// The link to the next (older) page, filters kept.
    older: Option<String>,
    /// The filter form as submitted.
    query: LogPageQuery,
    narrowed: bool,
    statuses: Vec<FilterOption>,
    types: Vec<FilterOption>,
    /// A malformed filter value: (field, message).
    error: Option<(String, String)>,
    /// The latest replay, while any of it waits.
    replay: Option<Replay>,
    /// The replay form's default: a day ago, as its field shows it.
    replay_default: String,
}

impl DeliveriesPage {
    fn tab(&self) -> &'static str {
        "deliveries"
    }
}

/// One choice of a filter's select.
struct FilterOption {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

/// The log page's query: a page and the filters, all optional (blank means "any").
#[derive(Debug, Default, Deserialize)]
pub struct LogPageQuery {
    before: Option<i64>,
    #[serde(default)]
    status: String,
    #[serde(default, rename = "type")]
    event_type: String,
    #[serde(default)]
    ulid: String,
}

impl LogPageQuery {
    /// The page after one ending at `last`, with the same filters.
    fn older_link(&self, destination_id: i64, last: i64) -> String {
        let mut link = url::form_urlencoded::Serializer::new(String::new());
        link.append_pair("before", &last.to_string());
        for (name, value) in [
            ("status", &self.status),
            ("type", &self.event_type),
            ("ulid", &self.ulid),
        ] {
            if !value.trim().is_empty() {
                link.append_pair(name, value.trim());
            }
        }
        format!(
            "/settings/webhooks/{destination_id}/deliveries?{}",
            link.finish()
        )
    }
}

pub async fn log(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    PageQuery(query): PageQuery<LogPageQuery>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let (jar, flash) = flash::take(jar);
    let mut conn = state.pool().acquire().await?;
    let destination = destinations::get_destination(&mut conn, &user, id).await?;
    drop(conn);
    let filter = deliveries::LogFilter::parse(
        Some(&query.status),
        Some(&query.event_type),
        Some(&query.ulid),
        query.before,
    );
    let (list, error, narrowed) = match filter {
        Ok(filter) => (
            deliveries::list_deliveries(state.pool(), &user, id, &filter, deliveries::PAGE_SIZE)
                .await?,
            None,
            filter.narrows(),
        ),
        Err(AppError::Validation { field, message }) => {
            (Vec::new(), Some((field.unwrap_or_default(), message)), true)
        }
        Err(other) => return Err(other.into()),
    };
    let older = (list.len() as i64 == deliveries::PAGE_SIZE)
        .then(|| list.last().map(|d| query.older_link(id, d.id)))
        .flatten();
    let nav = if destination.scope == Scope::Personal {
        "notifications"
    } else {
        "workspace-notifications"
    };
    let page = DeliveriesPage {
        layout: Layout::new("Deliveries", nav, &user, flash),
        destination,
        deliveries: list,
        older,
        narrowed,
        statuses: DeliveryStatus::ALL
            .into_iter()
            .map(|status| FilterOption {
                value: status.as_str(),
                label: match status {
                    DeliveryStatus::Pending => "Queued or retrying",
                    DeliveryStatus::Succeeded => "Delivered",
                    DeliveryStatus::Failed => "Failed",
                },
                selected: query.status == status.as_str(),
            })
            .collect(),
        types: payload::payload_types()
            .map(|value| FilterOption {
                value,
                label: value,
                selected: query.event_type == value,
            })
            .collect(),
        query,
        error,
        replay: replay::latest_replay(state.pool(), id)
            .await?
            .filter(|r| r.remaining > 0),
        replay_default: (Utc::now() - chrono::Duration::hours(24))
            .format("%Y-%m-%dT%H:%M")
            .to_string(),
    };
    Ok((jar, render(&page)).into_response())
}

#[derive(Template)]
#[template(path = "webhooks/delivery.html")]
struct DeliveryPage {
    layout: Layout,
    destination: Destination,
    delivery: DeliveryDetail,
}

/// Headers stored as `[[name, value], ...]`, as lines.
pub fn header_lines(headers: &serde_json::Value) -> String {
    headers
        .as_array()
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|p| Some(format!("{}: {}", p.get(0)?.as_str()?, p.get(1)?.as_str()?)))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

pub async fn delivery(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let (jar, flash) = flash::take(jar);
    let (destination, delivery) =
        deliveries::get_delivery(state.pool(), &user, id, Default::default()).await?;
    let nav = if destination.scope == Scope::Personal {
        "notifications"
    } else {
        "workspace-notifications"
    };
    let page = DeliveryPage {
        layout: Layout::new(
            format!("Delivery {}", delivery.summary.ulid),
            nav,
            &user,
            flash,
        ),
        destination,
        delivery,
    };
    Ok((jar, render(&page)).into_response())
}

pub async fn resend(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let detail = deliveries::resend(
        state.pool(),
        &state.outbound().webhooks,
        state.metrics(),
        &state.config().limits,
        &user,
        id,
    )
    .await?;
    let last = detail.attempts_detail.last();
    let message = match last {
        Some(a) if a.succeeded => {
            format!("Resent: HTTP {}.", a.response_status.unwrap_or_default())
        }
        Some(a) => format!(
            "Resent, but it failed: {}.",
            a.error.clone().unwrap_or_default()
        ),
        None => "Resent.".to_string(),
    };
    Ok((
        flash::set(jar, &message),
        Redirect::to(&format!("/settings/webhook-deliveries/{id}")),
    )
        .into_response())
}
