//! `/api/webhook-destinations` and `/api/webhook-deliveries`: manage destinations, send test
//! notifications, read the delivery log, resend.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::extract::{AppJson, AppPath, AppQuery};
use crate::auth::CurrentUser;
use crate::error::{AppError, ErrorBody};
use crate::web::state::AppState;
use crate::webhooks::catalog::{self, Catalog, EventTypeEntry};
use crate::webhooks::deliveries::{self, DeliveryDetail, DeliverySummary};
use crate::webhooks::destinations::{self, Destination, DestinationInput};
use crate::webhooks::health::{self, DestinationHealth};
use crate::webhooks::replay::{self, Replay};

/// The event catalog: every payload type with its JSON Schema (2020-12) and an example. Public:
/// it describes the product, nothing of any workspace.
#[utoipa::path(get, path = "/api/webhook-event-types", tag = "webhooks", security(()),
    responses((status = 200, body = Catalog)))]
pub async fn event_types() -> AppJson<Catalog> {
    AppJson(catalog::catalog())
}

/// One payload type of the catalog.
#[utoipa::path(get, path = "/api/webhook-event-types/{type}", tag = "webhooks", security(()),
    params(("type" = String, Path, description = "A payload type, e.g. ticketOpened")),
    responses((status = 200, body = EventTypeEntry), (status = 404, body = ErrorBody)))]
pub async fn event_type(
    AppPath(kind): AppPath<String>,
) -> Result<AppJson<EventTypeEntry>, AppError> {
    catalog::catalog()
        .event_types
        .into_iter()
        .find(|entry| entry.kind == kind)
        .map(AppJson)
        .ok_or(AppError::NotFound)
}

#[utoipa::path(get, path = "/api/webhook-destinations", tag = "webhooks",
    responses((status = 200, body = Vec<Destination>), (status = 401, body = ErrorBody)))]
pub async fn list_destinations(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<AppJson<Vec<Destination>>, AppError> {
    let mut conn = state.pool().acquire().await?;
    Ok(AppJson(
        destinations::list_destinations(&mut conn, &current, None).await?,
    ))
}

#[utoipa::path(post, path = "/api/webhook-destinations", tag = "webhooks", request_body = DestinationInput,
    responses((status = 201, body = Destination), (status = 403, body = ErrorBody),
        (status = 409, description = "A quota is reached (`quota_exceeded`, naming the setting)", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_destination(
    State(state): State<AppState>,
    current: CurrentUser,
    AppJson(input): AppJson<DestinationInput>,
) -> Result<(StatusCode, AppJson<Destination>), AppError> {
    let destination = destinations::create_destination(
        state.pool(),
        state.outbound(),
        &state.config().limits,
        &current,
        input,
    )
    .await?;
    Ok((StatusCode::CREATED, AppJson(destination)))
}

#[utoipa::path(get, path = "/api/webhook-destinations/{id}", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 200, body = Destination), (status = 404, body = ErrorBody)))]
pub async fn get_destination(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<Destination>, AppError> {
    let mut conn = state.pool().acquire().await?;
    Ok(AppJson(
        destinations::get_destination(&mut conn, &current, id).await?,
    ))
}

/// Health at a glance: success rate, last success and failure, failures since the last
/// success, and attempts per hour by outcome, over the last 24 hours.
#[utoipa::path(get, path = "/api/webhook-destinations/{id}/health", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 200, body = DestinationHealth), (status = 404, body = ErrorBody)))]
pub async fn destination_health(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<DestinationHealth>, AppError> {
    Ok(AppJson(
        health::destination_health(state.pool(), &current, id).await?,
    ))
}

#[utoipa::path(patch, path = "/api/webhook-destinations/{id}", tag = "webhooks", params(("id" = i64, Path)),
    request_body = DestinationInput,
    responses((status = 200, body = Destination), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_destination(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
    AppJson(input): AppJson<DestinationInput>,
) -> Result<AppJson<Destination>, AppError> {
    Ok(AppJson(
        destinations::update_destination(state.pool(), state.outbound(), &current, id, input)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/webhook-destinations/{id}", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_destination(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<StatusCode, AppError> {
    destinations::delete_destination(state.pool(), &current, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How to roll a secret; the body may be left out (no grace period).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegenerateInput {
    /// Hours the replaced secret keeps signing `webhook-signature` beside the new one (1 to
    /// 168); 0 or absent: none, receivers using the old secret stop verifying at once.
    /// `ThereThere-Signature` always carries the new secret's signature alone.
    #[serde(default)]
    pub grace_period_hours: Option<i64>,
}

/// Rolls the signing secret, at once or with a grace period for `webhook-signature`.
#[utoipa::path(post, path = "/api/webhook-destinations/{id}/regenerate-secret", tag = "webhooks",
    params(("id" = i64, Path)), request_body(content = Option<RegenerateInput>),
    responses((status = 200, body = Destination), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn regenerate_secret(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
    input: Option<AppJson<RegenerateInput>>,
) -> Result<AppJson<Destination>, AppError> {
    let grace = input.and_then(|AppJson(input)| input.grace_period_hours);
    Ok(AppJson(
        destinations::regenerate_secret(state.pool(), &current, id, grace).await?,
    ))
}

/// Ends a regenerate's grace period now: only the current secret signs from then on.
#[utoipa::path(delete, path = "/api/webhook-destinations/{id}/previous-secret", tag = "webhooks",
    params(("id" = i64, Path)), responses((status = 200, body = Destination), (status = 404, body = ErrorBody)))]
pub async fn retire_previous_secret(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<Destination>, AppError> {
    Ok(AppJson(
        destinations::retire_previous_secret(state.pool(), &current, id).await?,
    ))
}

/// What to replay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayInput {
    /// Every delivery created at or after this moment (RFC 3339) that failed is sent again.
    pub since: chrono::DateTime<chrono::Utc>,
}

/// Resends every failed delivery since a moment: each is queued for one more attempt, logged
/// as a resend (same body and ulid). Asking again for the same moment within the hour answers
/// the same replay (200, `repeated`) and sends nothing twice.
#[utoipa::path(post, path = "/api/webhook-destinations/{id}/replay", tag = "webhooks",
    params(("id" = i64, Path)), request_body = ReplayInput,
    responses((status = 202, body = Replay), (status = 200, description = "The same replay, asked again", body = Replay),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The destination is disabled", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "Past `REPLAYS_PER_HOUR`; see `Retry-After`", body = ErrorBody)))]
pub async fn replay_failed(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
    AppJson(input): AppJson<ReplayInput>,
) -> Result<(StatusCode, AppJson<Replay>), AppError> {
    let replay = replay::replay_failed(
        state.pool(),
        &state.config().limits,
        &current,
        id,
        input.since,
    )
    .await?;
    let status = if replay.repeated {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, AppJson(replay)))
}

/// The destination's latest replay and how many of its deliveries still wait.
#[utoipa::path(get, path = "/api/webhook-destinations/{id}/replay", tag = "webhooks",
    params(("id" = i64, Path)),
    responses((status = 200, body = Replay), (status = 404, description = "No such destination, or no replay yet", body = ErrorBody)))]
pub async fn latest_replay(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<Replay>, AppError> {
    let mut conn = state.pool().acquire().await?;
    destinations::get_destination(&mut conn, &current, id).await?;
    drop(conn);
    replay::latest_replay(state.pool(), id)
        .await?
        .map(AppJson)
        .ok_or(AppError::NotFound)
}

/// Queues a `test` notification; it appears in the delivery log.
#[utoipa::path(post, path = "/api/webhook-destinations/{id}/test", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 202, body = DeliverySummary), (status = 404, body = ErrorBody),
        (status = 429, description = "Past `TEST_NOTIFICATIONS_PER_MINUTE`; see `Retry-After`", body = ErrorBody)))]
pub async fn send_test(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<(StatusCode, AppJson<DeliverySummary>), AppError> {
    Ok((
        StatusCode::ACCEPTED,
        AppJson(
            crate::webhooks::test_notification::send_test(
                state.pool(),
                &state.config().limits,
                &current,
                id,
            )
            .await?,
        ),
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct LogQuery {
    /// Deliveries older than this id (the last id of the previous page).
    pub before: Option<i64>,
    /// Only deliveries in this state: `pending`, `succeeded` or `failed`.
    pub status: Option<String>,
    /// Only payloads of this type (`ticketOpened`, ..., `test`).
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// Only the delivery with this ulid (the payload's `ulid`, the `webhook-id` header).
    pub ulid: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// The destination's deliveries, newest first, each with its attempts; narrowed by status,
/// type or ulid.
#[utoipa::path(get, path = "/api/webhook-destinations/{id}/deliveries", tag = "webhooks",
    params(("id" = i64, Path), LogQuery),
    responses((status = 200, body = Vec<DeliverySummary>), (status = 404, body = ErrorBody)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
    AppQuery(query): AppQuery<LogQuery>,
) -> Result<AppJson<Vec<DeliverySummary>>, AppError> {
    let limit = query.limit.unwrap_or(deliveries::PAGE_SIZE);
    if !(1..=200).contains(&limit) {
        return Err(AppError::validation("limit", "The page size is 1 to 200."));
    }
    let filter = deliveries::LogFilter::parse(
        query.status.as_deref(),
        query.event_type.as_deref(),
        query.ulid.as_deref(),
        query.before,
    )?;
    Ok(AppJson(
        deliveries::list_deliveries(state.pool(), &current, id, &filter, limit).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttemptsQuery {
    /// Attempts older than this id (`earlier_attempts_before` of the previous answer).
    pub attempts_before: Option<i64>,
    /// How many attempts to carry in full, 1 to 50 (default 30), the newest first chosen.
    #[param(minimum = 1, maximum = 50)]
    pub attempts_limit: Option<i64>,
}

/// One delivery: its exact payload and its newest attempts' requests and responses (older
/// ones a page at a time through `attempts_before`).
#[utoipa::path(get, path = "/api/webhook-deliveries/{id}", tag = "webhooks", params(("id" = i64, Path), AttemptsQuery),
    responses((status = 200, body = DeliveryDetail), (status = 404, body = ErrorBody)))]
pub async fn get_delivery(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
    AppQuery(query): AppQuery<AttemptsQuery>,
) -> Result<AppJson<DeliveryDetail>, AppError> {
    let mut page = deliveries::AttemptPage::default();
    if let Some(limit) = query.attempts_limit {
        if !(1..=deliveries::AttemptPage::MAX).contains(&limit) {
            return Err(AppError::validation(
                "attempts_limit",
                "The number of attempts is 1 to 50.",
            ));
        }
        page.limit = limit;
    }
    page.before = query.attempts_before;
    Ok(AppJson(
        deliveries::get_delivery(state.pool(), &current, id, page)
            .await?
            .1,
    ))
}

/// Delivers the same payload again now (same body and ulid, current secret) and logs it.
#[utoipa::path(post, path = "/api/webhook-deliveries/{id}/resend", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 200, body = DeliveryDetail), (status = 404, body = ErrorBody),
        (status = 409, description = "Resent `WEBHOOK_MAX_RESENDS` times already", body = ErrorBody),
        (status = 429, description = "Past `RESENDS_PER_MINUTE`; see `Retry-After`", body = ErrorBody)))]
pub async fn resend_delivery(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<DeliveryDetail>, AppError> {
    Ok(AppJson(
        crate::webhooks::resend::resend(
            state.pool(),
            &state.outbound().webhooks,
            state.metrics(),
            &state.config().limits,
            &current,
            id,
        )
        .await?,
    ))
}
