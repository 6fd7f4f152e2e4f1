//! The consecutive-failure counter: one atomic UPDATE per outcome, so many agents on many
//! instances count correctly. The 10th failure disables the section and queues exactly one
//! email to the workspace owner, in the same transaction.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::sections::FAILURE_LIMIT;
use crate::mail::{OutgoingMail, enqueue_mail};

/// Counts a success in the hour's stats, resets the failure count, and notes the success.
/// The section row is written only when there is something to reset or the last success is
/// a minute old: a healthy section under load costs one small upsert per call.
pub async fn record_success(pool: &PgPool, section_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "WITH counted AS (
             INSERT INTO sidebar_call_stats (section_id, hour, ok) VALUES ($1, date_trunc('hour', now()), 1)
             ON CONFLICT (section_id, hour) DO UPDATE SET ok = sidebar_call_stats.ok + 1)
         UPDATE sidebar_sections SET consecutive_failures = 0, last_success_at = now()
         WHERE id = $1 AND (consecutive_failures <> 0 OR last_success_at IS NULL
                            OR last_success_at < now() - interval '1 minute')",
        section_id,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Calls per hour by outcome over the last 24 hours, of every section of the workspace:
/// (section id, hour, ok, failed).
pub async fn hourly_calls(
    pool: &PgPool,
    workspace_id: i64,
) -> Result<Vec<(i64, DateTime<Utc>, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.section_id, c.hour, c.ok::bigint, c.failed::bigint FROM sidebar_call_stats c
         JOIN sidebar_sections s ON s.id = c.section_id
         WHERE s.workspace_id = $1 AND c.hour > now() - interval '24 hours' ORDER BY c.hour",
    )
    .bind(workspace_id)
    .fetch_all(pool)
    .await
}

/// Forgets call stats older than a week, and warm-up marks older than a day (past any cache
/// period worth keeping them for: a fresh cache stops a warm-up by itself).
pub async fn prune_stats(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM sidebar_call_stats WHERE hour < now() - interval '7 days'")
        .execute(pool)
        .await?;
    sqlx::query("DELETE FROM sidebar_warmups WHERE warmed_at < now() - interval '1 day'")
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// Counts a failure; returns true when this failure disabled the section. `section_page` is
/// the settings page linked from the email.
pub async fn record_failure(
    pool: &PgPool,
    section_page: &str,
    section_id: i64,
    error: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "INSERT INTO sidebar_call_stats (section_id, hour, failed) VALUES ($1, date_trunc('hour', now()), 1)
         ON CONFLICT (section_id, hour) DO UPDATE SET failed = sidebar_call_stats.failed + 1",
        section_id,
    )
    .execute(&mut *tx)
    .await?;
    let reason =
        format!("Disabled after {FAILURE_LIMIT} consecutive failures. Last error: {error}");
    // SET expressions read the row as it was, so `consecutive_failures + 1` is this failure.
    // Checked against the schema at compile time (`.sqlx/` when no database is at hand).
    let row = sqlx::query!(
        "UPDATE sidebar_sections SET
             consecutive_failures = consecutive_failures + 1,
             last_error = $2, last_error_at = now(),
             enabled = consecutive_failures + 1 < $3,
             disabled_at = CASE WHEN consecutive_failures + 1 >= $3 THEN now() ELSE disabled_at END,
             disabled_reason = CASE WHEN consecutive_failures + 1 >= $3 THEN $4 ELSE disabled_reason END
         WHERE id = $1 AND enabled
         RETURNING workspace_id, title, enabled",
        section_id,
        error,
        FAILURE_LIMIT,
        &reason,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let disabled_now = row.as_ref().is_some_and(|r| !r.enabled);
    if let Some(row) = row.filter(|r| !r.enabled) {
        let (workspace_id, title) = (row.workspace_id, row.title);
        // A workspace may have several owners: each active one is told.
        let owners: Vec<String> = sqlx::query_scalar(
            "SELECT email FROM users WHERE workspace_id = $1 AND role = 'owner'
               AND deactivated_at IS NULL ORDER BY id",
        )
        .bind(workspace_id)
        .fetch_all(&mut *tx)
        .await?;
        for owner in owners {
            let subject = format!("Sidebar section \u{201c}{title}\u{201d} was disabled");
            let body = format!(
                "The custom sidebar section \u{201c}{title}\u{201d} failed {FAILURE_LIMIT} times in a row, so it was \
                 disabled and agents no longer see it.\n\nLast error: {error}\n\nFix the endpoint, then re-enable the \
                 section here:\n{}\n",
                section_page
            );
            enqueue_mail(
                &mut tx,
                OutgoingMail {
                    workspace_id: Some(workspace_id),
                    to: &owner,
                    subject: &subject,
                    body: &body,
                    holds_secret: false,
                },
            )
            .await?;
        }
        tracing::warn!(
            section.id = section_id,
            error,
            "sidebar section disabled after repeated failures"
        );
    }
    tx.commit().await?;
    Ok(disabled_now)
}
