//! Scenarios 1 and 2 (and 5, idle RSS): 2,000 tickets × 10 workspace destinations, drained
//! as fast as they come or offered at a steady pace, with or without one hanging receiver, by
//! one instance or several on one database (tickets created through each in turn).
//! Every delivery's signature is checked and every ULID counted.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use futures::StreamExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use therethere::db::EmbeddedPostgres;
use therethere::outbound::signature::{WEBHOOK_SIGNATURE_HEADER, verify_hex};

use super::harness::{
    METRICS_TOKEN, Service, fresh_database, percentile, post_json, seed_workspace,
};

pub(super) const EVENTS: usize = 2_000;
pub(super) const DESTINATIONS: usize = 10;

/// A receiver that checks every signature and counts deliveries by ulid.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) by_ulid: Mutex<HashMap<String, usize>>,
    pub(super) bad_signatures: AtomicUsize,
    pub(super) total: AtomicUsize,
}

/// The destinations' secrets (any may sign a delivery) and the healthy receivers' tally.
#[derive(Default)]
pub(super) struct Receivers {
    secrets: Arc<Mutex<Vec<String>>>,
    pub(super) tally: Arc<Tally>,
}

pub async fn webhook_fanout(
    pg: &EmbeddedPostgres,
    binary: &Path,
    one_slow: bool,
    paced: Option<u64>,
    instances: usize,
) {
    let mut label = label(one_slow, paced);
    if instances > 1 {
        label = format!("{label}, {instances} instances");
    }
    let (url, pool) = fresh_database(pg).await;
    let service = Service::start(binary, &url, &[]).await;
    let mut others = Vec::new();
    for _ in 1..instances {
        others.push(Service::start(binary, &url, &[]).await);
    }
    let bases: Vec<String> = std::iter::once(&service)
        .chain(&others)
        .map(|s| s.base.clone())
        .collect();
    let (_, token) = seed_workspace(&pool).await;
    if !one_slow {
        println!(
            "idle RSS after start-up: {:.1} MB",
            mb(service.rss_kb("VmRSS:"))
        );
    }
    let receivers = Receivers::default();
    let slow = add_destinations(&service, &token, &receivers, one_slow).await;
    let healthy_expected = EVENTS * (DESTINATIONS - usize::from(one_slow));

    let started = Instant::now();
    create_tickets(&bases, &token, started, paced).await;
    let created_in = started.elapsed();
    let peak_rss = wait_for(&service, &receivers.tally, healthy_expected, started).await;
    let elapsed = started.elapsed();
    let logged = attempts_logged(&pool, slow, healthy_expected).await;
    let latencies = first_attempt_latencies(&pool, slow).await;
    let tally = &receivers.tally;
    let duplicates = tally.total.load(Ordering::Relaxed) - tally.by_ulid.lock().unwrap().len();
    let bad_signatures = tally.bad_signatures.load(Ordering::Relaxed);
    println!(
        "{label}: {healthy_expected} healthy deliveries in {:.2} s = {:.0} deliveries/s (tickets created in {:.2} s)",
        elapsed.as_secs_f64(),
        healthy_expected as f64 / elapsed.as_secs_f64(),
        created_in.as_secs_f64()
    );
    println!(
        "{label}: event → first attempt p50 {:.0} ms, p99 {:.0} ms; attempts logged {logged}/{healthy_expected}; bad signatures {bad_signatures}; duplicates {duplicates}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    );
    println!(
        "{label}: peak RSS {:.1} MB (sampled), high-water {:.1} MB",
        mb(peak_rss),
        mb(service.rss_kb("VmHWM:"))
    );
    assert_eq!(
        logged as usize, healthy_expected,
        "every healthy delivery has its attempt logged"
    );
    assert_eq!(bad_signatures, 0, "every signature verifies");
    if !one_slow && paced.is_none() && instances == 1 {
        save_metrics_sample(&service).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        println!(
            "idle RSS after scenario 1: {:.1} MB",
            mb(service.rss_kb("VmRSS:"))
        );
    }
    service.stop();
    for other in others {
        other.stop();
    }
    pool.close().await;
}

/// `/metrics` as the scenario left it: saved whole to `target/bench-metrics.txt`, its webhook
/// and pool lines printed (a build without metrics answers 404 and is skipped).
async fn save_metrics_sample(service: &Service) {
    let response = reqwest::Client::new()
        .get(format!("{}/metrics", service.base))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    if response.status() != 200 {
        println!("(this build serves no /metrics)");
        return;
    }
    let text = response.text().await.unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench-metrics.txt");
    std::fs::write(path, &text).unwrap();
    println!("/metrics after the scenario (whole in {path}):");
    let shown = [
        "webhook_deliveries_total",
        "webhook_queue",
        "webhook_attempt_duration_seconds_count",
        "webhook_attempt_duration_seconds_sum",
        "fanout_lag",
        "oldest_due",
        "db_pool_connections",
        "worker_last_tick",
        "route=\"/api/tickets\"",
    ];
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if shown.iter().any(|s| line.contains(s)) {
            println!("  {line}");
        }
    }
}

fn label(one_slow: bool, paced: Option<u64>) -> String {
    match (one_slow, paced) {
        (false, None) => "webhooks, fan-out".to_string(),
        (true, None) => "webhooks, 1 of 10 receivers hanging".to_string(),
        (false, Some(rate)) => format!("webhooks, paced at {rate} tickets/s"),
        (true, Some(rate)) => format!("webhooks, paced at {rate} tickets/s, 1 of 10 hanging"),
    }
}

pub(super) fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Ten workspace destinations for ticketOpened, the first at a hanging receiver when
/// `one_slow`; returns that one's id (or -1).
pub(super) async fn add_destinations(
    service: &Service,
    token: &str,
    receivers: &Receivers,
    one_slow: bool,
) -> i64 {
    let client = reqwest::Client::new();
    let healthy = start_receiver(receivers.secrets.clone(), receivers.tally.clone(), false).await;
    let hanging = start_receiver(receivers.secrets.clone(), Arc::default(), true).await;
    let mut slow = -1;
    for i in 0..DESTINATIONS {
        let hangs = one_slow && i == 0;
        let target = if hangs { &hanging } else { &healthy };
        let body = json!({"scope": "workspace", "url": target, "events": ["ticketOpened"], "name": format!("d{i}")});
        let url = format!("{}/api/webhook-destinations", service.base);
        let created = post_json(&client, url, token, &body).await;
        let secret = created["secret"].as_str().unwrap().to_string();
        receivers.secrets.lock().unwrap().push(secret);
        if hangs {
            slow = created["id"].as_i64().unwrap();
        }
    }
    slow
}

/// Opens `EVENTS` tickets, 32 at a time, or each at its slot of a steady schedule; the i-th
/// through the i-th of `bases` in turn.
async fn create_tickets(bases: &[String], token: &str, started: Instant, paced: Option<u64>) {
    let client = reqwest::Client::new();
    let creators = futures::stream::iter(0..EVENTS).map(|i| {
        let base = bases[i % bases.len()].clone();
        let (client, token) = (client.clone(), token.to_string());
        async move {
            if let Some(rate) = paced {
                let at = started + Duration::from_secs_f64(i as f64 / rate as f64);
                tokio::time::sleep_until(at.into()).await;
            }
            let response = client
                .post(format!("{base}/api/tickets"))
                .bearer_auth(&token)
                .json(&json!({"subject": format!("Ticket {i}"), "body": "Help", "contact": {"name": "Jane", "email": format!("c{i}@example.com")}}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
        }
    });
    creators.buffer_unordered(32).collect::<Vec<()>>().await;
}

/// Waits until `expected` distinct deliveries arrived; returns the peak RSS seen meanwhile.
pub(super) async fn wait_for(
    service: &Service,
    tally: &Tally,
    expected: usize,
    started: Instant,
) -> u64 {
    let mut peak_rss = 0;
    loop {
        peak_rss = peak_rss.max(service.rss_kb("VmRSS:"));
        let unique = tally.by_ulid.lock().unwrap().len();
        if unique >= expected {
            return peak_rss;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "only {unique} of {expected} arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Successful attempts logged for healthy destinations (the log is written just after the
/// receiver answers, so this waits a little for the last ones).
pub(super) async fn attempts_logged(pool: &PgPool, slow: i64, expected: usize) -> i64 {
    let logged_by = Instant::now() + Duration::from_secs(10);
    loop {
        let logged: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
             WHERE a.succeeded AND d.destination_id <> $1",
        )
        .bind(slow)
        .fetch_one(pool)
        .await
        .unwrap();
        if logged as usize >= expected || Instant::now() > logged_by {
            return logged;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Event → first attempt, in ms, from the database's own clock, sorted.
async fn first_attempt_latencies(pool: &PgPool, slow: i64) -> Vec<f64> {
    let mut latencies: Vec<f64> = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM (min(a.started_at) - e.created_at))::float8 * 1000
         FROM webhook_deliveries d JOIN events e ON e.id = d.event_id JOIN webhook_attempts a ON a.delivery_id = d.id
         WHERE d.destination_id <> $1 GROUP BY d.id, e.created_at",
    )
    .bind(slow)
    .fetch_all(pool)
    .await
    .unwrap();
    latencies.sort_by(f64::total_cmp);
    latencies
}

async fn start_receiver(secrets: Arc<Mutex<Vec<String>>>, tally: Arc<Tally>, hang: bool) -> String {
    let app = Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let (secrets, tally) = (secrets.clone(), tally.clone());
        async move {
            if hang {
                tokio::time::sleep(Duration::from_secs(30)).await;
                return StatusCode::OK;
            }
            let signature = headers
                .get(WEBHOOK_SIGNATURE_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let valid = secrets
                .lock()
                .unwrap()
                .iter()
                .any(|s| verify_hex(s.as_bytes(), &body, signature));
            if !valid {
                tally.bad_signatures.fetch_add(1, Ordering::Relaxed);
            }
            let ulid = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["ulid"].as_str().map(str::to_string))
                .unwrap_or_default();
            *tally.by_ulid.lock().unwrap().entry(ulid).or_default() += 1;
            tally.total.fetch_add(1, Ordering::Relaxed);
            StatusCode::OK
        }
    });
    serve_on_loopback(app).await
}

/// Serves `app` on a loopback port of its own; returns its `/hook` URL.
pub(super) async fn serve_on_loopback(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://127.0.0.1:{}/hook",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    url
}
