//! The webhook worker: a fan-out task turns new events into deliveries (woken by NOTIFY), and
//! the delivery loop claims and attempts due deliveries, woken by NOTIFY, by a finished
//! attempt freeing a slot, and by a short poll. Attempts run concurrently up to a limit per
//! instance and smaller limits per destination and per workspace, so a receiver that always
//! times out holds a few slots, and one workspace's receivers at most three quarters, while healthy
//! receivers keep flowing through the rest.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::attempt::{self, AttemptRecord, ClaimedDelivery};
use super::queue::{self, AutomaticAttempt};
use super::retry::{self, RetryPolicy};
use super::{WebhookSettings, deliveries, disabling, fanout, replay};
use crate::app_url::AppUrl;
use crate::db::notifications::Notifications;
use crate::metrics::Metrics;
use crate::outbound::OutboundClient;

const POLL_INTERVAL: Duration = Duration::from_millis(500);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const FAN_OUT_BATCH: i64 = 500;
const CLAIM_BATCH: usize = 200;
const RECORD_BATCH: usize = 500;

/// Attempts under way per destination and per workspace, to find the saturated ones.
#[derive(Default)]
struct InFlight {
    counts: Mutex<InFlightCounts>,
    freed: Notify,
}

#[derive(Default)]
struct InFlightCounts {
    by_destination: HashMap<i64, usize>,
    by_workspace: HashMap<i64, usize>,
}

/// Each key's room under `cap`, given what it has under way.
fn room_under(cap: usize, under_way: &HashMap<i64, usize>) -> queue::Room {
    let mut room = queue::Room {
        each: i32::try_from(cap).unwrap_or(i32::MAX),
        ..Default::default()
    };
    for (&id, &n) in under_way {
        match cap.saturating_sub(n) {
            0 => room.full.push(id),
            left => room
                .partial
                .push((id, i32::try_from(left).unwrap_or(i32::MAX))),
        }
    }
    room
}

fn add(counts: &mut HashMap<i64, usize>, key: i64) {
    *counts.entry(key).or_default() += 1;
}

fn remove(counts: &mut HashMap<i64, usize>, key: i64) {
    if let Some(n) = counts.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(&key);
        }
    }
}

impl InFlight {
    /// Each destination's and each workspace's room under their caps, for the claim.
    fn room(&self, settings: &WebhookSettings) -> (queue::Room, queue::Room) {
        let counts = self.counts.lock().expect("in-flight counts lock");
        (
            room_under(settings.destination_concurrency, &counts.by_destination),
            room_under(settings.workspace_concurrency, &counts.by_workspace),
        )
    }

    fn start(&self, delivery: &ClaimedDelivery) {
        let mut counts = self.counts.lock().expect("in-flight counts lock");
        add(&mut counts.by_destination, delivery.destination_id);
        add(&mut counts.by_workspace, delivery.workspace_id);
    }

    fn finish(&self, destination: i64, workspace: i64) {
        let mut counts = self.counts.lock().expect("in-flight counts lock");
        remove(&mut counts.by_destination, destination);
        remove(&mut counts.by_workspace, workspace);
        drop(counts);
        self.freed.notify_one();
    }
}

/// Delivers webhooks until `cancel`: fans events out, claims due deliveries, attempts them
/// with `client` and records the outcomes, on `pool`: a pool of its own
/// (`WORKER_DATABASE_CONNECTIONS`: two listeners, the recorder and fan-out), and one more
/// connection for the claims, beside the request pool, since requests that fill theirs (many tickets created at once,
/// each waiting its turn for the ticket number) must not hold up claims, attempt records or
/// fan-out. Measured: claims waited 20-25 ms for a connection on a shared pool.
pub async fn run(
    pool: PgPool,
    client: OutboundClient,
    metrics: Arc<Metrics>,
    settings: WebhookSettings,
    app_url: AppUrl,
    cancel: CancellationToken,
) {
    metrics.watch_pool("worker", &pool);
    let (records, recorded) = mpsc::unbounded_channel();
    let recorder = tokio::spawn(record_batches(
        pool.clone(),
        app_url.clone(),
        settings.streaks.clone(),
        recorded,
    ));
    let attempts = Attempts {
        claims: crate::db::claim_pool(&pool),
        client,
        policy: Arc::new(settings.retry.clone()),
        slots: Arc::new(Semaphore::new(settings.concurrency)),
        in_flight: Arc::new(InFlight::default()),
        records,
        settings: settings.clone(),
        metrics: metrics.clone(),
    };
    // Fan-out runs beside delivery: events arriving steadily must not hold up attempts.
    let fan_out = tokio::spawn(fan_out_loop(app_url, pool.clone(), cancel.clone()));
    let mut notifications = Notifications::new(&pool, &[queue::NOTIFY_CHANNEL]);
    let mut last_prune = tokio::time::Instant::now() - PRUNE_EVERY;
    while !cancel.is_cancelled() {
        metrics.worker_ticked();
        let claim_again = attempts.start_due().await;
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = tokio::time::Instant::now();
            prune(&pool, settings.log_retention).await;
        }
        if claim_again && attempts.slots.available_permits() > 0 {
            continue;
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = notifications.next() => {},
            _ = attempts.in_flight.freed.notified() => {},
            _ = tokio::time::sleep(POLL_INTERVAL) => {},
        }
    }
    let _ = fan_out.await;
    // Let attempts under way finish and record; unclaimed work stays queued for next time.
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        attempts.slots.acquire_many(settings.concurrency as u32),
    )
    .await;
    let claims = attempts.claims.clone();
    drop(attempts);
    crate::db::close_within(&claims, Duration::from_secs(5)).await;
    let _ = recorder.await;
    // Closing waits for every connection to come back, the listener's too.
    drop(notifications);
    crate::db::close_within(&pool, Duration::from_secs(5)).await;
}

/// What starting attempts needs: the slots of this instance and of each destination, and
/// where finished attempts go to be recorded.
struct Attempts {
    /// The claim's own connection (`db::claim_pool`).
    claims: PgPool,
    client: OutboundClient,
    policy: Arc<RetryPolicy>,
    slots: Arc<Semaphore>,
    in_flight: Arc<InFlight>,
    records: mpsc::UnboundedSender<AutomaticAttempt>,
    settings: WebhookSettings,
    metrics: Arc<Metrics>,
}

impl Attempts {
    /// Claims what is due, as much as the free slots and each destination's room allow, and
    /// starts each attempt as a task of its own. True when the batch was full (claim again).
    async fn start_due(&self) -> bool {
        let free = self.slots.available_permits();
        if free == 0 {
            return false;
        }
        let (destinations, workspaces) = self.in_flight.room(&self.settings);
        let limit = free.min(CLAIM_BATCH);
        let lease = self.settings.lease;
        let claimed = queue::claim_due(
            &self.claims,
            limit as i64,
            lease,
            &destinations,
            &workspaces,
        )
        .await;
        let batch = match claimed {
            Ok(batch) => batch,
            Err(err) => {
                tracing::warn!(error = %err, "claiming webhook deliveries failed");
                return false;
            }
        };
        // Every destination and workspace gave what its room allows: a short batch means
        // nothing more may start for now.
        let full = batch.len() == limit;
        for delivery in batch {
            let permit = self
                .slots
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            self.in_flight.start(&delivery);
            let (client, policy, in_flight, records, metrics) = (
                self.client.clone(),
                self.policy.clone(),
                self.in_flight.clone(),
                self.records.clone(),
                self.metrics.clone(),
            );
            let span = tracing::info_span!("webhook_attempt", delivery.ulid = %delivery.ulid,
                delivery.id = delivery.id, destination.id = delivery.destination_id,
                workspace_id = delivery.workspace_id);
            let attempt = async move {
                let (destination, workspace) = (delivery.destination_id, delivery.workspace_id);
                let started_at = Utc::now();
                let exchange = attempt::attempt(&client, &delivery).await;
                let record = AttemptRecord::new(delivery.id, started_at, &exchange);
                let asked = exchange.outcome.as_ref().ok().and_then(|received| {
                    retry::asked_wait(received.status, &received.headers, SystemTime::now())
                });
                let automatic = AutomaticAttempt::new(&delivery, record, &policy, asked);
                let outcome = automatic.outcome();
                tracing::debug!(
                    ?outcome,
                    duration_ms = exchange.duration.as_millis() as u64,
                    "webhook attempt"
                );
                metrics.webhook_attempt(outcome, exchange.duration);
                // The delivery stays leased until its record is written.
                let _ = records.send(automatic);
                drop(permit);
                in_flight.finish(destination, workspace);
            };
            tokio::spawn(attempt.instrument(span));
        }
        full
    }
}

/// Forgets what is kept for a while only: the delivery log past its retention, and sidebar
/// call stats past a week (this loop runs on every instance that does background work).
async fn prune(pool: &PgPool, retention: Duration) {
    match deliveries::prune_log(pool, retention).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, "pruned old webhook deliveries"),
        Err(err) => tracing::warn!(error = %err, "pruning webhook deliveries failed"),
    }
    if let Err(err) = replay::prune_replays(pool, retention).await {
        tracing::warn!(error = %err, "pruning webhook replays failed");
    }
    if let Err(err) = crate::sidebar::failures::prune_stats(pool).await {
        tracing::warn!(error = %err, "pruning sidebar call stats failed");
    }
}

/// Writes finished attempts in batches: whatever arrived while the previous write ran.
/// Then counts each destination's failing streak (warning and disabling as `streaks` say),
/// and disables the destinations whose receivers answered 410 Gone, with notice.
async fn record_batches(
    pool: PgPool,
    app_url: AppUrl,
    streaks: disabling::Streaks,
    mut recorded: mpsc::UnboundedReceiver<AutomaticAttempt>,
) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while recorded.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        if let Err(err) = queue::record_automatic_batch(&pool, &batch).await {
            // Their leases will expire and they will be attempted again: at least once.
            tracing::error!(error = %err, count = batch.len(), "recording webhook attempts failed");
        }
        let changes =
            disabling::streak_changes(batch.iter().filter(|a| a.counts_toward_streak()).map(|a| {
                (
                    a.destination_id,
                    a.record.succeeded,
                    a.record.error.as_deref(),
                )
            }));
        if let Err(err) = disabling::apply_streaks(&pool, &app_url, &streaks, &changes).await {
            tracing::error!(error = %err, "counting failing webhook destinations failed");
        }
        for gone in batch.iter().filter(|a| a.says_gone()) {
            let error = gone.record.error.as_deref().unwrap_or("HTTP 410");
            let id = gone.destination_id;
            if let Err(err) =
                disabling::disable_with_notice(&pool, &app_url, id, disabling::GONE_REASON, error)
                    .await
            {
                tracing::error!(error = %err, destination.id = id, "disabling a gone destination failed");
            }
        }
        batch.clear();
    }
}

/// Turns new events into deliveries, a batch at a time, whenever events are committed.
async fn fan_out_loop(app_url: AppUrl, pool: PgPool, cancel: CancellationToken) {
    let mut notifications = Notifications::new(&pool, &[crate::helpdesk::events::NOTIFY_CHANNEL]);
    while !cancel.is_cancelled() {
        loop {
            match fanout::fan_out_pending(&pool, &app_url, FAN_OUT_BATCH).await {
                Ok(0) => break,
                Ok(_) if cancel.is_cancelled() => return,
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "webhook fan-out failed; will retry");
                    break;
                }
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = notifications.next() => {},
            _ = tokio::time::sleep(POLL_INTERVAL) => {},
        }
    }
}
