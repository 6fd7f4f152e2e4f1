//! The per-section fragment the ticket page loads for agents, after the page itself, and
//! again for the section's Refresh button.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::extract::PagePath;
use super::{PageError, PageUser};
use crate::auth::CurrentUser;
use crate::sidebar::{self, LoadMode, render};
use crate::web::state::AppState;

/// The body of one section on the ticket page: its items, or a short error. Loaded by the
/// page's script after the page itself has rendered.
pub async fn ticket_fragment(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath((ticket_id, section_id)): PagePath<(i64, i64)>,
) -> Result<Response, PageError> {
    fragment(&state, &user, ticket_id, section_id, LoadMode::Normal).await
}

/// The same, fetched afresh for the section's Refresh button (limited per section and contact).
pub async fn refresh_fragment(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath((ticket_id, section_id)): PagePath<(i64, i64)>,
) -> Result<Response, PageError> {
    fragment(&state, &user, ticket_id, section_id, LoadMode::Refresh).await
}

async fn fragment(
    state: &AppState,
    user: &CurrentUser,
    ticket_id: i64,
    section_id: i64,
    mode: LoadMode,
) -> Result<Response, PageError> {
    let load = match state
        .sidebar()
        .load_ticket_section(user.user.workspace_id, ticket_id, section_id, mode)
        .await?
    {
        Ok(load) => load,
        Err(too_soon) => {
            let wait = too_soon.retry_after_seconds.to_string();
            return Ok((
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, wait.clone())],
                format!("Refreshed moments ago; try again in {wait} s."),
            )
                .into_response());
        }
    };
    let empty = load.items.as_ref().is_some_and(Vec::is_empty);
    let status = match (load.status, load.stale) {
        (_, true) => "stale",
        // The page shows an empty answer collapsed.
        (sidebar::LoadStatus::Ok, _) if empty => "empty",
        (sidebar::LoadStatus::Ok, _) => "ok",
        (sidebar::LoadStatus::Error, _) => "error",
        (sidebar::LoadStatus::Disabled, _) => "disabled",
    };
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::HeaderName::from_static("x-section-status"), status),
        ],
        Html(render::render_load(&load)),
    )
        .into_response())
}
