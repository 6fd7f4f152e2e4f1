//! Custom sidebar sections: admin-configured endpoints called with the contact's email when
//! an agent opens a ticket, their answers cached, judged, and rendered safely.

pub mod failures;
pub mod fetch;
pub mod items;
pub mod render;
pub mod sections;
pub mod single_flight;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::AppError;
use crate::helpdesk::tickets::get_ticket;
use crate::state::AppState;
pub use fetch::{LoadStatus, SectionLoad, SidebarRuntime};
use sections::Section;

/// Every section of the ticket's channel, loaded in parallel, in the admin's order.
pub async fn load_ticket_sidebar(
    state: &AppState,
    workspace_id: i64,
    ticket_id: i64,
) -> Result<Vec<SectionLoad>, AppError> {
    let mut conn = state.pool().acquire().await?;
    let ticket = get_ticket(&mut conn, workspace_id, ticket_id).await?;
    let sections = sections::sections_for_channel(
        &mut conn,
        workspace_id,
        ticket.channel.as_ref().map(|c| c.id),
    )
    .await?;
    drop(conn);
    let loads = sections
        .iter()
        .map(|section| fetch::load_section(state, section, &ticket.contact));
    Ok(futures_util::future::join_all(loads).await)
}

/// One section of one ticket, for the ticket page's per-section loading.
pub async fn load_ticket_section(
    state: &AppState,
    workspace_id: i64,
    ticket_id: i64,
    section_id: i64,
) -> Result<SectionLoad, AppError> {
    let mut conn = state.pool().acquire().await?;
    let ticket = get_ticket(&mut conn, workspace_id, ticket_id).await?;
    let sections = sections::sections_for_channel(
        &mut conn,
        workspace_id,
        ticket.channel.as_ref().map(|c| c.id),
    )
    .await?;
    drop(conn);
    let section = sections
        .into_iter()
        .find(|s| s.id == section_id)
        .ok_or(AppError::NotFound)?;
    Ok(fetch::load_section(state, &section, &ticket.contact).await)
}

pub const TEST_EMAIL: &str = "test@example.com";

/// What the Test button shows: the raw exchange and how the data would render.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TestReport {
    pub ok: bool,
    pub duration_ms: u64,
    pub request: TestRequest,
    pub response: Option<TestResponse>,
    /// Why the call failed, or why its answer is not usable data.
    pub error: Option<String>,
    /// The items as returned, when the body had a `data` array.
    #[schema(value_type = Option<Vec<Object>>)]
    pub items: Option<Vec<Value>>,
    /// Items that could not be rendered as their type, and why.
    pub problems: Vec<String>,
    /// The rendered preview (sanitised HTML).
    pub preview_html: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TestRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TestResponse {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub truncated: bool,
}

/// Sends `{"email":"test@example.com"}` exactly as a real call. Neither reads nor fills the
/// cache, and never counts toward failures.
pub async fn test_section(state: &AppState, section: &Section) -> TestReport {
    let exchange = fetch::call_endpoint(state, section, TEST_EMAIL).await;
    let outcome = fetch::judge_exchange(&exchange);
    let (items, problems, preview_html, error) = match outcome {
        Ok(items) => {
            let (judged, problems) = items::judge_items(&items);
            (
                Some(items),
                problems,
                Some(render::render_items(&judged)),
                None,
            )
        }
        Err(error) => (None, Vec::new(), None, Some(error)),
    };
    TestReport {
        ok: error.is_none(),
        duration_ms: exchange.duration.as_millis() as u64,
        request: TestRequest {
            url: exchange.request.url.clone(),
            headers: exchange.request.headers.clone(),
            body: String::from_utf8_lossy(&exchange.request.body).into_owned(),
        },
        response: exchange.outcome.as_ref().ok().map(|r| TestResponse {
            status: r.status,
            reason: r.reason.clone(),
            headers: r.headers.clone(),
            body: String::from_utf8_lossy(&r.body).into_owned(),
            truncated: r.truncated,
        }),
        error,
        items,
        problems,
        preview_html,
    }
}

/// The HTML of a loaded section's body: its items, or a short error.
pub fn render_load(load: &SectionLoad) -> String {
    match (&load.status, &load.items) {
        (LoadStatus::Ok, Some(items)) => {
            let (judged, _) = items::judge_items(items);
            if judged.is_empty() {
                "<p class=\"muted\">No data for this contact.</p>".into()
            } else {
                render::render_items(&judged)
            }
        }
        (LoadStatus::Disabled, _) => "<p class=\"muted\">This section is disabled.</p>".into(),
        _ => {
            let error = load.error.as_deref().unwrap_or("unknown error");
            format!(
                "<p class=\"section-error\">Couldn\u{2019}t load: {}</p>",
                escape(error)
            )
        }
    }
}

fn escape(text: &str) -> String {
    askama::filters::escape(text, askama::filters::Html)
        .map(|s| s.to_string())
        .unwrap_or_default()
}
