//! Loading sections for a ticket: the shared cache first, then one outbound call per section
//! and contact (single-flight within an instance, a lease across instances), its outcome
//! counted toward auto-disable, and on failure the last good answer shown as stale.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::call::{CallFailure, FetchOutcome};
use super::sections::{self, Section};
use super::{Sidebar, cache, call, failures, lease, refresh_limit};
use crate::error::AppError;
use tracing::Instrument;

use crate::helpdesk::contacts::Contact;
use crate::metrics::{CacheResult, CallOutcome};
use crate::outbound::OutboundFailure;

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

impl SectionLoad {
    fn new(section: &Section, status: LoadStatus) -> Self {
        SectionLoad {
            id: section.id,
            title: section.title.clone(),
            status,
            items: None,
            cached: false,
            error: None,
            stale: false,
            fetched_at: None,
        }
    }

    /// A load served from an already-read cache entry.
    fn cached(section: &Section, items: Vec<Value>, fetched_at: DateTime<Utc>) -> Self {
        SectionLoad {
            items: Some(items),
            cached: true,
            fetched_at: Some(fetched_at),
            ..SectionLoad::new(section, LoadStatus::Ok)
        }
    }
}

/// Why a refresh was refused: the section and contact were refreshed moments ago.
#[derive(Debug, Clone, Copy)]
pub struct RefreshTooSoon {
    pub retry_after_seconds: u64,
}

impl Sidebar {
    /// Every section of the ticket's channel, loaded in parallel, in the admin's order. A warm
    /// sidebar costs one query (the ticket's contact and its sections with their cached
    /// answers); only the misses go further.
    pub async fn load_ticket_sidebar(
        &self,
        workspace_id: i64,
        ticket_id: i64,
    ) -> Result<Vec<SectionLoad>, AppError> {
        let (contact, sections) = sections::ticket_sections_with_cache(
            self.pool(),
            workspace_id,
            ticket_id,
            self.settings().cache_ttl,
        )
        .await?
        .ok_or(AppError::NotFound)?;
        let contact = &contact;
        let enabled = sections.iter().filter(|row| row.section.enabled);
        let hits = enabled
            .clone()
            .filter(|row| row.cached_items.is_some())
            .count();
        let metrics = &self.0.metrics;
        metrics.sidebar_cache(CacheResult::hit, hits as u64);
        metrics.sidebar_cache(CacheResult::miss, (enabled.count() - hits) as u64);
        let loads = sections.into_iter().map(|row| async move {
            let section = &row.section;
            match (section.enabled, row.cached_items, row.cached_at) {
                (true, Some(items), Some(fetched_at)) => {
                    SectionLoad::cached(section, items.0, fetched_at)
                }
                _ => {
                    self.load_section(section, contact, LoadMode::AfterCacheMiss)
                        .await
                }
            }
        });
        Ok(futures_util::future::join_all(loads).await)
    }

    /// One section of one ticket, for the ticket page's per-section loading. A `Refresh` load
    /// bypasses the cache, at most once per `SIDEBAR_REFRESH_INTERVAL` per section and contact.
    pub async fn load_ticket_section(
        &self,
        workspace_id: i64,
        ticket_id: i64,
        section_id: i64,
        mode: LoadMode,
    ) -> Result<Result<SectionLoad, RefreshTooSoon>, AppError> {
        let mut conn = self.pool().acquire().await?;
        let (contact, channel_id) = ticket_contact(&mut conn, workspace_id, ticket_id).await?;
        let section = sections::sections_for_channel(&mut conn, workspace_id, channel_id)
            .await?
            .into_iter()
            .find(|s| s.id == section_id)
            .ok_or(AppError::NotFound)?;
        drop(conn);
        if mode == LoadMode::Refresh
            && section.enabled
            && let Err(retry_after_seconds) = refresh_limit::take_slot(
                self.pool(),
                section.id,
                contact.id,
                self.settings().refresh_interval,
            )
            .await
        {
            return Ok(Err(RefreshTooSoon {
                retry_after_seconds,
            }));
        }
        Ok(Ok(self.load_section(&section, &contact, mode).await))
    }

    async fn load_section(
        &self,
        section: &Section,
        contact: &Contact,
        mode: LoadMode,
    ) -> SectionLoad {
        if !section.enabled {
            return SectionLoad::new(section, LoadStatus::Disabled);
        }
        let settings = self.settings();
        if mode == LoadMode::Normal {
            match cache::fresh_entry(self.pool(), section, contact.id, settings.cache_ttl).await {
                Ok(Some((items, fetched_at))) => {
                    self.0.metrics.sidebar_cache(CacheResult::hit, 1);
                    return SectionLoad::cached(section, items, fetched_at);
                }
                Ok(None) => self.0.metrics.sidebar_cache(CacheResult::miss, 1),
                Err(err) => {
                    tracing::warn!(section.id = section.id, error = %err, "sidebar cache read failed")
                }
            }
        }
        // Agents see what kind of failure it was; the detail is for admins and the log.
        let failed = |error: CallFailure| SectionLoad {
            error: Some(error.for_agents().to_string()),
            ..SectionLoad::new(section, LoadStatus::Error)
        };
        match self.call_once(section, contact).await {
            Some(Ok(items)) => SectionLoad {
                items: Some(items),
                ..SectionLoad::new(section, LoadStatus::Ok)
            },
            Some(Err(error)) => {
                let last_good = cache::last_good_entry(
                    self.pool(),
                    section,
                    contact.id,
                    settings.stale_max_age,
                )
                .await;
                match last_good {
                    // The failure is already counted; the last good answer is shown, marked stale.
                    Ok(Some((items, fetched_at))) => {
                        self.0.metrics.sidebar_stale_served();
                        SectionLoad {
                            items: Some(items),
                            stale: true,
                            fetched_at: Some(fetched_at),
                            ..failed(error)
                        }
                    }
                    _ => failed(error),
                }
            }
            None => failed(CallFailure::recorded("the call ended unexpectedly".into())),
        }
    }

    /// Calls the endpoint, or joins this instance's call for the same section and contact
    /// already under way; `None` when that call panicked.
    pub(super) async fn call_once(
        &self,
        section: &Section,
        contact: &Contact,
    ) -> Option<FetchOutcome> {
        let key = (section.id, contact.id, section.version);
        let span = tracing::info_span!(
            "sidebar_call",
            section.id = section.id,
            contact.id = contact.id
        );
        let work = self
            .clone()
            .fetch_and_record(section.clone(), contact.clone())
            .instrument(span);
        self.0.inflight.run(key, work).await
    }

    /// The call itself, run once for every concurrent load of this section and contact.
    async fn fetch_and_record(self, section: Section, contact: Contact) -> FetchOutcome {
        let pool = self.pool();
        match lease::take(pool, section.id, contact.id).await {
            Ok(true) => {}
            Ok(false) => {
                let ttl = self.settings().cache_ttl;
                if let Some(shared) =
                    lease::wait_for_other_instance(pool, &section, contact.id, ttl).await
                {
                    return shared;
                }
            }
            Err(err) => {
                tracing::warn!(section.id = section.id, error = %err, "sidebar lease failed; fetching anyway")
            }
        }
        let exchange = call::call_endpoint(
            &self.0.outbound.sidebar,
            section.endpoint(),
            section.secret_bytes(),
            &contact.email,
        )
        .await;
        let answer = call::judge_exchange(&exchange);
        let counted = match (&answer, &exchange.outcome) {
            (Ok(_), _) => CallOutcome::ok,
            (Err(_), Err(OutboundFailure::TimedOut)) => CallOutcome::timeout,
            (Err(_), _) => CallOutcome::error,
        };
        self.0.metrics.sidebar_call(counted, exchange.duration);
        let recorded = match &answer {
            Ok(answer) => cache::store(pool, &section, contact.id, answer)
                .await
                .and(failures::record_success(pool, section.id).await),
            Err(error) => {
                let section_page = self
                    .0
                    .app_url
                    .link(&format!("/settings/sidebar-sections/{}", section.id));
                let disabled =
                    failures::record_failure(pool, &section_page, section.id, &error.detail).await;
                if matches!(disabled, Ok(true)) {
                    self.0.metrics.section_auto_disabled();
                }
                disabled.map(|_| ())
            }
        };
        if let Err(err) = recorded {
            tracing::error!(section.id = section.id, error = %err, "recording a sidebar fetch failed");
        }
        lease::release(pool, section.id, contact.id).await;
        answer.map(|answer| answer.items)
    }
}

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
