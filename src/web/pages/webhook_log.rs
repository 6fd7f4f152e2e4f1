//! A destination's Deliveries tab: the delivery log with its filters and pages, one
//! delivery's Details (payload, every attempt's request and response), Resend, and
//! "Resend failed deliveries…" (a replay).

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::extract::{PageForm, PagePath, PageQuery};
use super::{Layout, PageError, PageUser, flash, render};
use crate::error::AppError;
use crate::web::state::AppState;
use crate::webhooks::deliveries::{self, DeliveryDetail, DeliveryStatus, DeliverySummary};
use crate::webhooks::destinations::{self, Destination, Scope};
use crate::webhooks::payload;
use crate::webhooks::replay::{self, Replay};

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
    let detail = crate::webhooks::resend::resend(
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
