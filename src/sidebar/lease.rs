//! Across instances, one call per section and contact at a time: the instance that takes the
//! lease (`sidebar_fetch_leases`) calls; the others wait for its answer in the cache.

use std::time::Duration;

use sqlx::PgPool;

use super::cache;
use super::call::FetchOutcome;
use super::sections::Section;

/// How long another instance's fetch is waited for before fetching anyway.
const LEASE: Duration = Duration::from_secs(5);
/// How often a waiting instance looks for the other's answer.
const POLL: Duration = Duration::from_millis(50);

/// True when this instance may call the endpoint; false while another instance's live lease
/// says it is already calling.
pub async fn take(pool: &PgPool, section_id: i64, contact_id: i64) -> Result<bool, sqlx::Error> {
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

/// Ends this instance's lease once its outcome is recorded. Best effort: a lease left behind
/// expires by itself.
pub async fn release(pool: &PgPool, section_id: i64, contact_id: i64) {
    let _ =
        sqlx::query("DELETE FROM sidebar_fetch_leases WHERE section_id = $1 AND contact_id = $2")
            .bind(section_id)
            .bind(contact_id)
            .execute(pool)
            .await;
}

/// Waits for another instance's fetch to land in the cache. `None`: it did not (lease expired
/// or the other fetch failed without news), so fetch here.
pub async fn wait_for_other_instance(
    pool: &PgPool,
    section: &Section,
    contact_id: i64,
    cache_ttl: Duration,
) -> Option<FetchOutcome> {
    let deadline = tokio::time::Instant::now() + LEASE;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
        if let Ok(Some((items, _))) = cache::fresh_entry(pool, section, contact_id, cache_ttl).await
        {
            return Some(Ok(items));
        }
        let lease_held: Result<bool, _> = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sidebar_fetch_leases
                            WHERE section_id = $1 AND contact_id = $2 AND leased_until > now())",
        )
        .bind(section.id)
        .bind(contact_id)
        .fetch_one(pool)
        .await;
        if !matches!(lease_held, Ok(true)) {
            // The other fetch ended without caching: it failed, and already counted that.
            let last: Option<String> =
                sqlx::query_scalar("SELECT last_error FROM sidebar_sections WHERE id = $1")
                    .bind(section.id)
                    .fetch_one(pool)
                    .await
                    .ok()
                    .flatten();
            return last.map(|detail| Err(super::call::CallFailure::recorded(detail)));
        }
    }
    None
}
