//! What enabling a destination that was failing offers to replay: the deliveries that failed
//! while it was failing (`replay` does the resending).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

/// What re-enabling a failing destination offers to resend: its deliveries that failed while
/// it was failing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReplayOffer {
    /// The `since` to replay with.
    pub since: DateTime<Utc>,
    /// Failed deliveries created since then.
    pub failed_deliveries: i64,
}

/// The deliveries a replay resends: the destination's (`$1`) that failed and were created at
/// or after `$2`.
pub(super) const FAILED_SINCE: &str =
    "destination_id = $1 AND created_at >= $2 AND status = 'failed'";

/// The failed deliveries of a destination created at or after `since`, as an offer.
pub async fn offer_since(
    pool: &PgPool,
    destination_id: i64,
    since: DateTime<Utc>,
) -> Result<Option<ReplayOffer>, sqlx::Error> {
    let failed: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM webhook_deliveries WHERE {FAILED_SINCE}"
    ))
    .bind(destination_id)
    .bind(since)
    .fetch_one(pool)
    .await?;
    Ok((failed > 0).then_some(ReplayOffer {
        since,
        failed_deliveries: failed,
    }))
}

/// What a destination that is being enabled failed while it was failing: the deliveries that
/// ended failed since its streak began (or it was disabled by a 410), with a minute's slack:
/// the streak's start is written just after the failure that began it.
/// Read before enabling resets the streak.
pub async fn offer_on_enabling(
    pool: &PgPool,
    destination_id: i64,
) -> Result<Option<ReplayOffer>, sqlx::Error> {
    let since: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT min(d.created_at) FROM webhook_destinations w
         JOIN webhook_deliveries d ON d.destination_id = w.id
         WHERE w.id = $1 AND NOT w.enabled AND d.status = 'failed'
           AND d.updated_at >= COALESCE(w.failing_since, w.disabled_at) - interval '1 minute'",
    )
    .bind(destination_id)
    .fetch_one(pool)
    .await?;
    match since {
        Some(since) => offer_since(pool, destination_id, since).await,
        None => Ok(None),
    }
}
