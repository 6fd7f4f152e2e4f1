//! How often agents may force a fresh call: once per `SIDEBAR_REFRESH_INTERVAL` per section
//! and contact, counted in PostgreSQL (`sidebar_refreshes`) so every instance agrees.

use std::time::Duration;

use sqlx::PgPool;

/// Takes this section-and-contact's refresh slot; `Err(seconds)` until the next one opens.
pub async fn take_slot(
    pool: &PgPool,
    section_id: i64,
    contact_id: i64,
    interval: Duration,
) -> Result<(), u64> {
    let interval = interval.as_secs_f64();
    let taken: Result<Option<i32>, _> = sqlx::query_scalar(
        "INSERT INTO sidebar_refreshes (section_id, contact_id, refreshed_at) VALUES ($1, $2, now())
         ON CONFLICT (section_id, contact_id) DO UPDATE SET refreshed_at = now()
           WHERE sidebar_refreshes.refreshed_at <= now() - make_interval(secs => $3)
         RETURNING 1",
    )
    .bind(section_id)
    .bind(contact_id)
    .bind(interval)
    .fetch_optional(pool)
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
            .fetch_one(pool)
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
