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
use crate::helpdesk::contacts::Contact;
use crate::limits::{RatedAction, rate};
use crate::state::AppState;
pub use fetch::{LoadMode, LoadStatus, SectionLoad, SidebarRuntime};
use sections::Section;

/// The ticket's contact and channel: all a sidebar needs of the ticket.
async fn ticket_contact(
    conn: &mut sqlx::PgConnection,
    workspace_id: i64,
    ticket_id: i64,
) -> Result<(Contact, Option<i64>), AppError> {
    let row: Option<(i64, String, String, Option<i64>)> = sqlx::query_as(
        "SELECT ct.id, ct.name, ct.email, t.channel_id FROM tickets t
         JOIN contacts ct ON ct.id = t.contact_id WHERE t.id = $1 AND t.workspace_id = $2",
    )
    .bind(ticket_id)
    .bind(workspace_id)
    .fetch_optional(conn)
    .await?;
    let (id, name, email, channel_id) = row.ok_or(AppError::NotFound)?;
    Ok((Contact { id, name, email }, channel_id))
}

/// Every section of the ticket's channel, loaded in parallel, in the admin's order. A warm
/// sidebar costs one query (the ticket's contact and its sections with their cached
/// answers); only the misses go further.
pub async fn load_ticket_sidebar(
    state: &AppState,
    workspace_id: i64,
    ticket_id: i64,
) -> Result<Vec<SectionLoad>, AppError> {
    let (contact, sections) = sections::ticket_sections_with_cache(
        state.pool(),
        workspace_id,
        ticket_id,
        state.sidebar().cache_ttl,
    )
    .await?
    .ok_or(AppError::NotFound)?;
    let contact = &contact;
    let loads = sections.into_iter().map(|row| async move {
        let section = &row.section;
        match (section.enabled, row.cached_items, row.cached_at) {
            (true, Some(items), Some(fetched_at)) => {
                fetch::cached_load(section, items.0, fetched_at)
            }
            _ => fetch::load_section(state, section, contact, LoadMode::AfterCacheMiss).await,
        }
    });
    Ok(futures_util::future::join_all(loads).await)
}

/// Why a refresh was refused: the section and contact were refreshed moments ago.
#[derive(Debug, Clone, Copy)]
pub struct RefreshTooSoon {
    pub retry_after_seconds: u64,
}

/// One section of one ticket, for the ticket page's per-section loading. A `Refresh` load
/// bypasses the cache, at most once per `SIDEBAR_REFRESH_INTERVAL` per section and contact.
pub async fn load_ticket_section(
    state: &AppState,
    workspace_id: i64,
    ticket_id: i64,
    section_id: i64,
    mode: LoadMode,
) -> Result<Result<SectionLoad, RefreshTooSoon>, AppError> {
    let mut conn = state.pool().acquire().await?;
    let (contact, channel_id) = ticket_contact(&mut conn, workspace_id, ticket_id).await?;
    let section = sections::sections_for_channel(&mut conn, workspace_id, channel_id)
        .await?
        .into_iter()
        .find(|s| s.id == section_id)
        .ok_or(AppError::NotFound)?;
    drop(conn);
    if mode == LoadMode::Refresh
        && section.enabled
        && let Err(retry_after_seconds) =
            fetch::take_refresh_slot(state, section.id, contact.id).await
    {
        return Ok(Err(RefreshTooSoon {
            retry_after_seconds,
        }));
    }
    Ok(Ok(
        fetch::load_section(state, &section, &contact, mode).await
    ))
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
    /// The `X-There-There-Signature` value that was sent.
    pub signature_sent: Option<String>,
    /// For a Test as typed with no secret: the one generated for it (keep it to save with).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_secret: Option<String>,
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
/// cache, and never counts toward failures; rate-limited per section (`SECTION_TESTS_PER_MINUTE`).
pub async fn test_section(state: &AppState, section: &Section) -> Result<TestReport, AppError> {
    let limits = &state.config().limits;
    rate::hit(state.pool(), limits, RatedAction::SectionTest, section.id).await?;
    Ok(run_test(state, section.endpoint(), section.secret_bytes()).await)
}

/// The Test of an endpoint and secret as typed, before anything is saved (the spec: "before
/// enabling a section in production"). An empty secret is generated here, and returned so the
/// form can keep it for saving. Rate-limited per workspace (`SECTION_TESTS_PER_MINUTE`).
pub async fn test_draft(
    state: &AppState,
    workspace_id: i64,
    endpoint_url: &str,
    secret: Option<&str>,
) -> Result<(TestReport, String), AppError> {
    let endpoint = sections::check_endpoint(state.outbound(), endpoint_url).await?;
    let secret = sections::secret_or_generated(secret)?;
    let limits = &state.config().limits;
    rate::hit(
        state.pool(),
        limits,
        RatedAction::DraftSectionTest,
        workspace_id,
    )
    .await?;
    let report = run_test(state, &endpoint, secret.as_bytes()).await;
    Ok((report, secret))
}

async fn run_test(state: &AppState, endpoint_url: &str, secret: &[u8]) -> TestReport {
    let exchange = fetch::call_endpoint(state, endpoint_url, secret, TEST_EMAIL).await;
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
        signature_sent: exchange
            .request
            .headers
            .iter()
            .find(|(name, _)| name == fetch::SIGNATURE_HEADER)
            .map(|(_, value)| value.clone()),
        generated_secret: None,
    }
}

/// The HTML of a loaded section's body: its items, or a short error.
pub fn render_load(load: &SectionLoad) -> String {
    if load.stale
        && let (Some(items), Some(fetched_at)) = (&load.items, load.fetched_at)
    {
        let (judged, _) = items::judge_items(items);
        let error = load.error.as_deref().unwrap_or("unknown error");
        return format!(
            "<p class=\"section-stale\" role=\"status\">Stale \u{2014} couldn\u{2019}t refresh: {}. Data from {}.</p>{}",
            escape(error),
            age_text(chrono::Utc::now() - fetched_at),
            render::render_items(&judged)
        );
    }
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

/// "5 minutes ago", "3 hours ago".
fn age_text(age: chrono::Duration) -> String {
    let minutes = age.num_minutes().max(0);
    match minutes {
        0 => "less than a minute ago".into(),
        1 => "1 minute ago".into(),
        2..=59 => format!("{minutes} minutes ago"),
        _ => match (minutes + 30) / 60 {
            1 => "1 hour ago".into(),
            hours => format!("{hours} hours ago"),
        },
    }
}

fn escape(text: &str) -> String {
    askama::filters::escape(text, askama::filters::Html)
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// What the section page shows endpoint authors: the exact bytes of a call for an example
/// contact and the signature this section's secret gives them.
pub struct SigningExample {
    pub body: String,
    pub signature: String,
}

pub const EXAMPLE_EMAIL: &str = "customer@example.com";

pub fn signing_example(section: &Section) -> SigningExample {
    let body = serde_json::json!({ "email": EXAMPLE_EMAIL }).to_string();
    let signature = crate::outbound::signature::sign_hex(section.secret_bytes(), body.as_bytes());
    SigningExample { body, signature }
}
