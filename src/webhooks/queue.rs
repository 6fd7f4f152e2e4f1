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
    pub destination_id: i64,
    pub ulid: String,
    pub payload: String,
    pub attempts: i32,
    pub url: String,
    pub secret: String,
}

/// How many more attempts each destination may have under way on this instance.
#[derive(Debug, Default, Clone)]
pub struct DestinationRoom {
    /// Destinations with no room left: their backlog is not even looked at.
    pub full: Vec<i64>,
    /// Destinations with some attempts under way, and how many more they may start.
    pub partial: Vec<(i64, i32)>,
    /// The room of every other destination.
    pub per_destination: i32,
}

/// Claims up to `limit` due deliveries, oldest first, but no more from one destination than
/// its room: a receiver that hangs holds at most its share of the slots, and its backlog is
/// skipped without being read. Destinations with pending deliveries are found by a loose
/// index scan (one probe each), then each gives its oldest due deliveries up to its room.
pub async fn claim_due(
    pool: &PgPool,
    limit: i64,
    lease: Duration,
    room: &DestinationRoom,
) -> Result<Vec<ClaimedDelivery>, sqlx::Error> {
    let (partial_ids, partial_room): (Vec<i64>, Vec<i32>) = room.partial.iter().copied().unzip();
    sqlx::query_as(
        "WITH RECURSIVE pending_destinations AS (
             (SELECT destination_id FROM webhook_deliveries WHERE status = 'pending'
              ORDER BY destination_id LIMIT 1)
             UNION ALL
             SELECT (SELECT x.destination_id FROM webhook_deliveries x
                     WHERE x.status = 'pending' AND x.destination_id > p.destination_id
                     ORDER BY x.destination_id LIMIT 1)
             FROM pending_destinations p WHERE p.destination_id IS NOT NULL),
         candidates AS (
             SELECT c.id, c.next_attempt_at
             FROM pending_destinations p
             JOIN webhook_destinations w ON w.id = p.destination_id
             LEFT JOIN unnest($4::bigint[], $5::int[]) AS r(destination_id, room)
                  ON r.destination_id = p.destination_id
             CROSS JOIN LATERAL (
                 -- An enabled destination: its oldest due deliveries.
                 (SELECT x.id, x.next_attempt_at FROM webhook_deliveries x
                  WHERE w.enabled AND x.destination_id = p.destination_id AND x.status = 'pending'
                    AND x.next_attempt_at <= now()
                    AND (x.locked_until IS NULL OR x.locked_until < now())
                  ORDER BY x.next_attempt_at, x.id
                  LIMIT coalesce(r.room, $6))
                 UNION ALL
                 -- A disabled one: only test notifications (an explicit request), found by
                 -- their own index so its waiting backlog is never read.
                 (SELECT x.id, x.next_attempt_at FROM webhook_deliveries x
                  WHERE NOT w.enabled AND x.destination_id = p.destination_id
                    AND x.status = 'pending' AND x.event_type = 'test'
                    AND x.next_attempt_at <= now()
                    AND (x.locked_until IS NULL OR x.locked_until < now())
                  ORDER BY x.next_attempt_at, x.id
                  LIMIT coalesce(r.room, $6))) c
             WHERE NOT (p.destination_id = ANY($3))),
         due AS (
             SELECT d.id FROM webhook_deliveries d JOIN candidates k ON k.id = d.id
             WHERE d.status = 'pending' AND (d.locked_until IS NULL OR d.locked_until < now())
             ORDER BY k.next_attempt_at, k.id
             LIMIT $1
             FOR UPDATE OF d SKIP LOCKED)
         UPDATE webhook_deliveries d SET locked_until = now() + make_interval(secs => $2)
         FROM due, webhook_destinations w
         WHERE d.id = due.id AND w.id = d.destination_id
         RETURNING d.id, d.destination_id, d.ulid, d.payload, d.attempts, w.url, w.secret",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .bind(&room.full)
    .bind(&partial_ids)
    .bind(&partial_room)
    .bind(room.per_destination)
    // Planned afresh each time: after five runs on one connection PostgreSQL may switch to
    // a generic plan, and the generic plan of this query took over a second per claim.
    .persistent(false)
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

/// Records a resend: logged as such; it never changes the automatic schedule, but its success
/// marks the delivery delivered. (Automatic attempts go through [`record_automatic_batch`].)
pub async fn record_resend(pool: &PgPool, record: &AttemptRecord) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH attempt AS (
             INSERT INTO webhook_attempts (delivery_id, trigger, started_at, duration_ms, url, request_headers,
                                           response_status, response_headers, response_body, error, succeeded)
             VALUES ($1, 'resend', $2, $3, $4, $5, $6, $7, $8, $9, $10))
         UPDATE webhook_deliveries SET
             status = CASE WHEN $10 THEN 'succeeded' ELSE status END,
             updated_at = now()
         WHERE id = $1",
    )
    .bind(record.delivery_id)
    .bind(record.started_at)
    .bind(record.duration_ms)
    .bind(&record.url)
    .bind(&record.request_headers)
    .bind(record.response_status)
    .bind(&record.response_headers)
    .bind(&record.response_body)
    .bind(&record.error)
    .bind(record.succeeded)
    .execute(pool)
    .await?;
    Ok(())
}

/// One attempt's outcome as the log stores it (automatic ones wait to be written in batches).
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery_id: i64,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub url: String,
    pub request_headers: serde_json::Value,
    pub response_status: Option<i32>,
    pub response_headers: Option<serde_json::Value>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub succeeded: bool,
}

impl AttemptRecord {
    pub fn new(delivery_id: i64, started_at: DateTime<Utc>, exchange: &Exchange) -> Self {
        let (response_status, response_headers, response_body, error) = match &exchange.outcome {
            Ok(r) => (
                Some(i32::from(r.status)),
                Some(json!(r.headers)),
                Some(String::from_utf8_lossy(&r.body).into_owned()),
                (!r.is_success()).then(|| format!("HTTP {}", r.status)),
            ),
            Err(failure) => (None, None, None, Some(failure.to_string())),
        };
        AttemptRecord {
            delivery_id,
            started_at,
            duration_ms: exchange.duration.as_millis().min(i32::MAX as u128) as i32,
            url: exchange.request.url.clone(),
            request_headers: json!(exchange.request.headers),
            response_status,
            response_headers,
            response_body,
            error,
            succeeded: exchange.is_success(),
        }
    }
}

/// Records many automatic attempts in one statement: delivered on a 2xx only; otherwise
/// scheduled again after the policy's wait, or failed after the last attempt.
/// under load this turns thousands of round trips into a few.
pub async fn record_automatic_batch(
    pool: &PgPool,
    records: &[AttemptRecord],
    policy: &RetryPolicy,
) -> Result<(), sqlx::Error> {
    if records.is_empty() {
        return Ok(());
    }
    let delays: Vec<f64> = (1..policy.max_attempts())
        .filter_map(|n| policy.delay_after(n))
        .map(|d| d.as_secs_f64())
        .collect();
    sqlx::query(
        "WITH input AS (
             SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::int[], $4::text[], $5::jsonb[], $6::int[],
                                  $7::jsonb[], $8::text[], $9::text[], $10::bool[])
               AS t(delivery_id, started_at, duration_ms, url, request_headers, response_status,
                    response_headers, response_body, error, succeeded)),
         attempt AS (
             INSERT INTO webhook_attempts (delivery_id, trigger, started_at, duration_ms, url, request_headers,
                                           response_status, response_headers, response_body, error, succeeded)
             SELECT delivery_id, 'automatic', started_at, duration_ms, url, request_headers, response_status,
                    response_headers, response_body, error, succeeded FROM input)
         UPDATE webhook_deliveries d SET
             attempts = d.attempts + 1,
             status = CASE WHEN i.succeeded THEN 'succeeded'
                           WHEN d.attempts + 1 > cardinality($11::float8[]) THEN 'failed'
                           ELSE 'pending' END,
             next_attempt_at = CASE WHEN NOT i.succeeded AND d.attempts + 1 <= cardinality($11::float8[])
                                    THEN now() + make_interval(secs => ($11::float8[])[d.attempts + 1])
                                    ELSE d.next_attempt_at END,
             locked_until = NULL,
             updated_at = now()
         FROM input i WHERE d.id = i.delivery_id",
    )
    .bind(records.iter().map(|r| r.delivery_id).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.started_at).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.duration_ms).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.url.clone()).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.request_headers.clone()).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.response_status).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.response_headers.clone()).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.response_body.clone()).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.error.clone()).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.succeeded).collect::<Vec<_>>())
    .bind(&delays)
    .execute(pool)
    .await?;
    Ok(())
}
