//! The webhook worker: fans out new events and delivers due deliveries, woken by NOTIFY and
//! a short poll. Deliveries run concurrently up to a limit, so a receiver that always times
//! out occupies a few slots while healthy receivers keep flowing through the rest.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::postgres::PgListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{deliveries, fanout, queue};
use crate::state::AppState;

const POLL_INTERVAL: Duration = Duration::from_millis(500);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const FAN_OUT_BATCH: i64 = 500;

pub async fn run(state: AppState, cancel: CancellationToken) {
    let settings = state.config().webhooks.clone();
    let slots = Arc::new(Semaphore::new(settings.concurrency));
    let mut listener = listen(&state).await;
    let mut last_prune = tokio::time::Instant::now() - PRUNE_EVERY;
    loop {
        if cancel.is_cancelled() {
            break;
        }
        if let Err(err) = fan_out_all(&state).await {
            tracing::warn!(error = %err, "webhook fan-out failed; will retry");
        }
        let mut claimed_any = false;
        loop {
            let free = slots.available_permits();
            if free == 0 {
                break;
            }
            let batch =
                match queue::claim_due(state.pool(), free.min(200) as i64, settings.lease).await {
                    Ok(batch) => batch,
                    Err(err) => {
                        tracing::warn!(error = %err, "claiming webhook deliveries failed");
                        break;
                    }
                };
            if batch.is_empty() {
                break;
            }
            claimed_any = true;
            for delivery in batch {
                let permit = slots
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                let state = state.clone();
                tokio::spawn(async move {
                    deliver(&state, delivery).await;
                    drop(permit);
                });
            }
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = tokio::time::Instant::now();
            match deliveries::prune_log(state.pool(), settings.log_retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "pruned old webhook deliveries"),
                Err(err) => tracing::warn!(error = %err, "pruning webhook deliveries failed"),
            }
        }
        if claimed_any && slots.available_permits() > 0 {
            continue;
        }
        let wake = async {
            match listener.as_mut() {
                Some(l) => {
                    if l.recv().await.is_err() {
                        tokio::time::sleep(POLL_INTERVAL).await;
                    }
                }
                None => tokio::time::sleep(POLL_INTERVAL).await,
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = wake => {},
            _ = tokio::time::sleep(POLL_INTERVAL) => {},
        }
    }
    // Let attempts under way finish and record; unclaimed work stays queued for next time.
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        slots.acquire_many(settings.concurrency as u32),
    )
    .await;
}

async fn listen(state: &AppState) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(state.pool()).await.ok()?;
    listener
        .listen_all([
            crate::helpdesk::events::NOTIFY_CHANNEL,
            fanout::NOTIFY_CHANNEL,
        ])
        .await
        .ok()?;
    Some(listener)
}

async fn fan_out_all(state: &AppState) -> Result<(), sqlx::Error> {
    while fanout::fan_out_pending(state.pool(), state.config(), FAN_OUT_BATCH).await? > 0 {}
    Ok(())
}

async fn deliver(state: &AppState, delivery: queue::ClaimedDelivery) {
    let started_at = Utc::now();
    let exchange = queue::attempt(&state.outbound().webhooks, &delivery).await;
    let policy = &state.config().webhooks.retry;
    if let Err(err) = queue::record_attempt(
        state.pool(),
        delivery.id,
        started_at,
        &exchange,
        queue::Trigger::Automatic,
        policy,
    )
    .await
    {
        // The lease will expire and the delivery be attempted again: at least once.
        tracing::error!(delivery.id = delivery.id, error = %err, "recording a webhook attempt failed");
    }
}
