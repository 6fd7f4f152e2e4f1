//! The delivery log: what each destination was sent, every attempt with its request and
//! response, and pruning by age. Resending one is `resend`, a test notification
//! `test_notification`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use utoipa::ToSchema;

use super::destinations::{Destination, get_destination};
use super::payload;
use crate::auth::CurrentUser;
use crate::error::AppError;

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct AttemptSummary {
    pub id: i64,
    /// `automatic` (first try and retries) or `resend`.
    pub trigger: String,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub response_status: Option<i32>,
    pub error: Option<String>,
    pub succeeded: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliverySummary {
    pub id: i64,
    pub ulid: String,
    pub destination_id: i64,
    pub event_type: String,
    /// `pending` (waiting for an attempt), `succeeded` or `failed` (no attempts left).
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub attempts: Vec<AttemptSummary>,
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct AttemptDetail {
    pub id: i64,
    pub trigger: String,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub url: String,
    #[schema(value_type = Vec<Vec<String>>)]
    pub request_headers: Value,
    pub response_status: Option<i32>,
    #[schema(value_type = Option<Vec<Vec<String>>>)]
    pub response_headers: Option<Value>,
    /// At most 64 KiB of the response body.
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub succeeded: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub summary: DeliverySummary,
    /// The exact body sent on every attempt.
    pub payload: String,
    /// The newest attempts (at most `attempts_limit`, 30 by default), oldest first.
    pub attempts_detail: Vec<AttemptDetail>,
    /// When older attempts exist: pass it as `attempts_before` to read them.
    pub earlier_attempts_before: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    ulid: String,
    destination_id: i64,
    event_type: String,
    status: String,
    created_at: DateTime<Utc>,
    /// From the queue: none once the delivery has ended.
    next_attempt_at: Option<DateTime<Utc>>,
    payload: String,
}

impl DeliveryRow {
    fn summary(self, attempts: Vec<AttemptSummary>) -> (DeliverySummary, String) {
        (
            DeliverySummary {
                next_attempt_at: self.next_attempt_at,
                id: self.id,
                ulid: self.ulid,
                destination_id: self.destination_id,
                event_type: self.event_type,
                status: self.status,
                created_at: self.created_at,
                attempts,
            },
            self.payload,
        )
    }
}

pub const PAGE_SIZE: i64 = 50;

/// A delivery's state in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 3] = [Self::Pending, Self::Succeeded, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

/// Which of a destination's deliveries to list: by status, payload type, ulid, and the page
/// (`before`: the last id of the page before).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<String>,
    pub ulid: Option<String>,
    pub before: Option<i64>,
}

impl LogFilter {
    /// From query values as the API and the page receive them (blank means "any"), refusing
    /// an unknown status or type and a malformed ulid by name.
    pub fn parse(
        status: Option<&str>,
        event_type: Option<&str>,
        ulid: Option<&str>,
        before: Option<i64>,
    ) -> Result<Self, AppError> {
        fn given(raw: Option<&str>) -> Option<&str> {
            raw.map(str::trim).filter(|v| !v.is_empty())
        }
        let status = given(status)
            .map(|raw| {
                DeliveryStatus::ALL
                    .into_iter()
                    .find(|s| s.as_str() == raw)
                    .ok_or_else(|| {
                        AppError::validation(
                            "status",
                            "The status is pending, succeeded or failed.",
                        )
                    })
            })
            .transpose()?;
        let event_type = given(event_type)
            .map(|raw| {
                if payload::payload_types().any(|kind| kind == raw) {
                    Ok(raw.to_string())
                } else {
                    Err(AppError::validation(
                        "type",
                        "The type is one of ticketOpened, newReply, assignedToMe, mentionedInNote, replyOnAssignedTicket and test.",
                    ))
                }
            })
            .transpose()?;
        let ulid = given(ulid)
            .map(|raw| {
                // ULIDs are case-insensitive; ours are stored lower-case.
                let ulid = raw.to_ascii_lowercase();
                if ulid.len() == 26 && ulid::Ulid::from_string(&ulid).is_ok() {
                    Ok(ulid)
                } else {
                    Err(AppError::validation(
                        "ulid",
                        "A ulid is 26 characters, as in a payload's \"ulid\" or the webhook-id header.",
                    ))
                }
            })
            .transpose()?;
        Ok(LogFilter {
            status,
            event_type,
            ulid,
            before,
        })
    }

    /// Whether anything narrows the log (not counting the page).
    pub fn narrows(&self) -> bool {
        self.status.is_some() || self.event_type.is_some() || self.ulid.is_some()
    }
}

/// A page of a destination's log, newest first, as `filter` narrows it. The page's ids come
/// from an index-only walk of that destination's entries in the log's index (which carries
/// type and `failed`), or of its rows in the queue when only pending ones are wanted (a
/// delivery is pending while it has a queue row), then their rows by primary key. Status
/// itself is not in the index, so that completing a delivery updates its row in place
/// (migration 0023). Each combination of filters is its own statement (no
/// `$n IS NULL OR ...`), so each gets the plan that fits it.
pub async fn list_deliveries(
    pool: &PgPool,
    user: &CurrentUser,
    destination_id: i64,
    filter: &LogFilter,
    limit: i64,
) -> Result<Vec<DeliverySummary>, AppError> {
    let mut conn = pool.acquire().await?;
    get_destination(&mut conn, user, destination_id).await?;
    let mut query = sqlx::QueryBuilder::new(
        "SELECT d.id, d.ulid, d.destination_id, d.event_type, d.status, d.created_at, q.next_attempt_at,
                '' AS payload
         FROM webhook_deliveries d LEFT JOIN webhook_queue q ON q.delivery_id = d.id
         WHERE d.id = ANY(ARRAY(",
    );
    if filter.status == Some(DeliveryStatus::Pending) {
        query.push(
            "SELECT l.id FROM webhook_queue p JOIN webhook_deliveries l ON l.id = p.delivery_id
             WHERE p.destination_id = ",
        );
    } else {
        query.push("SELECT l.id FROM webhook_deliveries l WHERE l.destination_id = ");
    }
    query.push_bind(destination_id);
    if let Some(before) = filter.before {
        query.push(" AND l.id < ").push_bind(before);
    }
    match filter.status {
        Some(DeliveryStatus::Failed) => {
            query.push(" AND l.failed");
        }
        Some(DeliveryStatus::Succeeded) => {
            query.push(
                " AND NOT l.failed
                  AND NOT EXISTS (SELECT 1 FROM webhook_queue p WHERE p.delivery_id = l.id)",
            );
        }
        Some(DeliveryStatus::Pending) | None => {}
    }
    if let Some(event_type) = &filter.event_type {
        query.push(" AND l.event_type = ").push_bind(event_type);
    }
    if let Some(ulid) = &filter.ulid {
        query.push(" AND l.ulid = ").push_bind(ulid);
    }
    query
        .push(" ORDER BY l.id DESC LIMIT ")
        .push_bind(limit.clamp(1, 200))
        .push(")) ORDER BY d.id DESC");
    let rows: Vec<DeliveryRow> = query.build_query_as().fetch_all(&mut *conn).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let attempts: Vec<(i64, AttemptSummary)> = sqlx::query_as::<_, AttemptRow>(
        "SELECT delivery_id, id, trigger, started_at, duration_ms, response_status, error, succeeded
         FROM webhook_attempts WHERE delivery_id = ANY($1) ORDER BY id",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.delivery_id, r.attempt))
    .collect();
    Ok(rows
        .into_iter()
        .map(|row| {
            let mine = attempts
                .iter()
                .filter(|(d, _)| *d == row.id)
                .map(|(_, a)| a.clone())
                .collect();
            row.summary(mine).0
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    delivery_id: i64,
    #[sqlx(flatten)]
    attempt: AttemptSummary,
}

/// Which of a delivery's attempts to load in full: the newest `limit` before `before` (an
/// attempt id), shown oldest first.
#[derive(Debug, Clone, Copy)]
pub struct AttemptPage {
    pub before: Option<i64>,
    pub limit: i64,
}

impl AttemptPage {
    /// The most attempts one answer carries in full (each may hold 64 KiB of body).
    pub const MAX: i64 = 50;
}

impl Default for AttemptPage {
    fn default() -> Self {
        AttemptPage {
            before: None,
            limit: 30,
        }
    }
}

/// One delivery with its payload and a page of its attempts' requests and responses.
pub async fn get_delivery(
    pool: &PgPool,
    user: &CurrentUser,
    id: i64,
    page: AttemptPage,
) -> Result<(Destination, DeliveryDetail), AppError> {
    let mut conn = pool.acquire().await?;
    let row: DeliveryRow = sqlx::query_as(
        "SELECT d.id, d.ulid, d.destination_id, d.event_type, d.status, d.created_at, q.next_attempt_at,
                d.payload
         FROM webhook_deliveries d LEFT JOIN webhook_queue q ON q.delivery_id = d.id
         WHERE d.id = $1 AND d.workspace_id = $2",
    )
    .bind(id)
    .bind(user.user.workspace_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let destination = get_destination(&mut conn, user, row.destination_id).await?;
    let limit = page.limit.clamp(1, AttemptPage::MAX);
    let mut details: Vec<AttemptDetail> = sqlx::query_as(
        "SELECT id, trigger, started_at, duration_ms, url, request_headers, response_status, response_headers,
                response_body, error, succeeded
         FROM webhook_attempts WHERE delivery_id = $1 AND ($2::int8 IS NULL OR id < $2)
         ORDER BY id DESC LIMIT $3",
    )
    .bind(id)
    .bind(page.before)
    .bind(limit + 1)
    .fetch_all(&mut *conn)
    .await?;
    let earlier = details.len() as i64 > limit;
    details.truncate(limit as usize);
    details.reverse();
    let earlier_attempts_before = earlier.then(|| details[0].id);
    let summaries = details
        .iter()
        .map(|d| AttemptSummary {
            id: d.id,
            trigger: d.trigger.clone(),
            started_at: d.started_at,
            duration_ms: d.duration_ms,
            response_status: d.response_status,
            error: d.error.clone(),
            succeeded: d.succeeded,
        })
        .collect();
    let (summary, payload) = row.summary(summaries);
    Ok((
        destination,
        DeliveryDetail {
            summary,
            payload,
            attempts_detail: details,
            earlier_attempts_before,
        },
    ))
}

/// Deliveries deleted per statement when pruning.
const PRUNE_BATCH: i64 = 5_000;

/// Deletes finished deliveries (and their attempts) older than `retention`, oldest first, a
/// batch per statement: each its own short transaction, so a day's millions never hold locks
/// or one huge transaction while claims and the log are read beside it.
pub async fn prune_log(pool: &PgPool, retention: Duration) -> Result<u64, sqlx::Error> {
    let mut deleted = 0;
    loop {
        let batch = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE id = ANY(ARRAY(
                 SELECT id FROM webhook_deliveries
                 WHERE created_at < now() - make_interval(secs => $1) AND status <> 'pending'
                 ORDER BY created_at LIMIT $2))",
        )
        .bind(retention.as_secs_f64())
        .bind(PRUNE_BATCH)
        .execute(pool)
        .await?
        .rows_affected();
        deleted += batch;
        if batch < PRUNE_BATCH as u64 {
            return Ok(deleted);
        }
    }
}

/// The latest attempt to a destination with its payload, for the destination's page.
pub async fn latest_attempt(
    pool: &PgPool,
    destination_id: i64,
) -> Result<Option<(AttemptDetail, String)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        attempt: AttemptDetail,
        payload: String,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT a.id, a.trigger, a.started_at, a.duration_ms, a.url, a.request_headers, a.response_status,
                a.response_headers, a.response_body, a.error, a.succeeded, d.payload
         FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
         WHERE d.destination_id = $1 ORDER BY a.id DESC LIMIT 1",
    )
    .bind(destination_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (r.attempt, r.payload)))
}
