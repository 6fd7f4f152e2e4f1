//! The consecutive-failure counter: one atomic UPDATE per outcome, so many agents on many
//! instances count correctly. The 10th failure disables the section and queues exactly one
//! email to the workspace owner, in the same transaction.

use sqlx::PgPool;

use super::sections::FAILURE_LIMIT;
use crate::mail::{OutgoingMail, enqueue_mail};

pub async fn record_success(pool: &PgPool, section_id: i64) -> Result<(), sqlx::Error> {
    // Only written when there is something to reset: a healthy section costs no writes.
    sqlx::query("UPDATE sidebar_sections SET consecutive_failures = 0 WHERE id = $1 AND consecutive_failures <> 0")
        .bind(section_id)
        .execute(pool)
        .await?;
    Ok(())
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
    let reason =
        format!("Disabled after {FAILURE_LIMIT} consecutive failures. Last error: {error}");
    // SET expressions read the row as it was, so `consecutive_failures + 1` is this failure.
    let row: Option<(i64, String, bool)> = sqlx::query_as(
        "UPDATE sidebar_sections SET
             consecutive_failures = consecutive_failures + 1,
             last_error = $2, last_error_at = now(),
             enabled = consecutive_failures + 1 < $3,
             disabled_at = CASE WHEN consecutive_failures + 1 >= $3 THEN now() ELSE disabled_at END,
             disabled_reason = CASE WHEN consecutive_failures + 1 >= $3 THEN $4 ELSE disabled_reason END
         WHERE id = $1 AND enabled
         RETURNING workspace_id, title, enabled",
    )
    .bind(section_id)
    .bind(error)
    .bind(FAILURE_LIMIT)
    .bind(&reason)
    .fetch_optional(&mut *tx)
    .await?;
    let disabled_now = matches!(row, Some((_, _, false)));
    if let Some((workspace_id, title, false)) = row {
        let owner: Option<String> = sqlx::query_scalar(
            "SELECT email FROM users WHERE workspace_id = $1 AND role = 'owner'",
        )
        .bind(workspace_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(owner) = owner {
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
