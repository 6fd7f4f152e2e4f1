//! The webhook worker: a fan-out task turns new events into deliveries (woken by NOTIFY), and
//! the delivery loop claims due deliveries, woken by NOTIFY, by a poll, and by finished
//! attempts once little is left waiting (`schedule`: claims run ahead of the attempts, so a
//! freed slot never waits for one). Attempts run concurrently up to a limit per instance and
//! smaller limits per destination and per workspace, so a receiver that always times out
//! holds a few slots, and one workspace's receivers at most three quarters, while healthy
//! receivers keep flowing through the rest.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::attempt::{self, AttemptRecord, ClaimedDelivery};
use super::queue::{self, AutomaticAttempt};
use super::retry::{self, RetryPolicy};
use super::schedule::{Caps, Schedule};
use super::{WebhookSettings, deliveries, disabling, fanout, replay};
use crate::app_url::AppUrl;
use crate::db::notifications::{Notifications, Signal};
use crate::metrics::Metrics;
use crate::outbound::OutboundClient;

const POLL_INTERVAL: Duration = Duration::from_millis(500);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const FAN_OUT_BATCH: i64 = 500;
const CLAIM_BATCH: usize = 200;
const RECORD_BATCH: usize = 500;
const RECORD_WRITERS: usize = 2;
const URL_CACHE: usize = 4096;
/// How long a worker whose last claim found nothing, though it had room, waits before
/// answering another instance's NOTIFY. Every instance's worker hears every NOTIFY and
/// claimed at once: with four instances a claim found ~10 deliveries, and claims were 2,145
/// for 20,000 deliveries (281 with one), a third of PostgreSQL's time (`pg_stat_statements`).
/// The workers that lost the race step back for a moment and take that moment's NOTIFYs as
/// one; a worker that finds work, and any worker hearing its own instance's fan-out, answers
/// at once (pausing for its own too cost one instance 50 ms of p50 latency).
const LOST_RACE_PAUSE: Duration = Duration::from_millis(50);

/// Delivers webhooks until `cancel`: fans events out, claims due deliveries, attempts them
/// with `client` and records the outcomes, on `pool`: a pool of its own
/// (`WORKER_DATABASE_CONNECTIONS`: two listeners, two attempt-record writers, fan-out), and
/// one more connection for the claims, beside the request pool, since requests that fill
/// theirs (many tickets created at once, each waiting its turn for the ticket number) must not
/// hold up claims, attempt records or fan-out. Measured: claims waited 20-25 ms for a
/// connection on a shared pool.
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
    let max_wait = max_hold(&settings, &client);
    let attempts = Arc::new(Attempts {
        claims: crate::db::claim_pool(&pool),
        client,
        policy: Arc::new(settings.retry.clone()),
        schedule: Mutex::new(Schedule::new(
            Caps {
                instance: settings.concurrency,
                destination: settings.destination_concurrency,
                workspace: settings.workspace_concurrency,
            },
            max_wait,
        )),
        urls: Mutex::new(HashMap::new()),
        freed: Notify::new(),
        records,
        settings: settings.clone(),
        metrics: metrics.clone(),
    });
    // Fan-out runs beside delivery: events arriving steadily must not hold up attempts.
    let fan_out = tokio::spawn(fan_out_loop(app_url, pool.clone(), cancel.clone()));
    let mut notifications = Notifications::new(&pool, &[queue::NOTIFY_CHANNEL]);
    let mut last_prune = tokio::time::Instant::now() - PRUNE_EVERY;
    let mut claim_now = true;
    let mut lost_race = false;
    while !cancel.is_cancelled() {
        metrics.worker_ticked();
        if claim_now {
            let claimed = attempts.claim_due().await;
            if claimed == Claimed::Full && attempts.wants_claim() {
                continue;
            }
            lost_race = claimed == Claimed::Nothing;
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = tokio::time::Instant::now();
            prune(&pool, settings.log_retention).await;
        }
        // New deliveries and the poll claim at once (after a lost race, a moment later); a
        // finished attempt only once little is left waiting behind those under way.
        claim_now = tokio::select! {
            _ = cancel.cancelled() => break,
            signal = notifications.next() => {
                let foreign = matches!(&signal, Signal::Notified(from) if *from != *queue::THIS_INSTANCE);
                if lost_race && foreign {
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(LOST_RACE_PAUSE) => {}
                    }
                    notifications.take_buffered();
                }
                true
            }
            _ = attempts.freed.notified() => attempts.wants_claim(),
            _ = tokio::time::sleep(POLL_INTERVAL) => true,
        };
    }
    // What waits is given back for the next claim at once (nothing new starts now);
    // attempts under way may finish and record.
    let waiting = attempts.schedule().take_waiting();
    if let Err(err) = queue::release(&attempts.claims, &waiting).await {
        tracing::warn!(error = %err, "giving back claimed webhook deliveries failed");
    }
    let _ = fan_out.await;
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while attempts.schedule().running() > 0 {
            attempts.freed.notified().await;
        }
    })
    .await;
    let claims = attempts.claims.clone();
    drop(attempts);
    crate::db::close_within(&claims, Duration::from_secs(5)).await;
    let _ = recorder.await;
    // Closing waits for every connection to come back, the listener's too.
    drop(notifications);
    crate::db::close_within(&pool, Duration::from_secs(5)).await;
}

/// How long a claimed delivery may wait for room and still start: its lease must outlast the
/// wait and its attempt (the client's whole timeout), or another claim could take it during
/// the attempt. None with a lease no longer than an attempt (tests shorten it): then nothing
/// is claimed ahead.
fn max_hold(settings: &WebhookSettings, client: &OutboundClient) -> Duration {
    settings
        .lease
        .saturating_sub(client.profile().total_timeout)
}

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claimed {
    /// As many as it asked for: more may be due.
    Full,
    /// Fewer: nothing more is due for now.
    Some,
    /// Nothing, though there was room: none due, or other instances took it first.
    Nothing,
    /// Nothing asked: every slot is held.
    NoRoom,
    Failed,
}

/// What claiming and starting attempts needs: the deliveries this instance holds, and where
/// finished attempts go to be recorded.
struct Attempts {
    /// The claim's own connection (`db::claim_pool`).
    claims: PgPool,
    client: OutboundClient,
    policy: Arc<RetryPolicy>,
    schedule: Mutex<Schedule>,
    /// Each destination's URL as last claimed, parsed: parsing every attempt's URL was 6 % of
    /// the worker's CPU in the drain (`perf`), and attempts mostly start one at a time.
    urls: Mutex<HashMap<i64, (String, Arc<url::Url>)>>,
    /// An attempt finished: room for another.
    freed: Notify,
    records: mpsc::UnboundedSender<AutomaticAttempt>,
    settings: WebhookSettings,
    metrics: Arc<Metrics>,
}

impl Attempts {
    fn schedule(&self) -> std::sync::MutexGuard<'_, Schedule> {
        self.schedule.lock().expect("webhook schedule lock")
    }

    fn wants_claim(&self) -> bool {
        self.schedule().wants_claim()
    }

    /// The destination's URL parsed, once for as long as it stays the same.
    fn url(&self, delivery: &ClaimedDelivery) -> Arc<url::Url> {
        let mut urls = self.urls.lock().expect("webhook URL cache lock");
        if let Some((text, parsed)) = urls.get(&delivery.destination_id)
            && *text == delivery.url
        {
            return parsed.clone();
        }
        // Bounded: forgotten wholesale now and then, and parsed again as needed.
        if urls.len() >= URL_CACHE {
            urls.clear();
        }
        let parsed = Arc::new(attempt::parse_url(&delivery.url));
        urls.insert(
            delivery.destination_id,
            (delivery.url.clone(), parsed.clone()),
        );
        parsed
    }

    /// Claims what is due, as much as each destination's, workspace's and the instance's room
    /// allows, and starts what may start.
    async fn claim_due(self: &Arc<Self>) -> Claimed {
        let (destinations, workspaces, room) = self.schedule().room();
        let limit = room.min(CLAIM_BATCH);
        if limit == 0 {
            return Claimed::NoRoom;
        }
        let claimed = queue::claim_due(
            &self.claims,
            limit as i64,
            self.settings.lease,
            &destinations,
            &workspaces,
        )
        .await;
        let batch = match claimed {
            Ok(batch) => batch,
            Err(err) => {
                tracing::warn!(error = %err, "claiming webhook deliveries failed");
                return Claimed::Failed;
            }
        };
        // Every destination and workspace gave what its room allows: a short batch means
        // nothing more may be claimed for now.
        let claimed = match batch.len() {
            0 => Claimed::Nothing,
            n if n == limit => Claimed::Full,
            _ => Claimed::Some,
        };
        // One instant for both: a delivery that may start at once has waited no time at all,
        // even when nothing may wait (`max_hold` zero).
        let now = Instant::now();
        self.schedule().add(batch, now);
        self.start_next(now);
        claimed
    }

    /// Starts each held delivery that has room now, as a task of its own; gives back those
    /// held too long to start (`max_hold`).
    fn start_next(self: &Arc<Self>, now: Instant) {
        let next = self.schedule().next(now);
        if !next.give_back.is_empty() {
            let (claims, ids) = (self.claims.clone(), next.give_back);
            tokio::spawn(async move {
                if let Err(err) = queue::release(&claims, &ids).await {
                    tracing::warn!(error = %err, "giving back claimed webhook deliveries failed");
                }
            });
        }
        for mut delivery in next.start {
            let url = self.url(&delivery);
            let payload = Bytes::from(std::mem::take(&mut delivery.payload));
            let attempts = self.clone();
            let span = tracing::info_span!("webhook_attempt", delivery.ulid = %delivery.ulid,
                delivery.id = delivery.id, destination.id = delivery.destination_id,
                workspace_id = delivery.workspace_id);
            let attempt = async move {
                let (destination, workspace) = (delivery.destination_id, delivery.workspace_id);
                let started_at = Utc::now();
                let exchange = attempt::attempt(&attempts.client, &delivery, &url, payload).await;
                let record = AttemptRecord::new(delivery.id, started_at, &exchange);
                let asked = exchange.outcome.as_ref().ok().and_then(|received| {
                    retry::asked_wait(received.status, &received.headers, SystemTime::now())
                });
                let automatic = AutomaticAttempt::new(&delivery, record, &attempts.policy, asked);
                let outcome = automatic.outcome();
                tracing::debug!(
                    ?outcome,
                    duration_ms = exchange.duration.as_millis() as u64,
                    "webhook attempt"
                );
                attempts.metrics.webhook_attempt(outcome, exchange.duration);
                // The delivery stays leased until its record is written.
                let _ = attempts.records.send(automatic);
                attempts.schedule().finished(destination, workspace);
                attempts.start_next(Instant::now());
                attempts.freed.notify_one();
            };
            tokio::spawn(attempt.instrument(span));
        }
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
    match crate::secrets::rotation::erase_retired_secrets(pool).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(erased = n, "erased secrets past their grace period"),
        Err(err) => tracing::warn!(error = %err, "erasing replaced secrets failed"),
    }
}

/// Writes finished attempts in batches, two at a time: each batch is whatever arrived while
/// a writer was busy. A delivery stays leased until its record is written, and every claim
/// steps over the leased rows of each destination: with one writer, a drain left ~120 rows
/// per destination delivered but unrecorded (`auto_explain`), batches of 500 taking 37 ms.
/// Then counts each destination's failing streak (warning and disabling as `streaks` say),
/// and disables the destinations whose receivers answered 410 Gone, with notice.
async fn record_batches(
    pool: PgPool,
    app_url: AppUrl,
    streaks: disabling::Streaks,
    mut recorded: mpsc::UnboundedReceiver<AutomaticAttempt>,
) {
    let writers = Arc::new(Semaphore::new(RECORD_WRITERS));
    loop {
        let writer = writers
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let mut batch = Vec::with_capacity(RECORD_BATCH);
        if recorded.recv_many(&mut batch, RECORD_BATCH).await == 0 {
            break;
        }
        let (pool, app_url, streaks) = (pool.clone(), app_url.clone(), streaks.clone());
        tokio::spawn(async move {
            record_batch(&pool, &app_url, &streaks, &batch).await;
            drop(writer);
        });
    }
    // Every batch written before the worker's pool closes.
    let _ = writers.acquire_many(RECORD_WRITERS as u32).await;
}

async fn record_batch(
    pool: &PgPool,
    app_url: &AppUrl,
    streaks: &disabling::Streaks,
    batch: &[AutomaticAttempt],
) {
    if let Err(err) = queue::record_automatic_batch(pool, batch).await {
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
    if let Err(err) = disabling::apply_streaks(pool, app_url, streaks, &changes).await {
        tracing::error!(error = %err, "counting failing webhook destinations failed");
    }
    for gone in batch.iter().filter(|a| a.says_gone()) {
        let error = gone.record.error.as_deref().unwrap_or("HTTP 410");
        let id = gone.destination_id;
        if let Err(err) =
            disabling::disable_with_notice(pool, app_url, id, disabling::GONE_REASON, error).await
        {
            tracing::error!(error = %err, destination.id = id, "disabling a gone destination failed");
        }
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
