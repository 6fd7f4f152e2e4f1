//! Warm-up: sections marked "Load when a ticket arrives" are called in the background when a
//! ticket of their channel is opened, reopened or assigned, so the agent's first open is
//! served from the cache.
//!
//! The work comes from the events outbox (each event looked at once, across instances, after
//! webhook fan-out has taken it, so the two never contend for an event) and goes through the
//! same single-flight, lease, cache and failure counting (so auto-disable) as an agent's load.
//! It is bounded: `SIDEBAR_WARMUP_CONCURRENCY` calls at once per instance, events taken a
//! batch at a time and the next batch only once this one's calls are under way (the rest wait
//! in the table, for this or another instance), never for a disabled section, a fresh cache or
//! an arrival older than the cache period, and at most once per section and contact per cache
//! period, whatever the outcome.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::sections::{self, Section};
use super::{Sidebar, cache};
use crate::helpdesk::contacts::Contact;

/// How often the outbox is looked at. An event is taken only once webhook fan-out has, so the
/// notification of its arrival comes too early to be of use; waking on each one made a look
/// per handful of events (806 transactions for 10,000 tickets), polling makes one per batch.
/// This is how soon after fan-out a section is warmed. A look that finds nothing writes
/// nothing.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Events taken at once (a full batch is followed at once by the next). Their warm-ups then
/// wait for a free slot one by one, so this bounds only what an instance holds in memory,
/// not the calls under way.
const TAKE_BATCH: usize = 128;
/// How long shutdown waits for warm-ups under way (a call times out after 3 s).
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// One section to call for one contact.
struct WarmUp {
    section: Section,
    contact: Contact,
}

impl Sidebar {
    /// Warms sections as tickets arrive, until `cancel`. Returns at once when
    /// `SIDEBAR_WARMUP_CONCURRENCY` is 0.
    pub async fn run_warm_ups(self, cancel: CancellationToken) {
        let concurrency = self.settings().warm_up_concurrency;
        if concurrency == 0 {
            return;
        }
        let slots = Arc::new(Semaphore::new(concurrency));
        while !cancel.is_cancelled() {
            if self.start_due(&slots).await {
                continue;
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(POLL_INTERVAL) => {},
            }
        }
        let _ = tokio::time::timeout(SHUTDOWN_WAIT, slots.acquire_many(concurrency as u32)).await;
    }

    /// Takes a batch of new events and starts their warm-ups, each when a slot frees (so the
    /// next batch is taken only once this one's calls are all under way). True when it took
    /// a full batch (look again at once).
    async fn start_due(&self, slots: &Arc<Semaphore>) -> bool {
        let limit = TAKE_BATCH;
        let (events, due) = match take_due(self.pool(), limit, self.settings().cache_ttl).await {
            Ok(taken) => taken,
            Err(err) => {
                tracing::warn!(error = %err, "taking sidebar warm-ups failed; will retry");
                return false;
            }
        };
        for warm_up in due {
            let permit = slots
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let sidebar = self.clone();
            tokio::spawn(async move {
                sidebar.warm(warm_up).await;
                drop(permit);
            });
        }
        events == limit
    }

    async fn warm(&self, WarmUp { section, contact }: WarmUp) {
        // An agent may have loaded it while this warm-up waited for a slot.
        let ttl = self.settings().cache_ttl;
        if let Ok(Some(_)) = cache::fresh_entry(self.pool(), &section, contact.id, ttl).await {
            return;
        }
        self.0.metrics.sidebar_warm_up();
        self.call_once(&section, &contact).await;
    }
}

/// Marks up to `limit` new ticket-arrival events as seen and returns how many it took, with
/// the section-and-contact pairs they call for: sections of the ticket's channel that load on
/// arrival, are enabled, have no fresh answer for the contact, and were not warmed for the
/// contact within `period` (the pair's mark is taken here, in the same transaction). Only
/// events webhook fan-out is done with are taken: both lock the rows they take, and fan-out
/// skips locked rows, so a warm-up holding a new event would delay its webhooks until
/// fan-out's next look (up to half a second when no other event comes to wake it). Events
/// older than `period` are only marked: a backlog (warm-ups were off, or every instance was
/// down) is old news, not a reason to call endpoints for tickets agents have long opened.
async fn take_due(
    pool: &PgPool,
    limit: usize,
    period: Duration,
) -> Result<(usize, Vec<WarmUp>), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let taken: Vec<(i64, bool)> = sqlx::query_as(
        "WITH taken AS (
             UPDATE events SET sidebar_warmed = true
             WHERE id IN (SELECT id FROM events
                          WHERE NOT sidebar_warmed
                            AND kind IN ('ticket_opened', 'ticket_reopened', 'ticket_assigned')
                            AND webhooks_fanned_out
                          ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
             RETURNING ticket_id, created_at)
         SELECT ticket_id, created_at > now() - make_interval(secs => $2) FROM taken",
    )
    .bind(limit as i64)
    .bind(period.as_secs_f64())
    .fetch_all(&mut *tx)
    .await?;
    let tickets: Vec<i64> = taken
        .iter()
        .filter(|(_, recent)| *recent)
        .map(|(id, _)| *id)
        .collect();
    if tickets.is_empty() {
        tx.commit().await?;
        return Ok((taken.len(), Vec::new()));
    }
    let pairs: Vec<(i64, i64)> = sqlx::query_as(
        "WITH candidates AS (
             SELECT DISTINCT s.id AS section_id, t.contact_id
             FROM tickets t
             JOIN sidebar_section_channels sc ON sc.channel_id = t.channel_id
             JOIN sidebar_sections s ON s.id = sc.section_id AND s.workspace_id = t.workspace_id
             WHERE t.id = ANY($1) AND s.enabled AND s.load_on_arrival
               AND NOT EXISTS (
                   SELECT 1 FROM sidebar_cache c
                   WHERE c.section_id = s.id AND c.contact_id = t.contact_id
                     AND c.section_version = s.version
                     AND c.fetched_at > now() - make_interval(secs => COALESCE(c.cache_seconds, $2))))
         INSERT INTO sidebar_warmups (section_id, contact_id, warmed_at)
         SELECT section_id, contact_id, now() FROM candidates
         ON CONFLICT (section_id, contact_id) DO UPDATE SET warmed_at = now()
           WHERE sidebar_warmups.warmed_at <= now() - make_interval(secs => $2)
         RETURNING section_id, contact_id",
    )
    .bind(&tickets)
    .bind(period.as_secs_f64())
    .fetch_all(&mut *tx)
    .await?;
    let due = if pairs.is_empty() {
        Vec::new()
    } else {
        let section_ids: Vec<i64> = pairs.iter().map(|p| p.0).collect();
        let contact_ids: Vec<i64> = pairs.iter().map(|p| p.1).collect();
        let sections: HashMap<i64, Section> = sections::sections_by_ids(&mut tx, &section_ids)
            .await?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        let contacts: HashMap<i64, Contact> =
            sqlx::query_as::<_, Contact>("SELECT id, name, email FROM contacts WHERE id = ANY($1)")
                .bind(&contact_ids)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|c| (c.id, c))
                .collect();
        pairs
            .iter()
            .filter_map(|(section_id, contact_id)| {
                Some(WarmUp {
                    section: sections.get(section_id)?.clone(),
                    contact: contacts.get(contact_id)?.clone(),
                })
            })
            .collect()
    };
    tx.commit().await?;
    Ok((taken.len(), due))
}
