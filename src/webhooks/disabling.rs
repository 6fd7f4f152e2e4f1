//! Disabling a destination on the receiver's word (a 410 Gone), with notice: its page and the
//! API say when and why, and whoever manages it gets one email (the owner of a personal
//! destination; the workspace's owner and admins for a workspace one).

use sqlx::PgPool;

use crate::app_url::AppUrl;
use crate::mail::{OutgoingMail, enqueue_mail};

/// The reason a 410 gives, as the page and the email show it.
pub const GONE_REASON: &str = "the receiver answered 410 Gone, which means it is gone for good";

/// Disables destination `id` for `reason` (with the attempt's `last_error`) and mails its
/// managers, all in one transaction; true when this call disabled it (a destination already
/// disabled is left as it is, and nobody is mailed twice).
pub async fn disable_with_notice(
    pool: &PgPool,
    app_url: &AppUrl,
    id: i64,
    reason: &str,
    last_error: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let row: Option<(i64, Option<i64>, String, String)> = sqlx::query_as(
        "UPDATE webhook_destinations
         SET enabled = false, disabled_at = now(), disabled_reason = $2, updated_at = now()
         WHERE id = $1 AND enabled
         RETURNING workspace_id, owner_user_id, name, url",
    )
    .bind(id)
    .bind(reason)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((workspace_id, owner, name, url)) = row else {
        return Ok(false);
    };
    let recipients: Vec<String> = sqlx::query_scalar(
        "SELECT email FROM users WHERE workspace_id = $1
           AND (id = $2 OR ($2 IS NULL AND role IN ('owner', 'admin')))
         ORDER BY id",
    )
    .bind(workspace_id)
    .bind(owner)
    .fetch_all(&mut *tx)
    .await?;
    let label = if name.is_empty() { url.clone() } else { name };
    let subject = format!("Webhook \u{201c}{label}\u{201d} was disabled");
    let body = format!(
        "The webhook \u{201c}{label}\u{201d} ({url}) was disabled: {reason}.\n\nLast error: {last_error}\n\n\
         Nothing is sent to it until it is enabled again. Check the receiver, then enable it here:\n{}\n",
        app_url.link(&format!("/settings/webhooks/{id}"))
    );
    for to in &recipients {
        enqueue_mail(
            &mut tx,
            OutgoingMail {
                workspace_id: Some(workspace_id),
                to,
                subject: &subject,
                body: &body,
            },
        )
        .await?;
    }
    tx.commit().await?;
    tracing::warn!(destination.id = id, reason, "webhook destination disabled");
    Ok(true)
}
