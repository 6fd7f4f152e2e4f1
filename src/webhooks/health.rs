//! A destination's health at a glance, from its attempts of the last 24 hours: success rate,
//! last success, last failure and its error, failures since the last success, and attempts
//! per hour by outcome.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use super::destinations;
use crate::auth::CurrentUser;
use crate::error::AppError;

/// The window health looks at.
pub const WINDOW_HOURS: i64 = 24;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DestinationHealth {
    /// Attempts (automatic and resends) in the last 24 hours.
    pub attempts: i64,
    pub succeeded: i64,
    /// `succeeded / attempts`, or null with no attempt.
    pub success_rate: Option<f64>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    pub last_failure_error: Option<String>,
    /// Failed attempts since the last success (within the window).
    pub consecutive_failures: i64,
    /// Attempts per hour by outcome, oldest first; hours without attempts are left out.
    pub hourly: Vec<HourlyAttempts>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct HourlyAttempts {
    /// The start of the hour.
    pub hour: DateTime<Utc>,
    pub succeeded: i64,
    pub failed: i64,
}

/// The recent attempts of one destination: its deliveries of the last 25 hours (a retry comes
/// within minutes), by the (destination_id, created_at) index.
const RECENT: &str = "recent AS (
    SELECT a.started_at, a.succeeded, a.error
    FROM webhook_deliveries d JOIN webhook_attempts a ON a.delivery_id = d.id
    WHERE d.destination_id = $1 AND d.created_at > now() - make_interval(hours => $2 + 1)
      AND a.started_at > now() - make_interval(hours => $2))";

/// The health of a destination `user` may manage (404 otherwise).
pub async fn destination_health(
    pool: &PgPool,
    user: &CurrentUser,
    destination_id: i64,
) -> Result<DestinationHealth, AppError> {
    let mut conn = pool.acquire().await?;
    destinations::get_destination(&mut conn, user, destination_id).await?;
    drop(conn);
    Ok(read_health(pool, destination_id).await?)
}

async fn read_health(pool: &PgPool, destination_id: i64) -> Result<DestinationHealth, sqlx::Error> {
    let hourly: Vec<(DateTime<Utc>, i64, i64)> = sqlx::query_as(&format!(
        "WITH {RECENT}
         SELECT date_trunc('hour', started_at), count(*) FILTER (WHERE succeeded),
                count(*) FILTER (WHERE NOT succeeded)
         FROM recent GROUP BY 1 ORDER BY 1"
    ))
    .bind(destination_id)
    .bind(WINDOW_HOURS as i32)
    .fetch_all(pool)
    .await?;
    #[derive(sqlx::FromRow)]
    struct Latest {
        last_success_at: Option<DateTime<Utc>>,
        last_failure_at: Option<DateTime<Utc>>,
        last_failure_error: Option<String>,
        consecutive_failures: i64,
    }
    let latest: Latest = sqlx::query_as(&format!(
        "WITH {RECENT},
         last_ok AS (SELECT max(started_at) AS at FROM recent WHERE succeeded),
         last_bad AS (SELECT started_at, error FROM recent WHERE NOT succeeded
                      ORDER BY started_at DESC LIMIT 1)
         SELECT (SELECT at FROM last_ok) AS last_success_at,
                (SELECT started_at FROM last_bad) AS last_failure_at,
                (SELECT error FROM last_bad) AS last_failure_error,
                (SELECT count(*) FROM recent WHERE NOT succeeded
                   AND started_at > COALESCE((SELECT at FROM last_ok), '-infinity'))
                  AS consecutive_failures"
    ))
    .bind(destination_id)
    .bind(WINDOW_HOURS as i32)
    .fetch_one(pool)
    .await?;
    let succeeded: i64 = hourly.iter().map(|h| h.1).sum();
    let attempts = succeeded + hourly.iter().map(|h| h.2).sum::<i64>();
    Ok(DestinationHealth {
        attempts,
        succeeded,
        success_rate: (attempts > 0).then(|| succeeded as f64 / attempts as f64),
        last_success_at: latest.last_success_at,
        last_failure_at: latest.last_failure_at,
        last_failure_error: latest.last_failure_error,
        consecutive_failures: latest.consecutive_failures,
        hourly: hourly
            .into_iter()
            .map(|(hour, succeeded, failed)| HourlyAttempts {
                hour,
                succeeded,
                failed,
            })
            .collect(),
    })
}
