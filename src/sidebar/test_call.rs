//! The Test button: one real call to an endpoint, shown raw (request, response, signature)
//! with how its data would render. Never reads or fills the cache, never counts failures.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::sections::{self, Section};
use super::{Sidebar, call, configure, items, render, section_input};
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::limits::{RatedAction, rate};
use crate::outbound::signature::{SIDEBAR_SIGNATURE_HEADER, sign_hex};

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
    /// How long this answer would be cached, in seconds: the endpoint's `cache_seconds`
    /// (clamped to 15 s–24 h) or the configured `SIDEBAR_CACHE_TTL`. Null when it failed.
    pub cached_for_seconds: Option<u64>,
    /// True when the endpoint set `cache_seconds` itself.
    pub cache_seconds_from_endpoint: bool,
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

impl Sidebar {
    /// Sends `{"email":"test@example.com"}` exactly as a real call. Neither reads nor fills the
    /// cache, and never counts toward failures; rate-limited per section (`SECTION_TESTS_PER_MINUTE`).
    pub async fn test_section(
        &self,
        user: &CurrentUser,
        section: &Section,
    ) -> Result<TestReport, AppError> {
        sections::ensure_may_manage(user)?;
        rate::hit(
            self.pool(),
            &self.0.limits,
            RatedAction::SectionTest,
            section.id,
        )
        .await?;
        Ok(self
            .run_test(section.endpoint(), section.secret_bytes())
            .await)
    }

    /// Tests the section and, when the Test passes, enables it with its failure counter reset,
    /// in one step. The section as it now is, and the report either way.
    pub async fn test_and_enable(
        &self,
        user: &CurrentUser,
        section: &Section,
    ) -> Result<(TestReport, Section), AppError> {
        let report = self.test_section(user, section).await?;
        let section = if report.ok {
            configure::set_enabled(self.pool(), user, section.id, true).await?
        } else {
            section.clone()
        };
        Ok((report, section))
    }

    /// The Test of an endpoint and secret as typed, before anything is saved (the spec: "before
    /// enabling a section in production"). An empty secret is generated here, and returned so the
    /// form can keep it for saving. Rate-limited per workspace (`SECTION_TESTS_PER_MINUTE`).
    pub async fn test_draft(
        &self,
        user: &CurrentUser,
        endpoint_url: &str,
        secret: Option<&str>,
    ) -> Result<(TestReport, String), AppError> {
        sections::ensure_may_manage(user)?;
        let endpoint = section_input::check_endpoint(&self.0.outbound, endpoint_url).await?;
        let secret = section_input::secret_or_generated(secret)?;
        rate::hit(
            self.pool(),
            &self.0.limits,
            RatedAction::DraftSectionTest,
            user.user.workspace_id,
        )
        .await?;
        let report = self.run_test(&endpoint, secret.as_bytes()).await;
        Ok((report, secret))
    }

    async fn run_test(&self, endpoint_url: &str, secret: &[u8]) -> TestReport {
        let exchange =
            call::call_endpoint(&self.0.outbound.sidebar, endpoint_url, secret, TEST_EMAIL).await;
        let outcome = call::judge_exchange(&exchange);
        let asked = outcome
            .as_ref()
            .ok()
            .and_then(|answer| answer.cache_seconds);
        let cached_for_seconds = outcome
            .as_ref()
            .ok()
            .map(|_| asked.map_or(self.settings().cache_ttl.as_secs(), u64::from));
        let (items, problems, preview_html, error) = match outcome {
            Ok(answer) => {
                let (judged, problems) = items::judge_items(&answer.items);
                (
                    Some(answer.items),
                    problems,
                    Some(render::render_items(&judged)),
                    None,
                )
            }
            Err(error) => (None, Vec::new(), None, Some(error.detail)),
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
                .find(|(name, _)| name == SIDEBAR_SIGNATURE_HEADER)
                .map(|(_, value)| value.clone()),
            generated_secret: None,
            cached_for_seconds,
            cache_seconds_from_endpoint: asked.is_some(),
        }
    }
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
    let signature = sign_hex(section.secret_bytes(), body.as_bytes());
    SigningExample { body, signature }
}
