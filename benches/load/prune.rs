//! Pruning the delivery log: `BENCH_PRUNE_ATTEMPTS` attempt rows (default 10 million), four
//! per delivery, all past the retention period, pruned by the service's own `prune_log`
//! (a batched DELETE; attempts go by cascade). Then what partitioning by time would cost
//! instead: a copy of those attempts as a table of its own (what one partition would hold),
//! dropped.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::PgPool;
use therethere::db::EmbeddedPostgres;

use super::harness::{Service, fresh_database, post_json, seed_workspace};

const ATTEMPTS_PER_DELIVERY: i64 = 4;

pub async fn prune(pg: &EmbeddedPostgres, binary: &Path) {
    let attempts: i64 = std::env::var("BENCH_PRUNE_ATTEMPTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000_000);
    let (url, pool) = fresh_database(pg).await;
    // The service migrates the database and makes the destination, then leaves.
    let web = Service::start(binary, &url, &[("ROLE", "web")]).await;
    let (workspace, token) = seed_workspace(&pool).await;
    let destination = post_json(
        &reqwest::Client::new(),
        format!("{}/api/webhook-destinations", web.base),
        &token,
        &json!({"scope": "workspace", "url": "http://127.0.0.1:9/hook", "events": ["ticketOpened"], "name": "d"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    web.stop();

    let filled = Instant::now();
    let deliveries = attempts / ATTEMPTS_PER_DELIVERY;
    execute(
        &pool,
        &format!(
            "INSERT INTO webhook_deliveries (ulid, workspace_id, destination_id, event_type, payload, status, attempts, created_at)
             SELECT 'old' || n, {workspace}, {destination}, 'ticketOpened', $1, 'succeeded', {ATTEMPTS_PER_DELIVERY},
                    now() - interval '40 days' + n * interval '1 millisecond'
             FROM generate_series(1, {deliveries}) AS n"
        ),
        Some(&json!({"type": "ticketOpened", "sent_at": "2026-10-21T10:00:00+00:00", "ulid": "01jab8z9r2pm3kc4td5ef6gh7j", "ticket": {"id": 123, "ulid": "01jab2cd3ef4gh5jk6mn7pq8r9", "number": 42, "subject": "I can't log in", "status": "open", "url": "https://there-there.app/tickets/123", "channel": {"id": 7, "name": "Support"}, "contact": {"name": "Jane Doe", "email": "jane@example.com"}}}).to_string()),
    )
    .await;
    execute(
        &pool,
        &format!(
            "INSERT INTO webhook_attempts (delivery_id, trigger, started_at, duration_ms, url, request_headers,
                                           response_status, response_headers, response_body, succeeded)
             SELECT d.id, 'automatic', d.created_at, 12, 'http://127.0.0.1:9/hook', $1::jsonb,
                    200, '{{\"content-type\": \"application/json\", \"content-length\": \"2\"}}', '{{}}', true
             FROM webhook_deliveries d, generate_series(1, {ATTEMPTS_PER_DELIVERY})"
        ),
        Some(&json!({"content-type": "application/json", "user-agent": "therethere-webhooks/1.0", "therethere-signature": "5f".repeat(32), "webhook-id": "01jab8z9r2pm3kc4td5ef6gh7j", "webhook-timestamp": "1792576800", "webhook-signature": format!("v1,{}", "A".repeat(44))}).to_string()),
    )
    .await;
    execute(&pool, "VACUUM ANALYZE webhook_deliveries", None).await;
    execute(&pool, "VACUUM ANALYZE webhook_attempts", None).await;
    let (delivery_bytes, attempt_bytes): (i64, i64) = sqlx::query_as(
        "SELECT pg_total_relation_size('webhook_deliveries'), pg_total_relation_size('webhook_attempts')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let copied = Instant::now();
    execute(
        &pool,
        "CREATE TABLE partition_sized AS SELECT * FROM webhook_attempts",
        None,
    )
    .await;
    execute(
        &pool,
        "CREATE INDEX ON partition_sized (delivery_id, id)",
        None,
    )
    .await;
    println!(
        "prune: {deliveries} deliveries and {attempts} attempts past retention ({:.0} MB and {:.0} MB with indexes) filled in {:.0} s, copied in {:.0} s",
        delivery_bytes as f64 / 1e6,
        attempt_bytes as f64 / 1e6,
        (copied - filled).as_secs_f64(),
        copied.elapsed().as_secs_f64(),
    );

    let started = Instant::now();
    let pruned =
        therethere::webhooks::deliveries::prune_log(&pool, Duration::from_secs(30 * 86_400))
            .await
            .unwrap();
    let prune_secs = started.elapsed().as_secs_f64();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_attempts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(pruned as i64, deliveries, "every old delivery is pruned");
    assert_eq!(left, 0, "their attempts with them");
    let started = Instant::now();
    execute(&pool, "DROP TABLE partition_sized", None).await;
    let drop_secs = started.elapsed().as_secs_f64();
    println!(
        "prune: batched DELETE of {pruned} deliveries and {attempts} attempts in {prune_secs:.1} s ({:.0} attempts/s); dropping a table of as many attempts (one time partition's worth) in {:.3} s",
        attempts as f64 / prune_secs,
        drop_secs,
    );
    pool.close().await;
}

async fn execute(pool: &PgPool, sql: &str, text: Option<&str>) {
    let mut query = sqlx::query(sql);
    if let Some(text) = text {
        query = query.bind(text);
    }
    query.execute(pool).await.unwrap();
}
