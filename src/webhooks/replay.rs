//! Replay: every delivery of one destination that failed since a moment is queued again for
//! one more attempt, logged as a resend (same body, same ulid, the current secret). Asking
//! again for the same moment within an hour answers the replay already made rather than
//! sending twice; replays are rate-limited per destination (`REPLAYS_PER_HOUR`). What
//! enabling a failing destination offers to replay is `replay_offer`'s.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use super::destinations::get_destination;
use super::payload::TEST_TYPE;
use super::queue;
use super::replay_offer::FAILED_SINCE;
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::limits::{Limits, RatedAction, rate};

/// A replay and how far it got.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Replay {
    pub id: i64,
    pub destination_id: i64,
    /// Deliveries created at or after this moment that had failed were queued again.
    pub since: DateTime<Utc>,
    pub requested_at: DateTime<Utc>,
    /// How many were queued.
    pub deliveries: i32,
    /// How many still wait for their attempt.
    pub remaining: i64,
    /// True when this answers a request already made (same destination and moment within
    /// the hour): nothing was queued again.
    #[sqlx(default)]
    pub repeated: bool,
}

/// How long a replay answers a repeated request for the same moment.
const SAME_REPLAY_WITHIN_SECS: f64 = 3600.0;

const REPLAY_COLUMNS: &str = "r.id, r.destination_id, r.since, r.requested_at, r.deliveries,
     (SELECT count(*) FROM webhook_deliveries d WHERE d.replay_id = r.id AND d.status = 'pending') AS remaining";

/// Queues every delivery of the destination that failed and was created at or after `since`
/// for one more attempt. The destination must be enabled (a disabled one sends nothing).
pub async fn replay_failed(
    pool: &PgPool,
    limits: &Limits,
    user: &CurrentUser,
    destination_id: i64,
    since: DateTime<Utc>,
) -> Result<Replay, AppError> {
    let mut conn = pool.acquire().await?;
    let destination = get_destination(&mut conn, user, destination_id).await?;
    if since > Utc::now() {
        return Err(AppError::validation(
            "since",
            "The moment is in the future.",
        ));
    }
    if !destination.enabled {
        return Err(AppError::conflict(
            "enabled",
            "The destination is disabled: enable it first, then resend what failed.",
        ));
    }
    // A repeat costs nothing, not even a hit of the rate limit.
    if let Some(earlier) = same_replay(&mut conn, destination_id, since).await? {
        return Ok(earlier);
    }
    drop(conn);
    rate::hit(pool, limits, RatedAction::Replay, destination_id).await?;
    let mut tx = pool.begin().await?;
    // Replays of one destination are made one at a time, so a double submit racing this one
    // finds it here once it is committed.
    sqlx::query("SELECT id FROM webhook_destinations WHERE id = $1 FOR UPDATE")
        .bind(destination_id)
        .execute(&mut *tx)
        .await?;
    if let Some(earlier) = same_replay(&mut tx, destination_id, since).await? {
        return Ok(earlier);
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO webhook_replays (workspace_id, destination_id, since, requested_by, deliveries)
         VALUES ($1, $2, $3, $4, 0) RETURNING id",
    )
    .bind(user.user.workspace_id)
    .bind(destination_id)
    .bind(since)
    .bind(user.user.id)
    .fetch_one(&mut *tx)
    .await?;
    let queued = sqlx::query(&format!(
        "WITH replayed AS (
             UPDATE webhook_deliveries SET status = 'pending', replay_id = $3, updated_at = now()
             WHERE {FAILED_SINCE}
             RETURNING id, destination_id, event_type)
         INSERT INTO webhook_queue (delivery_id, destination_id, test)
         SELECT id, destination_id, event_type = $4 FROM replayed"
    ))
    .bind(destination_id)
    .bind(since)
    .bind(id)
    .bind(TEST_TYPE)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query("UPDATE webhook_replays SET deliveries = $2 WHERE id = $1")
        .bind(id)
        .bind(i32::try_from(queued).unwrap_or(i32::MAX))
        .execute(&mut *tx)
        .await?;
    queue::wake_workers(&mut tx).await?;
    let made: Replay = sqlx::query_as(&format!(
        "SELECT {REPLAY_COLUMNS} FROM webhook_replays r WHERE r.id = $1"
    ))
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(made)
}

/// A replay of the destination from the same moment asked for within the hour.
async fn same_replay(
    conn: &mut sqlx::PgConnection,
    destination_id: i64,
    since: DateTime<Utc>,
) -> Result<Option<Replay>, sqlx::Error> {
    let earlier: Option<Replay> = sqlx::query_as(&format!(
        "SELECT {REPLAY_COLUMNS} FROM webhook_replays r
         WHERE r.destination_id = $1 AND r.since = $2
           AND r.requested_at > now() - make_interval(secs => $3)
         ORDER BY r.requested_at DESC LIMIT 1"
    ))
    .bind(destination_id)
    .bind(since)
    .bind(SAME_REPLAY_WITHIN_SECS)
    .fetch_optional(conn)
    .await?;
    Ok(earlier.map(|replay| Replay {
        repeated: true,
        ..replay
    }))
}

/// Forgets replays older than the delivery log's retention (their deliveries are pruned by
/// then too).
pub async fn prune_replays(pool: &PgPool, retention: Duration) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM webhook_replays WHERE requested_at < now() - make_interval(secs => $1)",
    )
    .bind(retention.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected())
}

/// The destination's latest replay, for its Deliveries tab.
pub async fn latest_replay(
    pool: &PgPool,
    destination_id: i64,
) -> Result<Option<Replay>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {REPLAY_COLUMNS} FROM webhook_replays r
         WHERE r.destination_id = $1 ORDER BY r.requested_at DESC, r.id DESC LIMIT 1"
    ))
    .bind(destination_id)
    .fetch_optional(pool)
    .await
}
