//! Loading a section's data for a contact: the shared cache first, then one outbound call
//! (single-flight within an instance, a lease across instances), with the outcome counted
//! toward auto-disable. Failures are never cached.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use utoipa::ToSchema;

use super::failures::{record_failure, record_success};
use super::items::data_array;
use super::sections::Section;
use super::single_flight::SingleFlight;
use crate::helpdesk::contacts::Contact;
use crate::outbound::{Exchange, OutboundFailure, Signing};
use crate::state::AppState;

pub const SIGNATURE_HEADER: &str = "x-there-there-signature";
/// How long another instance's fetch is waited for before fetching anyway.
const LEASE: Duration = Duration::from_secs(5);

/// What one fetch produced: the `data` items, or why there are none.
pub type FetchOutcome = Result<Vec<Value>, String>;

/// Per-instance sidebar machinery and its timings.
#[derive(Default)]
pub struct SidebarRuntime {
    /// How long an answer is served as fresh (`SIDEBAR_CACHE_TTL`).
    pub cache_ttl: Duration,
    /// How old the last good answer may be to be shown, marked stale, when a call fails.
    pub stale_max_age: Duration,
    /// How often one agent team may force a refresh of one section for one contact.
    pub refresh_interval: Duration,
    inflight: SingleFlight<(i64, i64, i32), FetchOutcome>,
}

impl SidebarRuntime {
    pub fn new(cache_ttl: Duration, stale_max_age: Duration, refresh_interval: Duration) -> Self {
        SidebarRuntime {
            cache_ttl,
            stale_max_age,
            refresh_interval,
            inflight: SingleFlight::default(),
        }
    }
}

/// Whether a load may use the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    Normal,
    /// An agent asked for fresh data: call the endpoint even if the cache is fresh.
    Refresh,
    /// The caller has just read the cache and found nothing fresh: don't read it again.
    AfterCacheMiss,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LoadStatus {
    Ok,
    Error,
    Disabled,
}

/// One section's result for a ticket.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SectionLoad {
    pub id: i64,
    pub title: String,
    pub status: LoadStatus,
    /// The `data` array exactly as the endpoint returned it.
    #[schema(value_type = Option<Vec<Object>>)]
    pub items: Option<Vec<Value>>,
    pub cached: bool,
    pub error: Option<String>,
    /// True when the call failed and `items` are the last good answer, older than the cache
    /// window; never true for fresh data.
    pub stale: bool,
    /// When `items` were fetched (for cached and stale answers).
    pub fetched_at: Option<DateTime<Utc>>,
}

pub async fn load_section(
    state: &AppState,
    section: &Section,
    contact: &Contact,
    mode: LoadMode,
) -> SectionLoad {
    let load = |status, items, cached, error| SectionLoad {
        id: section.id,
        title: section.title.clone(),
        status,
        items,
        cached,
        error,
        stale: false,
        fetched_at: None,
    };
    if !section.enabled {
        return load(LoadStatus::Disabled, None, false, None);
    }
    let runtime = state.sidebar();
    if mode == LoadMode::Normal {
        match cached_entry(state.pool(), section, contact.id, runtime.cache_ttl).await {
            Ok(Some((items, fetched_at))) => {
                return SectionLoad {
                    fetched_at: Some(fetched_at),
                    ..load(LoadStatus::Ok, Some(items), true, None)
                };
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(section.id = section.id, error = %err, "sidebar cache read failed")
            }
        }
    }
    let key = (section.id, contact.id, section.version);
    let work = fetch_and_record(state.clone(), section.clone(), contact.clone());
    match runtime.inflight.run(key, work).await {
        Ok(items) => load(LoadStatus::Ok, Some(items), false, None),
        Err(error) => {
            match cached_entry(state.pool(), section, contact.id, runtime.stale_max_age).await {
                // The failure is already counted; the last good answer is shown, marked stale.
                Ok(Some((items, fetched_at))) => SectionLoad {
                    stale: true,
                    fetched_at: Some(fetched_at),
                    ..load(LoadStatus::Error, Some(items), false, Some(error))
                },
                _ => load(LoadStatus::Error, None, false, Some(error)),
            }
        }
    }
}

/// Takes this section-and-contact's refresh slot; `Err(seconds)` until the next one opens.
pub async fn take_refresh_slot(
    state: &AppState,
    section_id: i64,
    contact_id: i64,
) -> Result<(), u64> {
    let interval = state.sidebar().refresh_interval.as_secs_f64();
    let taken: Result<Option<i32>, _> = sqlx::query_scalar(
        "INSERT INTO sidebar_refreshes (section_id, contact_id, refreshed_at) VALUES ($1, $2, now())
         ON CONFLICT (section_id, contact_id) DO UPDATE SET refreshed_at = now()
           WHERE sidebar_refreshes.refreshed_at <= now() - make_interval(secs => $3)
         RETURNING 1",
    )
    .bind(section_id)
    .bind(contact_id)
    .bind(interval)
    .fetch_optional(state.pool())
    .await;
    match taken {
        Ok(Some(_)) => Ok(()),
        Ok(None) => {
            let wait: f64 = sqlx::query_scalar(
                "SELECT GREATEST(0, EXTRACT(EPOCH FROM refreshed_at + make_interval(secs => $3) - now()))::float8
                 FROM sidebar_refreshes WHERE section_id = $1 AND contact_id = $2",
            )
            .bind(section_id)
            .bind(contact_id)
            .bind(interval)
            .fetch_one(state.pool())
            .await
            .unwrap_or(interval);
            Err(wait.ceil().max(1.0) as u64)
        }
        // A failing limiter must not let a team hammer the endpoint: refuse for one interval.
        Err(err) => {
            tracing::warn!(error = %err, "sidebar refresh limiter failed");
            Err(interval.ceil() as u64)
        }
    }
}

async fn fetch_and_record(state: AppState, section: Section, contact: Contact) -> FetchOutcome {
    let pool = state.pool();
    match take_lease(pool, section.id, contact.id).await {
        Ok(true) => {}
        Ok(false) => {
            if let Some(shared) = wait_for_other_instance(&state, &section, contact.id).await {
                return shared;
            }
        }
        Err(err) => {
            tracing::warn!(section.id = section.id, error = %err, "sidebar lease failed; fetching anyway")
        }
    }
    let exchange = call_endpoint(
        &state,
        section.endpoint(),
        section.secret_bytes(),
        &contact.email,
    )
    .await;
    let outcome = judge_exchange(&exchange);
    let recorded = match &outcome {
        Ok(items) => store_in_cache(pool, &section, contact.id, items)
            .await
            .and(record_success(pool, section.id).await),
        Err(error) => record_failure(pool, state.config(), section.id, error)
            .await
            .map(|_| ()),
    };
    if let Err(err) = recorded {
        tracing::error!(section.id = section.id, error = %err, "recording a sidebar fetch failed");
    }
    let _ =
        sqlx::query("DELETE FROM sidebar_fetch_leases WHERE section_id = $1 AND contact_id = $2")
            .bind(section.id)
            .bind(contact.id)
            .execute(pool)
            .await;
    outcome
}

/// The signed POST, exactly as the spec describes it, to an endpoint with its secret.
pub async fn call_endpoint(
    state: &AppState,
    endpoint_url: &str,
    secret: &[u8],
    email: &str,
) -> Exchange {
    let body =
        Bytes::from(serde_json::to_vec(&json!({ "email": email })).expect("JSON of a string"));
    let url = url::Url::parse(endpoint_url)
        .unwrap_or_else(|_| url::Url::parse("https://invalid.invalid/").unwrap());
    let signing = Signing {
        header: SIGNATURE_HEADER,
        secret,
    };
    state
        .outbound()
        .sidebar
        .post_json(&url, body, Some(signing), HeaderMap::new())
        .await
}

/// Success is a 2xx answer whose body is a JSON object with a `data` array.
pub fn judge_exchange(exchange: &Exchange) -> FetchOutcome {
    let received = exchange.outcome.as_ref().map_err(|failure| match failure {
        OutboundFailure::TimedOut => "timed out".to_string(),
        other => other.to_string(),
    })?;
    if !received.is_success() {
        return Err(format!("the endpoint answered HTTP {}", received.status));
    }
    if received.truncated {
        return Err(format!(
            "the response is larger than {} KiB",
            received.body.len() / 1024
        ));
    }
    data_array(&received.body).map_err(|e| e.to_string())
}

/// The cached answer for this section version and contact, if fetched within `max_age`.
async fn cached_entry(
    pool: &PgPool,
    section: &Section,
    contact_id: i64,
    max_age: Duration,
) -> Result<Option<(Vec<Value>, DateTime<Utc>)>, sqlx::Error> {
    let row: Option<(sqlx::types::Json<Vec<Value>>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT items, fetched_at FROM sidebar_cache
         WHERE section_id = $1 AND contact_id = $2 AND section_version = $3
           AND fetched_at > now() - make_interval(secs => $4)",
    )
    .bind(section.id)
    .bind(contact_id)
    .bind(section.version)
    .bind(max_age.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(json, at)| (json.0, at)))
}

async fn store_in_cache(
    pool: &PgPool,
    section: &Section,
    contact_id: i64,
    items: &[Value],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sidebar_cache (section_id, contact_id, section_version, items, fetched_at)
         VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (section_id, contact_id) DO UPDATE
           SET section_version = EXCLUDED.section_version, items = EXCLUDED.items, fetched_at = EXCLUDED.fetched_at",
    )
    .bind(section.id)
    .bind(contact_id)
    .bind(section.version)
    .bind(sqlx::types::Json(items))
    .execute(pool)
    .await?;
    Ok(())
}

/// True when this instance may call the endpoint; false while another instance's live lease
/// says it is already calling.
async fn take_lease(pool: &PgPool, section_id: i64, contact_id: i64) -> Result<bool, sqlx::Error> {
    let taken: Option<i32> = sqlx::query_scalar(
        "INSERT INTO sidebar_fetch_leases (section_id, contact_id, leased_until)
         VALUES ($1, $2, now() + make_interval(secs => $3))
         ON CONFLICT (section_id, contact_id) DO UPDATE SET leased_until = EXCLUDED.leased_until
           WHERE sidebar_fetch_leases.leased_until < now()
         RETURNING 1",
    )
    .bind(section_id)
    .bind(contact_id)
    .bind(LEASE.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    Ok(taken.is_some())
}

/// Waits for another instance's fetch to land in the cache. `None`: it did not (lease expired
/// or the other fetch failed without news), so fetch here.
async fn wait_for_other_instance(
    state: &AppState,
    section: &Section,
    contact_id: i64,
) -> Option<FetchOutcome> {
    let deadline = tokio::time::Instant::now() + LEASE;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Ok(Some((items, _))) =
            cached_entry(state.pool(), section, contact_id, state.sidebar().cache_ttl).await
        {
            return Some(Ok(items));
        }
        let lease_held: Result<bool, _> = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sidebar_fetch_leases
                            WHERE section_id = $1 AND contact_id = $2 AND leased_until > now())",
        )
        .bind(section.id)
        .bind(contact_id)
        .fetch_one(state.pool())
        .await;
        if !matches!(lease_held, Ok(true)) {
            // The other fetch ended without caching: it failed, and already counted that.
            let last: Option<String> =
                sqlx::query_scalar("SELECT last_error FROM sidebar_sections WHERE id = $1")
                    .bind(section.id)
                    .fetch_one(state.pool())
                    .await
                    .ok()
                    .flatten();
            return last.map(Err);
        }
    }
    None
}

/// A load served from an already-read cache entry.
pub fn cached_load(section: &Section, items: Vec<Value>, fetched_at: DateTime<Utc>) -> SectionLoad {
    SectionLoad {
        id: section.id,
        title: section.title.clone(),
        status: LoadStatus::Ok,
        items: Some(items),
        cached: true,
        error: None,
        stale: false,
        fetched_at: Some(fetched_at),
    }
}
