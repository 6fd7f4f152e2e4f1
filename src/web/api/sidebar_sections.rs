//! `/api/sidebar-sections`: configure custom sidebar sections (owner and admin), test them,
//! and `/api/tickets/{id}/sidebar`: load a ticket's sections.

use axum::extract::State;
use axum::http::StatusCode;

use super::extract::{AppJson, AppPath};
use crate::auth::CurrentUser;
use crate::error::{AppError, ErrorBody};
use crate::sidebar::configure;
use crate::sidebar::section_input::SectionInput;
use crate::sidebar::sections::{self, Section};
use crate::sidebar::{LoadMode, SectionLoad, TestReport};
use crate::web::state::AppState;

#[utoipa::path(get, path = "/api/sidebar-sections", tag = "sidebar",
    responses((status = 200, body = Vec<Section>), (status = 401, body = ErrorBody)))]
pub async fn list_sections(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<AppJson<Vec<Section>>, AppError> {
    let mut conn = state.pool().acquire().await?;
    Ok(AppJson(sections::list_sections(&mut conn, &current).await?))
}

#[utoipa::path(post, path = "/api/sidebar-sections", tag = "sidebar", request_body = SectionInput,
    responses((status = 201, body = Section), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 409, description = "`MAX_SIDEBAR_SECTIONS` is reached", body = ErrorBody)))]
pub async fn create_section(
    State(state): State<AppState>,
    current: CurrentUser,
    AppJson(input): AppJson<SectionInput>,
) -> Result<(StatusCode, AppJson<Section>), AppError> {
    let section = configure::create_section(
        state.pool(),
        state.outbound(),
        &state.config().limits,
        &current,
        input,
    )
    .await?;
    Ok((StatusCode::CREATED, AppJson(section)))
}

#[utoipa::path(get, path = "/api/sidebar-sections/{id}", tag = "sidebar", params(("id" = i64, Path)),
    responses((status = 200, body = Section), (status = 404, body = ErrorBody)))]
pub async fn get_section(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<Section>, AppError> {
    let mut conn = state.pool().acquire().await?;
    Ok(AppJson(
        sections::get_section_seen_by(&mut conn, &current, id).await?,
    ))
}

#[utoipa::path(patch, path = "/api/sidebar-sections/{id}", tag = "sidebar", params(("id" = i64, Path)),
    request_body = SectionInput,
    responses((status = 200, body = Section), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_section(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
    AppJson(input): AppJson<SectionInput>,
) -> Result<AppJson<Section>, AppError> {
    let section =
        configure::update_section(state.pool(), state.outbound(), &current, id, input).await?;
    Ok(AppJson(section))
}

#[utoipa::path(delete, path = "/api/sidebar-sections/{id}", tag = "sidebar", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_section(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<StatusCode, AppError> {
    configure::delete_section(state.pool(), &current, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Calls the endpoint with `{"email":"test@example.com"}` and reports the raw exchange.
#[utoipa::path(post, path = "/api/sidebar-sections/{id}/test", tag = "sidebar", params(("id" = i64, Path)),
    responses((status = 200, body = TestReport), (status = 404, body = ErrorBody),
        (status = 429, description = "Past `SECTION_TESTS_PER_MINUTE`; see `Retry-After`", body = ErrorBody)))]
pub async fn test_section(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<TestReport>, AppError> {
    let mut conn = state.pool().acquire().await?;
    let section = sections::get_section_to_manage(&mut conn, &current, id).await?;
    drop(conn);
    Ok(AppJson(
        state.sidebar().test_section(&current, &section).await?,
    ))
}

/// What a Test and re-enable did.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct TestAndEnable {
    /// True when the Test passed and the section is enabled (its failure counter reset).
    pub enabled: bool,
    pub report: TestReport,
    pub section: Section,
}

/// Tests the section and enables it (failure counter reset) only if the Test passes.
#[utoipa::path(post, path = "/api/sidebar-sections/{id}/test-and-enable", tag = "sidebar", params(("id" = i64, Path)),
    responses((status = 200, body = TestAndEnable), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, description = "Past `SECTION_TESTS_PER_MINUTE`; see `Retry-After`", body = ErrorBody)))]
pub async fn test_and_enable_section(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<TestAndEnable>, AppError> {
    let mut conn = state.pool().acquire().await?;
    let section = sections::get_section_to_manage(&mut conn, &current, id).await?;
    drop(conn);
    let (report, section) = state.sidebar().test_and_enable(&current, &section).await?;
    Ok(AppJson(TestAndEnable {
        enabled: report.ok,
        report,
        section,
    }))
}

/// An endpoint and secret to Test before any section is saved.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftTest {
    pub endpoint_url: String,
    /// Leave out (or empty) to generate one; the report's `generated_secret` then holds it.
    pub secret: Option<String>,
}

/// Test as typed: calls an endpoint with `{"email":"test@example.com"}` signed with the
/// given secret, before anything is saved, and reports the raw exchange.
#[utoipa::path(post, path = "/api/sidebar-sections/test", tag = "sidebar", request_body = DraftTest,
    responses((status = 200, body = TestReport), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "Past `SECTION_TESTS_PER_MINUTE` for the workspace", body = ErrorBody)))]
pub async fn test_draft_section(
    State(state): State<AppState>,
    current: CurrentUser,
    AppJson(input): AppJson<DraftTest>,
) -> Result<AppJson<TestReport>, AppError> {
    let typed = input.secret.as_deref();
    let (mut report, secret) = state
        .sidebar()
        .test_draft(&current, &input.endpoint_url, typed)
        .await?;
    if typed.is_none_or(|s| s.trim().is_empty()) {
        report.generated_secret = Some(secret);
    }
    Ok(AppJson(report))
}

/// Enables the section and resets its failure counter.
#[utoipa::path(post, path = "/api/sidebar-sections/{id}/enable", tag = "sidebar", params(("id" = i64, Path)),
    responses((status = 200, body = Section), (status = 404, body = ErrorBody)))]
pub async fn enable_section(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<Section>, AppError> {
    Ok(AppJson(
        configure::set_enabled(state.pool(), &current, id, true).await?,
    ))
}

#[utoipa::path(post, path = "/api/sidebar-sections/{id}/disable", tag = "sidebar", params(("id" = i64, Path)),
    responses((status = 200, body = Section), (status = 404, body = ErrorBody)))]
pub async fn disable_section(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<Section>, AppError> {
    Ok(AppJson(
        configure::set_enabled(state.pool(), &current, id, false).await?,
    ))
}

/// Every section of the ticket's channel, each fetched (or served from cache) in parallel.
#[utoipa::path(get, path = "/api/tickets/{id}/sidebar", tag = "sidebar", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<SectionLoad>), (status = 404, body = ErrorBody)))]
pub async fn ticket_sidebar(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<Vec<SectionLoad>>, AppError> {
    Ok(AppJson(
        state
            .sidebar()
            .load_ticket_sidebar(current.user.workspace_id, id)
            .await?,
    ))
}

/// Loads one section of the ticket afresh, bypassing the cache; at most once per
/// `SIDEBAR_REFRESH_INTERVAL` (10 s) per section and contact, else 429.
#[utoipa::path(post, path = "/api/tickets/{id}/sidebar/{section_id}/refresh", tag = "sidebar",
    params(("id" = i64, Path), ("section_id" = i64, Path)),
    responses((status = 200, body = SectionLoad), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn refresh_ticket_section(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath((id, section_id)): AppPath<(i64, i64)>,
) -> Result<AppJson<SectionLoad>, AppError> {
    match state
        .sidebar()
        .load_ticket_section(current.user.workspace_id, id, section_id, LoadMode::Refresh)
        .await?
    {
        Ok(load) => Ok(AppJson(load)),
        Err(too_soon) => Err(AppError::RateLimited {
            retry_after: too_soon.retry_after_seconds,
            message: format!(
                "Refreshed moments ago; try again in {} s.",
                too_soon.retry_after_seconds
            ),
        }),
    }
}
