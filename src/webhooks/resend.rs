//! Resend: one delivery's exact payload (same body, same `ulid`) sent again now by hand,
//! logged as a resend, at most `WEBHOOK_MAX_RESENDS` times per delivery.

use chrono::Utc;
use sqlx::PgPool;

use super::attempt::{self, AttemptRecord, ClaimedDelivery};
use super::deliveries::{AttemptPage, DeliveryDetail, get_delivery};
use super::queue;
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::limits::{Limits, RatedAction, rate};
use crate::metrics::Metrics;
use crate::outbound::OutboundClient;

/// Delivers the same payload (same body, same `ulid`) again now, signed with the current
/// secret (and a previous one still in its grace period), and logs it as a resend.
pub async fn resend(
    pool: &PgPool,
    client: &OutboundClient,
    metrics: &Metrics,
    limits: &Limits,
    user: &CurrentUser,
    id: i64,
) -> Result<DeliveryDetail, AppError> {
    let (destination, detail) = get_delivery(pool, user, id, AttemptPage::default()).await?;
    // Counted in full: the detail carries a page of the attempts only. Each resend adds an
    // attempt row to the same delivery: bounded, so nobody can grow one delivery's log
    // without end.
    let (attempts, resent): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE trigger = 'resend')
         FROM webhook_attempts WHERE delivery_id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    if resent >= i64::from(limits.resends_per_delivery) {
        return Err(AppError::conflict(
            "id",
            format!(
                "This delivery was resent {resent} times already, the most one delivery may be (WEBHOOK_MAX_RESENDS)."
            ),
        ));
    }
    rate::hit(pool, limits, RatedAction::Resend, destination.id).await?;
    let claimed = ClaimedDelivery {
        id,
        workspace_id: user.user.workspace_id,
        destination_id: destination.id,
        ulid: detail.summary.ulid.clone(),
        payload: detail.payload.clone(),
        attempts: i32::try_from(attempts).unwrap_or(i32::MAX),
        url: destination.url.clone(),
        secret: destination.secret.clone(),
        previous_secret: destination.previous_secret.clone(),
        replay_id: None,
    };
    let started_at = Utc::now();
    let url = attempt::parse_url(&claimed.url);
    let payload = bytes::Bytes::from(claimed.payload.clone());
    let exchange = attempt::attempt(client, &claimed, &url, payload).await;
    queue::record_resend(pool, &AttemptRecord::new(id, started_at, &exchange)).await?;
    metrics.webhook_resent();
    Ok(get_delivery(pool, user, id, AttemptPage::default())
        .await?
        .1)
}
