//! The delivery queue in Postgres: claim due deliveries with a lease (`FOR UPDATE SKIP
//! LOCKED`), commit, call out with no transaction or connection held, then record the
//! attempt. A crashed worker's leases expire and its deliveries are claimed again.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::json;
use sqlx::PgPool;

use super::retry::RetryPolicy;
use crate::outbound::signature::standard_signature;
use crate::outbound::{Exchange, OutboundClient, Signing};

pub const SIGNATURE_HEADER: &str = "therethere-signature";

/// A delivery claimed for one attempt, with its destination as it is now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub ulid: String,
    pub payload: String,
    pub attempts: i32,
    pub url: String,
    pub secret: String,
}

pub async fn claim_due(
    pool: &PgPool,
    limit: i64,
    lease: Duration,
) -> Result<Vec<ClaimedDelivery>, sqlx::Error> {
    sqlx::query_as(
        "WITH due AS (
             SELECT d.id FROM webhook_deliveries d
             JOIN webhook_destinations w ON w.id = d.destination_id AND w.enabled
             WHERE d.status = 'pending' AND d.next_attempt_at <= now()
               AND (d.locked_until IS NULL OR d.locked_until < now())
             ORDER BY d.next_attempt_at, d.id
             LIMIT $1
             FOR UPDATE OF d SKIP LOCKED)
         UPDATE webhook_deliveries d SET locked_until = now() + make_interval(secs => $2)
         FROM due, webhook_destinations w
         WHERE d.id = due.id AND w.id = d.destination_id
         RETURNING d.id, d.ulid, d.payload, d.attempts, w.url, w.secret",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .fetch_all(pool)
    .await
}

/// One signed POST of the delivery's exact payload, with the destination's current secret:
/// the spec's `ThereThere-Signature`, plus the Standard Webhooks headers so any Standard
/// Webhooks library verifies it and refuses replays.
pub async fn attempt(client: &OutboundClient, delivery: &ClaimedDelivery) -> Exchange {
    let url = url::Url::parse(&delivery.url)
        .unwrap_or_else(|_| url::Url::parse("https://invalid.invalid/").unwrap());
    let signing = Signing {
        header: SIGNATURE_HEADER,
        secret: delivery.secret.as_bytes(),
    };
    let timestamp = Utc::now().timestamp();
    let mut extra = HeaderMap::new();
    let header =
        |v: &str| HeaderValue::from_str(v).expect("ulids, digits and base64 are header-safe");
    extra.insert("webhook-id", header(&delivery.ulid));
    extra.insert("webhook-timestamp", header(&timestamp.to_string()));
    if let Some(signature) = standard_signature(
        &delivery.secret,
        &delivery.ulid,
        timestamp,
        delivery.payload.as_bytes(),
    ) {
        extra.insert("webhook-signature", header(&signature));
    }
    client
        .post_json(
            &url,
            Bytes::from(delivery.payload.clone()),
            Some(signing),
            extra,
        )
        .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Automatic,
    Resend,
}

/// Records an attempt and moves the delivery on: delivered on a 2xx only; otherwise
/// scheduled again after the policy's wait, or failed after the last attempt. A resend
/// never changes the automatic schedule, but its success marks the delivery delivered.
pub async fn record_attempt(
    pool: &PgPool,
    delivery_id: i64,
    started_at: DateTime<Utc>,
    exchange: &Exchange,
    trigger: Trigger,
    policy: &RetryPolicy,
) -> Result<(), sqlx::Error> {
    let succeeded = exchange.is_success();
    let (status, headers, body, error) = match &exchange.outcome {
        Ok(r) => (
            Some(i32::from(r.status)),
            Some(json!(r.headers)),
            Some(String::from_utf8_lossy(&r.body).into_owned()),
            (!r.is_success()).then(|| format!("HTTP {}", r.status)),
        ),
        Err(failure) => (None, None, None, Some(failure.to_string())),
    };
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, trigger, started_at, duration_ms, url, request_headers,
                                       response_status, response_headers, response_body, error, succeeded)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(delivery_id)
    .bind(if trigger == Trigger::Automatic { "automatic" } else { "resend" })
    .bind(started_at)
    .bind(exchange.duration.as_millis().min(i32::MAX as u128) as i32)
    .bind(&exchange.request.url)
    .bind(json!(exchange.request.headers))
    .bind(status)
    .bind(headers)
    .bind(body)
    .bind(error)
    .bind(succeeded)
    .execute(&mut *tx)
    .await?;
    match trigger {
        Trigger::Automatic => {
            let attempts: i32 = sqlx::query_scalar(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, updated_at = now() WHERE id = $1 RETURNING attempts",
            )
            .bind(delivery_id)
            .fetch_one(&mut *tx)
            .await?;
            let next = if succeeded {
                None
            } else {
                policy.delay_after(attempts as u32)
            };
            let status = match (succeeded, next) {
                (true, _) => "succeeded",
                (false, Some(_)) => "pending",
                (false, None) => "failed",
            };
            sqlx::query(
                "UPDATE webhook_deliveries SET status = $2, locked_until = NULL,
                        next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1",
            )
            .bind(delivery_id)
            .bind(status)
            .bind(next.unwrap_or_default().as_secs_f64())
            .execute(&mut *tx)
            .await?;
        }
        Trigger::Resend if succeeded => {
            sqlx::query("UPDATE webhook_deliveries SET status = 'succeeded', updated_at = now() WHERE id = $1")
                .bind(delivery_id)
                .execute(&mut *tx)
                .await?;
        }
        Trigger::Resend => {}
    }
    tx.commit().await
}
