//! The delivery queue in Postgres: deliveries are queued (with the event that caused them, or
//! alone for a test notification), claimed due with a lease (`FOR UPDATE SKIP LOCKED`), and,
//! once attempted with no transaction or connection held (see [`super::attempt`]), their
//! outcome is stored. A crashed worker's leases expire and its deliveries are claimed again.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};

use super::attempt::{AttemptRecord, ClaimedDelivery};
use super::payload::TEST_TYPE;
use super::retry::{Next, RetryPolicy};
use crate::metrics::{DeliveryOutcome, QueueDepth};

/// Postgres channel notified when deliveries are queued.
pub const NOTIFY_CHANNEL: &str = "therethere_webhooks";

/// A delivery to queue: its exact payload is fixed now, whatever happens later.
pub struct NewDelivery {
    pub ulid: String,
    pub workspace_id: i64,
    pub destination_id: i64,
    pub event_id: Option<i64>,
    pub event_type: String,
    pub payload: String,
}

/// Queues one delivery that comes from no domain event (a test notification).
pub async fn queue_delivery(
    pool: &PgPool,
    workspace_id: i64,
    destination_id: i64,
    event_type: &str,
    ulid: &str,
    payload: &str,
) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    insert_deliveries(
        &mut tx,
        &[NewDelivery {
            ulid: ulid.to_string(),
            workspace_id,
            destination_id,
            event_id: None,
            event_type: event_type.to_string(),
            payload: payload.to_string(),
        }],
    )
    .await?;
    let id = sqlx::query_scalar("SELECT id FROM webhook_deliveries WHERE ulid = $1")
        .bind(ulid)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(id)
}

/// Queues deliveries in the caller's transaction and wakes the workers when it commits.
/// Only to destinations that exist: they are locked (`FOR KEY SHARE`, once each, where a
/// foreign key checked every row), so one deleted meanwhile takes its deliveries with it when
/// its deletion goes ahead after this commits (migration 0022), and a delivery to one
/// already gone is left out. A plain insert otherwise: fan-out takes each event once (locked,
/// then marked in the same transaction), so a second delivery of one event to one
/// destination as one type cannot come, and `webhook_deliveries_once_idx` would refuse it
/// loudly. (`ON CONFLICT DO NOTHING` cost a quarter of the statement's time, measured on
/// 2,000 deliveries: 151 → 115 ms.)
pub async fn insert_deliveries(
    conn: &mut PgConnection,
    deliveries: &[NewDelivery],
) -> Result<(), sqlx::Error> {
    if deliveries.is_empty() {
        return Ok(());
    }
    // The texts are bound borrowed: a fan-out batch's payloads run to megabytes.
    let text = |f: fn(&NewDelivery) -> &str| deliveries.iter().map(f).collect::<Vec<&str>>();
    sqlx::query!(
        "WITH target AS (
             SELECT id FROM webhook_destinations WHERE id = ANY($3::bigint[]) FOR KEY SHARE),
         queued AS (
             INSERT INTO webhook_deliveries (ulid, workspace_id, destination_id, event_id, event_type, payload)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[])
                 AS n(ulid, workspace_id, destination_id, event_id, event_type, payload)
             WHERE n.destination_id IN (SELECT id FROM target)
             RETURNING id, destination_id, event_type)
         INSERT INTO webhook_queue (delivery_id, destination_id, test)
         SELECT id, destination_id, event_type = $7 FROM queued",
        &text(|d| &d.ulid) as &[&str],
        &deliveries.iter().map(|d| d.workspace_id).collect::<Vec<i64>>(),
        &deliveries.iter().map(|d| d.destination_id).collect::<Vec<i64>>(),
        &deliveries.iter().map(|d| d.event_id).collect::<Vec<Option<i64>>>() as &[Option<i64>],
        &text(|d| &d.event_type) as &[&str],
        &text(|d| &d.payload) as &[&str],
        TEST_TYPE,
    )
    .execute(&mut *conn)
    .await?;
    wake_workers(conn).await
}

/// This process, as the payload of the NOTIFYs it sends: a worker answers its own
/// instance's at once (see `worker`).
pub static THIS_INSTANCE: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| ulid::Ulid::new().to_string());

/// Wakes every instance's workers when the caller's transaction commits: deliveries are due.
pub async fn wake_workers(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(NOTIFY_CHANNEL)
        .bind(THIS_INSTANCE.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

/// How many more attempts each destination, or each workspace, may have under way on this
/// instance.
#[derive(Debug, Default, Clone)]
pub struct Room {
    /// Destinations with no room left: their backlog is not even looked at.
    pub full: Vec<i64>,
    /// Those with some attempts under way, and how many more they may start.
    pub partial: Vec<(i64, i32)>,
    /// The room of every other one.
    pub each: i32,
}

/// Claims up to `limit` due deliveries, but no more from one destination or one workspace
/// than its room: a receiver that hangs holds at most its share of the slots, and its backlog
/// is skipped without being read. Workspaces take turns: the workspace with the fewest
/// attempts under way goes first, so a workspace's backlog of thousands delays another's next
/// notification by one attempt, not by the backlog. Destinations with pending
/// deliveries are found by a loose index scan (one probe each), then each gives its oldest
/// due deliveries up to its room.
/// Run on the claim's own connection, whose statements are always planned for their
/// parameters (`db::claim_pool`): this query's generic plan is slow.
pub async fn claim_due(
    pool: &PgPool,
    limit: i64,
    lease: Duration,
    destinations: &Room,
    workspaces: &Room,
) -> Result<Vec<ClaimedDelivery>, sqlx::Error> {
    let room = destinations;
    let (workspace_ids, workspace_room): (Vec<i64>, Vec<i32>) =
        workspaces.partial.iter().copied().unzip();
    let (partial_ids, partial_room): (Vec<i64>, Vec<i32>) = room.partial.iter().copied().unzip();
    // Checked against the schema at compile time (`.sqlx/` when no database is at hand).
    sqlx::query_as!(
        ClaimedDelivery,
        r#"WITH RECURSIVE pending_destinations AS (
             (SELECT destination_id FROM webhook_queue ORDER BY destination_id LIMIT 1)
             UNION ALL
             SELECT (SELECT q.destination_id FROM webhook_queue q
                     WHERE q.destination_id > p.destination_id
                     ORDER BY q.destination_id LIMIT 1)
             FROM pending_destinations p WHERE p.destination_id IS NOT NULL),
         candidates AS (
             SELECT c.delivery_id AS id, c.next_attempt_at, w.workspace_id
             FROM pending_destinations p
             JOIN webhook_destinations w ON w.id = p.destination_id
             LEFT JOIN unnest($4::bigint[], $5::int[]) AS r(destination_id, room)
                  ON r.destination_id = p.destination_id
             CROSS JOIN LATERAL (
                 -- An enabled destination: its oldest due deliveries.
                 (SELECT q.delivery_id, q.next_attempt_at FROM webhook_queue q
                  WHERE w.enabled AND q.destination_id = p.destination_id
                    AND q.next_attempt_at <= now()
                    AND (q.locked_until IS NULL OR q.locked_until < now())
                  ORDER BY q.next_attempt_at, q.delivery_id
                  LIMIT coalesce(r.room, $6))
                 UNION ALL
                 -- A disabled one: only test notifications (an explicit request), found by
                 -- their own index so its waiting backlog is never read.
                 (SELECT q.delivery_id, q.next_attempt_at FROM webhook_queue q
                  WHERE NOT w.enabled AND q.destination_id = p.destination_id AND q.test
                    AND q.next_attempt_at <= now()
                    AND (q.locked_until IS NULL OR q.locked_until < now())
                  ORDER BY q.next_attempt_at, q.delivery_id
                  LIMIT coalesce(r.room, $6))) c
             WHERE NOT (p.destination_id = ANY($3)) AND NOT (w.workspace_id = ANY($7))),
         -- Each workspace's candidates in its turns, up to its room; its turns count on from
         -- the attempts it has under way, so a slot freed by a busy workspace's attempt goes
         -- to an idle one's next delivery, however much older the busy one's backlog.
         turns AS (
             SELECT c.id, c.next_attempt_at, c.workspace_id,
                    row_number() OVER (PARTITION BY c.workspace_id ORDER BY c.next_attempt_at, c.id) AS turn
             FROM candidates c),
         chosen AS (
             SELECT t.id FROM turns t
             LEFT JOIN unnest($8::bigint[], $9::int[]) AS s(workspace_id, room)
                  ON s.workspace_id = t.workspace_id
             WHERE t.turn <= coalesce(s.room, $10)
             ORDER BY t.turn + $10 - coalesce(s.room, $10), t.next_attempt_at, t.id
             LIMIT $1),
         -- The chosen by primary key (an array, so never a hash join over the whole queue),
         -- locked if no other claim has them.
         due AS (
             SELECT q.delivery_id FROM webhook_queue q
             WHERE q.delivery_id = ANY(ARRAY(SELECT id FROM chosen))
               AND (q.locked_until IS NULL OR q.locked_until < now())
             FOR UPDATE OF q SKIP LOCKED),
         leased AS (
             UPDATE webhook_queue q SET locked_until = now() + make_interval(secs => $2)
             FROM due WHERE q.delivery_id = due.delivery_id
             RETURNING q.delivery_id)
         SELECT d.id, d.workspace_id, d.destination_id, d.ulid, d.payload, d.attempts, w.url AS "url!", w.secret AS "secret!",
                CASE WHEN w.previous_secret_until > now() THEN w.previous_secret END AS previous_secret,
                d.replay_id
         FROM leased
         JOIN webhook_deliveries d ON d.id = leased.delivery_id
         JOIN webhook_destinations w ON w.id = d.destination_id"#,
        limit,
        lease.as_secs_f64(),
        &room.full,
        &partial_ids,
        &partial_room,
        room.each,
        &workspaces.full,
        &workspace_ids,
        &workspace_room,
        workspaces.each,
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(open_secrets)
    .collect()
}

/// The claimed delivery with its destination's secrets opened (they are stored sealed).
fn open_secrets(mut claimed: ClaimedDelivery) -> Result<ClaimedDelivery, sqlx::Error> {
    let open = |stored: &str| {
        crate::secrets::keyring()
            .open(stored)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))
    };
    claimed.secret = open(&claimed.secret)?;
    claimed.previous_secret = claimed.previous_secret.as_deref().map(open).transpose()?;
    Ok(claimed)
}

/// Gives claimed deliveries back unattempted (their leases end now): another claim, this
/// instance's or another's, may take them at once.
pub async fn release(pool: &PgPool, delivery_ids: &[i64]) -> Result<(), sqlx::Error> {
    if delivery_ids.is_empty() {
        return Ok(());
    }
    sqlx::query("UPDATE webhook_queue SET locked_until = NULL WHERE delivery_id = ANY($1)")
        .bind(delivery_ids)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records a resend: logged as such; it never changes the automatic schedule, but its success
/// marks the delivery delivered. (Automatic attempts go through [`record_automatic_batch`].)
pub async fn record_resend(pool: &PgPool, record: &AttemptRecord) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH updated AS (
             UPDATE webhook_deliveries SET
                 status = CASE WHEN $10 THEN 'succeeded' ELSE status END,
                 updated_at = now()
             WHERE id = $1 RETURNING id),
         delivered AS (DELETE FROM webhook_queue WHERE delivery_id = $1 AND $10)
         -- Logged only if the delivery is still there (its destination may be deleted meanwhile).
         INSERT INTO webhook_attempts (delivery_id, trigger, started_at, duration_ms, url, request_headers,
                                       response_status, response_headers, response_body, error, succeeded)
         SELECT id, 'resend', $2, $3, $4, $5::jsonb, $6, $7::jsonb, $8, $9, $10 FROM updated",
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

/// An automatic attempt's record and what follows it: delivered on a 2xx, else as the retry
/// policy decides.
#[derive(Debug, Clone)]
pub struct AutomaticAttempt {
    pub record: AttemptRecord,
    pub next: Option<Next>,
    pub destination_id: i64,
    /// A replay's one resend rather than a scheduled attempt: logged as a resend, never
    /// retried.
    pub replay: bool,
}

impl AutomaticAttempt {
    /// `delivery` is the claimed delivery the record is of (its `attempts` counts the ones
    /// before); `asked` is the wait the receiver asked for (`retry::asked_wait`).
    pub fn new(
        delivery: &ClaimedDelivery,
        record: AttemptRecord,
        policy: &RetryPolicy,
        asked: Option<Duration>,
    ) -> Self {
        let attempt = u32::try_from(delivery.attempts).unwrap_or(0) + 1;
        let replay = delivery.replay_id.is_some();
        let next = if record.succeeded {
            None
        } else if replay || record.response_status == Some(410) {
            // A replay's one resend; or gone for good (the destination is disabled once this
            // is recorded): no retry either way.
            Some(Next::GiveUp)
        } else {
            Some(policy.after_failure_asked(attempt, asked))
        };
        AutomaticAttempt {
            record,
            next,
            destination_id: delivery.destination_id,
            replay,
        }
    }

    /// True when this attempt was the delivery's last: delivered, or failed for good.
    pub fn ends_delivery(&self) -> bool {
        !matches!(self.next, Some(Next::RetryAfter(_)))
    }

    /// True when the receiver said it is gone for good (410): its destination is disabled.
    pub fn says_gone(&self) -> bool {
        self.record.response_status == Some(410)
    }

    /// True when this attempt ends a delivery that the destination's failure streak counts
    /// (`disabling`): a 410 disables at once instead, and a replay's failed resend is a
    /// delivery already counted, not a new one.
    pub fn counts_toward_streak(&self) -> bool {
        self.ends_delivery() && !self.says_gone() && (self.record.succeeded || !self.replay)
    }

    /// What followed, as the metrics count it.
    pub fn outcome(&self) -> DeliveryOutcome {
        match self.next {
            None => DeliveryOutcome::succeeded,
            Some(Next::RetryAfter(_)) => DeliveryOutcome::retrying,
            Some(Next::GiveUp) => DeliveryOutcome::failed,
        }
    }

    fn trigger(&self) -> &'static str {
        if self.replay { "resend" } else { "automatic" }
    }

    fn status(&self) -> &'static str {
        match self.next {
            None => "succeeded",
            Some(Next::RetryAfter(_)) => "pending",
            Some(Next::GiveUp) => "failed",
        }
    }

    fn retry_after_seconds(&self) -> Option<f64> {
        match self.next {
            Some(Next::RetryAfter(wait)) => Some(wait.as_secs_f64()),
            _ => None,
        }
    }
}

/// Stores many automatic attempts and their decided outcomes in one statement: under load
/// this turns thousands of round trips into a few.
pub async fn record_automatic_batch(
    pool: &PgPool,
    attempts: &[AutomaticAttempt],
) -> Result<(), sqlx::Error> {
    if attempts.is_empty() {
        return Ok(());
    }
    let records = || attempts.iter().map(|a| &a.record);
    sqlx::query!(
        r#"WITH input AS (
             SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::int[], $4::text[], $5::text[], $6::int[],
                                  $7::text[], $8::text[], $9::text[], $10::bool[], $11::text[], $12::float8[],
                                  $13::text[])
               AS t(delivery_id, started_at, duration_ms, url, request_headers, response_status,
                    response_headers, response_body, error, succeeded, status, retry_after, trigger)),
         -- The log's row first: the attempt and the queue are written only for the
         -- deliveries it found (one whose destination was deleted meanwhile has none).
         updated AS (
             UPDATE webhook_deliveries d SET
                 attempts = d.attempts + 1,
                 status = i.status,
                 replay_id = NULL,
                 updated_at = now()
             FROM input i
             -- By key from an array: as a join, the planner hashed the whole log (or queue,
             -- below) to find a few hundred rows, a third of this statement's time.
             WHERE d.id = ANY(ARRAY(SELECT delivery_id FROM input)) AND d.id = i.delivery_id
             RETURNING d.id, d.destination_id, d.event_type, i.status, i.retry_after),
         -- A retry waits in the queue (put back if a successful resend took it out
         -- meanwhile, as the status above says pending again); a delivery that ended leaves.
         -- Both, like the attempt below, only for the deliveries the update found.
         retried AS (
             INSERT INTO webhook_queue (delivery_id, destination_id, test, next_attempt_at)
             SELECT id, destination_id, event_type = $14, now() + make_interval(secs => retry_after)
             FROM updated WHERE status = 'pending'
             ON CONFLICT (delivery_id) DO UPDATE
                 SET next_attempt_at = EXCLUDED.next_attempt_at, locked_until = NULL),
         ended AS (
             DELETE FROM webhook_queue q
             WHERE q.delivery_id = ANY(ARRAY(SELECT id FROM updated WHERE status <> 'pending')))
         INSERT INTO webhook_attempts (delivery_id, trigger, started_at, duration_ms, url, request_headers,
                                       response_status, response_headers, response_body, error, succeeded)
         SELECT delivery_id, trigger, started_at, duration_ms, url, request_headers::jsonb, response_status,
                response_headers::jsonb, response_body, error, succeeded
         FROM input WHERE delivery_id IN (SELECT id FROM updated)"#,
        &records().map(|r| r.delivery_id).collect::<Vec<_>>(),
        &records().map(|r| r.started_at).collect::<Vec<_>>(),
        &records().map(|r| r.duration_ms).collect::<Vec<_>>(),
        // Borrowed: the batch's texts are bound as they are, not copied.
        &records().map(|r| r.url.as_str()).collect::<Vec<_>>() as &[&str],
        &records().map(|r| r.request_headers.as_str()).collect::<Vec<_>>() as &[&str],
        &records().map(|r| r.response_status).collect::<Vec<_>>() as &[Option<i32>],
        &records().map(|r| r.response_headers.as_deref()).collect::<Vec<_>>() as &[Option<&str>],
        &records().map(|r| r.response_body.as_deref()).collect::<Vec<_>>() as &[Option<&str>],
        &records().map(|r| r.error.as_deref()).collect::<Vec<_>>() as &[Option<&str>],
        &records().map(|r| r.succeeded).collect::<Vec<_>>(),
        &attempts.iter().map(AutomaticAttempt::status).collect::<Vec<_>>() as &[&str],
        &attempts.iter().map(AutomaticAttempt::retry_after_seconds).collect::<Vec<_>>() as &[Option<f64>],
        &attempts.iter().map(AutomaticAttempt::trigger).collect::<Vec<_>>() as &[&str],
        TEST_TYPE,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Counts pending deliveries (the queue) for `/metrics`.
pub async fn backlog(pool: &PgPool) -> Result<QueueDepth, sqlx::Error> {
    let (pending, due, leased, oldest): (i64, i64, i64, f64) = sqlx::query_as(
        "SELECT count(*),
                count(*) FILTER (WHERE next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())),
                count(*) FILTER (WHERE locked_until >= now()),
                COALESCE(EXTRACT(EPOCH FROM now() - min(next_attempt_at)
                    FILTER (WHERE next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now()))), 0)::float8
         FROM webhook_queue",
    )
    .fetch_one(pool)
    .await?;
    Ok(QueueDepth {
        pending,
        due,
        leased,
        oldest_due_age: std::time::Duration::from_secs_f64(oldest.max(0.0)),
    })
}
