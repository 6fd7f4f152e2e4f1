//! The drain: 20,000 deliveries already due (2,000 events × 10 workspace destinations, queued
//! as fan-out queues them), then a worker starts on the database and delivers them all to a
//! receiver that verifies every signature; every delivery is counted by ulid and its attempt
//! found in the log. The pages and API run in an instance of their own (`ROLE=web`), so the
//! queue is built before any worker runs; then 1, 2 or 4 worker instances drain it.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Instant;

use therethere::db::EmbeddedPostgres;

use super::harness::{Service, fresh_database, seed_workspace};
use super::webhooks::{
    DESTINATIONS, EVENTS, Receivers, add_destinations, attempts_logged, mb, wait_for,
};

pub async fn drain(pg: &EmbeddedPostgres, binary: &Path, workers: usize) {
    let (url, pool) = fresh_database(pg).await;
    let web = Service::start(binary, &url, &[("ROLE", "web")]).await;
    let (workspace, token) = seed_workspace(&pool).await;
    let receivers = Receivers::default();
    add_destinations(&web, &token, &receivers, false).await;
    let destinations: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM webhook_destinations ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let expected = EVENTS * DESTINATIONS;
    queue_due(&pool, workspace, &destinations).await;
    sqlx::query("VACUUM ANALYZE webhook_deliveries")
        .execute(&pool)
        .await
        .unwrap();

    let (wal_before,): (String,) = sqlx::query_as("SELECT pg_current_wal_lsn()::text")
        .fetch_one(&pool)
        .await
        .unwrap();
    let started = Instant::now();
    let mut instances = Vec::new();
    for _ in 0..workers {
        instances.push(Service::start(binary, &url, &[("ROLE", "worker")]).await);
    }
    let peak_rss = wait_for(&instances[0], &receivers.tally, expected, started).await;
    let elapsed = started.elapsed().as_secs_f64();
    let logged = attempts_logged(&pool, -1, expected).await;
    // Write-ahead log per delivery: what a bigger machine's disk must absorb (the cluster's
    // whole log, so a little of other databases' background work too).
    let (wal_bytes,): (f64,) =
        sqlx::query_as("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::float8")
            .bind(&wal_before)
            .fetch_one(&pool)
            .await
            .unwrap();
    let (first_to_last,): (f64,) = sqlx::query_as(
        "SELECT EXTRACT(EPOCH FROM max(started_at + duration_ms * interval '1 millisecond') - min(started_at))::float8
         FROM webhook_attempts",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let tally = &receivers.tally;
    let duplicates = tally.total.load(Ordering::Relaxed) - tally.by_ulid.lock().unwrap().len();
    let bad_signatures = tally.bad_signatures.load(Ordering::Relaxed);
    println!(
        "drain, {workers} worker instance(s): {expected} due deliveries in {elapsed:.2} s from the worker's start = {:.0}/s; first attempt to last {first_to_last:.2} s = {:.0}/s; attempts logged {logged}/{expected}; bad signatures {bad_signatures}; duplicates {duplicates}; WAL {:.0} bytes per delivery; first worker's peak RSS {:.1} MB",
        expected as f64 / elapsed,
        expected as f64 / first_to_last,
        wal_bytes / expected as f64,
        mb(peak_rss),
    );
    assert_eq!(logged as usize, expected, "every attempt is logged");
    assert_eq!(bad_signatures, 0, "every signature verifies");
    for worker in instances {
        worker.stop();
    }
    web.stop();
    pool.close().await;
}

/// Queues `EVENTS` deliveries due now to each of `destinations`, as fan-out queues them (the
/// size and shape of a real ticketOpened payload).
pub(super) async fn queue_due(pool: &sqlx::PgPool, workspace: i64, destinations: &[i64]) {
    let (mut ulids, mut to, mut payloads) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..EVENTS {
        for destination in destinations {
            let ulid = ulid::Ulid::new().to_string();
            payloads.push(format!(
                r#"{{"event":"ticketOpened","ulid":"{ulid}","timestamp":"2026-11-30T00:00:00.000Z","data":{{"ticket":{{"id":{i},"ulid":"01JDRAIN{i:018}","number":{i},"subject":"Ticket {i}","status":"open","url":"http://127.0.0.1:8080/tickets/{i}","channel":null,"contact":{{"name":"Jane","email":"c{i}@example.com"}}}}}}}}"#
            ));
            ulids.push(ulid);
            to.push(*destination);
        }
    }
    sqlx::query(
        "WITH queued AS (
             INSERT INTO webhook_deliveries (ulid, workspace_id, destination_id, event_type, payload)
             SELECT u, $1, d, 'ticketOpened', p FROM UNNEST($2::text[], $3::bigint[], $4::text[]) AS x(u, d, p)
             RETURNING id, destination_id)
         INSERT INTO webhook_queue (delivery_id, destination_id, test)
         SELECT id, destination_id, false FROM queued",
    )
    .bind(workspace)
    .bind(&ulids)
    .bind(&to)
    .bind(&payloads)
    .execute(pool)
    .await
    .unwrap();
}
