//! One attempt at a delivery: the signed POST of its exact payload, and the record of what
//! happened that the delivery log shows.

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::outbound::signature::{WEBHOOK_SIGNATURE_HEADER, standard_webhook_headers};
use crate::outbound::{Exchange, OutboundClient, Signing};

/// A delivery claimed for one attempt, with its destination as it is now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub workspace_id: i64,
    pub destination_id: i64,
    pub ulid: String,
    pub payload: String,
    pub attempts: i32,
    pub url: String,
    pub secret: String,
    /// The replaced secret while a regenerate's grace period lasts.
    pub previous_secret: Option<String>,
    /// The replay that queued it again: this attempt is its one resend.
    pub replay_id: Option<i64>,
}

/// One signed POST of the delivery's exact payload, with the destination's current secret:
/// the spec's `ThereThere-Signature`, plus the Standard Webhooks headers so any Standard
/// Webhooks library verifies it and refuses replays; during a grace period
/// `webhook-signature` carries the previous secret's signature too.
/// `url` is the destination's URL parsed ([`parse_url`]) and `payload` the delivery's own,
/// given apart so that the worker parses each destination's URL once and no payload is copied:
/// parsing every attempt's URL was 6 % of the worker's CPU in the drain (`perf`).
pub async fn attempt(
    client: &OutboundClient,
    delivery: &ClaimedDelivery,
    url: &url::Url,
    payload: Bytes,
) -> Exchange {
    let signing = Signing {
        header: WEBHOOK_SIGNATURE_HEADER,
        secret: delivery.secret.as_bytes(),
    };
    let secrets: Vec<&str> = std::iter::once(delivery.secret.as_str())
        .chain(delivery.previous_secret.as_deref())
        .collect();
    let standard =
        standard_webhook_headers(&secrets, &delivery.ulid, Utc::now().timestamp(), &payload);
    client
        .post_json(url, payload, Some(signing), standard)
        .await
}

/// A destination's URL as [`attempt`] takes it. Stored URLs were checked when saved; one that
/// no longer parses goes nowhere (the attempt fails and is logged as such).
pub fn parse_url(url: &str) -> url::Url {
    url::Url::parse(url).unwrap_or_else(|_| url::Url::parse("https://invalid.invalid/").unwrap())
}

/// One attempt's outcome as the log stores it (automatic ones wait to be written in batches).
/// Headers are kept as the JSON text the log's `jsonb` columns take (pairs of name and value,
/// in order): building `serde_json::Value` trees for them, cloning and dropping them was a
/// fifth of the worker's CPU in the drain (`perf`).
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery_id: i64,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub url: String,
    pub request_headers: String,
    pub response_status: Option<i32>,
    pub response_headers: Option<String>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub succeeded: bool,
}

impl AttemptRecord {
    pub fn new(delivery_id: i64, started_at: DateTime<Utc>, exchange: &Exchange) -> Self {
        let (response_status, response_headers, response_body, error) = match &exchange.outcome {
            Ok(r) => (
                Some(i32::from(r.status)),
                Some(headers_json(&r.headers)),
                Some(body_text(&r.body)),
                (!r.is_success()).then(|| format!("HTTP {}", r.status)),
            ),
            Err(failure) => (None, None, None, Some(failure.to_string())),
        };
        AttemptRecord {
            delivery_id,
            started_at,
            duration_ms: exchange.duration.as_millis().min(i32::MAX as u128) as i32,
            url: exchange.request.url.clone(),
            request_headers: headers_json(&exchange.request.headers),
            response_status,
            response_headers,
            response_body,
            error,
            succeeded: exchange.is_success(),
        }
    }
}

/// A response body as the log keeps it: bytes that are not UTF-8 are replaced, and the text
/// cut at the body cap again (a replacement character takes three bytes for one).
fn body_text(body: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(body).into_owned();
    let cap = crate::outbound::client::WEBHOOK.body_cap;
    if text.len() > cap {
        let mut at = cap;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
    }
    text
}

/// Header pairs as JSON text: `[["name","value"],...]`.
fn headers_json(headers: &[(String, String)]) -> String {
    serde_json::to_string(headers).expect("pairs of strings always serialize")
}
