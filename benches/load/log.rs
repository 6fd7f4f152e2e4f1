//! The delivery log as a tool: one destination with `BENCH_LOG_DELIVERIES` deliveries
//! (default 100,000) and their attempts, beside another destination with as many, and the
//! time of its Deliveries page and API: the first page, a deep page, each filter (a common
//! type, a rare status, a status none has, a rare type, both at once) and a ulid lookup.

use std::path::Path;
use std::time::Instant;

use serde_json::json;
use sqlx::PgPool;
use therethere::db::EmbeddedPostgres;

use super::harness::{Service, fresh_database, percentile, post_json, seed_workspace};

const RUNS: usize = 40;

pub async fn log(pg: &EmbeddedPostgres, binary: &Path) {
    let deliveries: i64 = std::env::var("BENCH_LOG_DELIVERIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let (url, pool) = fresh_database(pg).await;
    // No worker: the log is read, not drained.
    let web = Service::start(binary, &url, &[("ROLE", "web")]).await;
    let (workspace, token) = seed_workspace(&pool).await;
    let client = reqwest::Client::new();
    let mut destinations = Vec::new();
    for name in ["logged", "neighbour"] {
        let created = post_json(
            &client,
            format!("{}/api/webhook-destinations", web.base),
            &token,
            &json!({"scope": "workspace", "url": "http://127.0.0.1:9/hook", "events": ["ticketOpened", "newReply"], "name": name}),
        )
        .await;
        destinations.push(created["id"].as_i64().unwrap());
    }
    let filled = Instant::now();
    for (index, destination) in destinations.iter().enumerate() {
        fill(&pool, workspace, *destination, index as i64, deliveries).await;
    }
    sqlx::query("VACUUM ANALYZE webhook_deliveries")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("VACUUM ANALYZE webhook_attempts")
        .execute(&pool)
        .await
        .unwrap();
    println!(
        "log: {deliveries} deliveries (96% delivered ticketOpened, 2% newReply, 1.5% failed after 3 attempts, 0.5% test) for the destination and as many for another, filled in {:.0} s",
        filled.elapsed().as_secs_f64()
    );

    let session = page_session(&pool).await;
    let destination = destinations[0];
    let deep = destination_id_at(&pool, destination, deliveries / 2).await;
    let a_ulid = format!("00{:024}", deliveries / 3);
    let cases = [
        ("first page", String::new()),
        ("page at the middle", format!("before={deep}")),
        ("type=newReply (2%)", "type=newReply".to_string()),
        ("status=failed (1.5%)", "status=failed".to_string()),
        ("type=test (0.5%)", "type=test".to_string()),
        ("status=pending (none)", "status=pending".to_string()),
        (
            "status=failed&type=test (none)",
            "status=failed&type=test".to_string(),
        ),
        ("ulid=…", format!("ulid={a_ulid}")),
    ];
    for (label, query) in cases {
        let api = format!(
            "{}/api/webhook-destinations/{destination}/deliveries?{query}",
            web.base
        );
        let page = format!(
            "{}/settings/webhooks/{destination}/deliveries?{query}",
            web.base
        );
        let (api_p50, api_p99, count) = timed(&client, &api, Auth::Token(&token)).await;
        let (page_p50, page_p99, _) = timed(&client, &page, Auth::Cookie(&session)).await;
        println!(
            "log: {label}: {count} deliveries listed; API p50 {api_p50:.1} ms, p99 {api_p99:.1} ms; page p50 {page_p50:.1} ms, p99 {page_p99:.1} ms"
        );
    }
    web.stop();
    pool.close().await;
}

/// Deliveries and attempts straight into the tables, with valid lower-case ULIDs
/// (`01` and the row number, so a lookup can name one).
async fn fill(pool: &PgPool, workspace: i64, destination: i64, index: i64, count: i64) {
    let payload = json!({"type": "ticketOpened", "sent_at": "2026-10-21T10:00:00+00:00", "ulid": "01jab8z9r2pm3kc4td5ef6gh7j", "ticket": {"id": 123, "ulid": "01jab2cd3ef4gh5jk6mn7pq8r9", "number": 42, "subject": "I can't log in", "status": "open", "url": "https://there-there.app/tickets/123", "channel": {"id": 7, "name": "Support"}, "contact": {"name": "Jane Doe", "email": "jane@example.com"}}}).to_string();
    // n mod 200: 0..2 failed (1.5%), 3 test (0.5%), 4..7 newReply (2%), the rest delivered.
    sqlx::query(&format!(
        "INSERT INTO webhook_deliveries (ulid, workspace_id, destination_id, event_type, payload, status, attempts, created_at)
         SELECT '0{index}' || lpad(n::text, 24, '0'), {workspace}, {destination},
                CASE WHEN n % 200 = 3 THEN 'test' WHEN n % 200 BETWEEN 4 AND 7 THEN 'newReply' ELSE 'ticketOpened' END,
                $1,
                CASE WHEN n % 200 <= 2 THEN 'failed' ELSE 'succeeded' END,
                CASE WHEN n % 200 <= 2 THEN 3 ELSE 1 END,
                now() - interval '20 days' + n * interval '10 milliseconds'
         FROM generate_series(1, {count}) AS n"
    ))
    .bind(payload)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "INSERT INTO webhook_attempts (delivery_id, trigger, started_at, duration_ms, url, request_headers,
                                       response_status, response_headers, response_body, error, succeeded)
         SELECT d.id, 'automatic', d.created_at + k * interval '10 seconds', 12, 'http://127.0.0.1:9/hook',
                '{{\"content-type\": \"application/json\"}}',
                CASE WHEN d.status = 'failed' THEN 500 ELSE 200 END, '{{}}', '{{}}',
                CASE WHEN d.status = 'failed' THEN 'HTTP 500' END, d.status = 'succeeded'
         FROM webhook_deliveries d, generate_series(1, 3) AS k
         WHERE d.destination_id = {destination} AND k <= d.attempts"
    ))
    .execute(pool)
    .await
    .unwrap();
}

/// The id of the destination's `offset`-th newest delivery.
async fn destination_id_at(pool: &PgPool, destination: i64, offset: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT id FROM webhook_deliveries WHERE destination_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1",
    )
    .bind(destination)
    .bind(offset)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A browser session for the workspace's owner, made through the library.
async fn page_session(pool: &PgPool) -> String {
    let owner: i64 = sqlx::query_scalar("SELECT id FROM users WHERE role = 'owner' LIMIT 1")
        .fetch_one(pool)
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let session = therethere::auth::sessions::create_session(
        &mut conn,
        owner,
        &therethere::auth::sessions::SessionOrigin::default(),
        therethere::auth::sessions::SessionSettings::default(),
        10,
    )
    .await
    .unwrap();
    session.token
}

enum Auth<'a> {
    Token(&'a str),
    Cookie(&'a str),
}

/// p50 and p99 of `RUNS` sequential GETs (after one to warm up), in ms, and how many
/// deliveries the answer holds (API) .
async fn timed(client: &reqwest::Client, url: &str, auth: Auth<'_>) -> (f64, f64, usize) {
    let get = || {
        let request = client.get(url);
        match auth {
            Auth::Token(token) => request.bearer_auth(token),
            Auth::Cookie(session) => request.header(
                "cookie",
                format!("{}={session}", therethere::auth::sessions::COOKIE_NAME),
            ),
        }
    };
    let warm = get().send().await.unwrap();
    assert!(warm.status().is_success(), "{url}: {}", warm.status());
    let body = warm.text().await.unwrap();
    let count = serde_json::from_str::<Vec<serde_json::Value>>(&body)
        .map(|list| list.len())
        .unwrap_or_else(|_| body.matches("class=\"delivery\"").count());
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let response = get().send().await.unwrap();
        assert!(response.status().is_success());
        response.bytes().await.unwrap();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    (percentile(&times, 0.5), percentile(&times, 0.99), count)
}
