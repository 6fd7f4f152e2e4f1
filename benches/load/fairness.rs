//! Two workspaces on one instance: workspace A has 20,000 deliveries due (2,000 events × 10
//! destinations, queued as the drain queues them) to healthy receivers, or to receivers that
//! hang; meanwhile workspace B opens a ticket every 50 ms through the API and its one
//! destination's receiver notes when each notification arrives. Figures: B's ticket request
//! → notification received, p50 and p99 (the target: p99 < 500 ms); A's drain rate. Every
//! delivery is counted by ulid and its signature verified; B's attempts are all in the log.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use therethere::db::EmbeddedPostgres;
use therethere::outbound::signature::{WEBHOOK_SIGNATURE_HEADER, verify_hex};

use super::drain::queue_due;
use super::harness::{Service, fresh_database, percentile, post_json, seed_workspace};
use super::webhooks::{
    DESTINATIONS, EVENTS, Receivers, add_destinations, mb, serve_on_loopback, wait_for,
};

const B_TICKETS: usize = 100;
const B_EVERY: Duration = Duration::from_millis(50);

/// When each of B's notifications arrived, by ticket subject; and what failed its checks.
#[derive(Default)]
struct Arrivals {
    at: Mutex<HashMap<String, Instant>>,
    ulids: Mutex<HashMap<String, usize>>,
    bad_signatures: std::sync::atomic::AtomicUsize,
}

pub async fn fairness(pg: &EmbeddedPostgres, binary: &Path, a_hangs: bool) {
    let label = if a_hangs {
        "fairness, A's receivers hang"
    } else {
        "fairness, A's receivers healthy"
    };
    let (url, pool) = fresh_database(pg).await;
    let service = Service::start(binary, &url, &[]).await;
    let client = reqwest::Client::new();

    let (a, a_token) = seed_workspace(&pool).await;
    let receivers = Receivers::default();
    if a_hangs {
        let hanging = serve(Arc::default(), Arc::default(), true).await;
        for i in 0..DESTINATIONS {
            let body = json!({"scope": "workspace", "url": hanging, "events": ["ticketOpened"], "name": format!("d{i}")});
            post_json(
                &client,
                format!("{}/api/webhook-destinations", service.base),
                &a_token,
                &body,
            )
            .await;
        }
    } else {
        add_destinations(&service, &a_token, &receivers, false).await;
    }
    let a_destinations: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM webhook_destinations WHERE workspace_id = $1")
            .bind(a)
            .fetch_all(&pool)
            .await
            .unwrap();

    let (_, b_token) = seed_workspace(&pool).await;
    let arrivals = Arc::new(Arrivals::default());
    // The receiver learns B's secret once the destination exists: until then nothing is sent.
    let secret = Arc::new(Mutex::new(String::new()));
    let b_url = serve(secret.clone(), arrivals.clone(), false).await;
    let created = post_json(
        &client,
        format!("{}/api/webhook-destinations", service.base),
        &b_token,
        &json!({"scope": "workspace", "url": b_url, "events": ["ticketOpened"], "name": "b"}),
    )
    .await;
    *secret.lock().unwrap() = created["secret"].as_str().unwrap().to_string();

    let a_expected = EVENTS * DESTINATIONS;
    let started = Instant::now();
    queue_due(&pool, a, &a_destinations).await;
    // B's tickets, one every 50 ms, while A's backlog is being delivered.
    let mut sent_at = HashMap::new();
    for i in 0..B_TICKETS {
        tokio::time::sleep_until((started + B_EVERY * i as u32).into()).await;
        let subject = format!("B{i}");
        sent_at.insert(subject.clone(), Instant::now());
        let response = client
            .post(format!("{}/api/tickets", service.base))
            .bearer_auth(&b_token)
            .json(&json!({"subject": subject, "body": "Help", "contact": {"name": "Jane", "email": format!("b{i}@example.com")}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let b_done = Instant::now() + Duration::from_secs(60);
    while arrivals.at.lock().unwrap().len() < B_TICKETS {
        assert!(
            Instant::now() < b_done,
            "B's notifications did not all arrive"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let a_delivered_meanwhile = receivers.tally.by_ulid.lock().unwrap().len();
    let mut latencies: Vec<f64> = {
        let at = arrivals.at.lock().unwrap();
        sent_at
            .iter()
            .map(|(subject, sent)| (at[subject] - *sent).as_secs_f64() * 1000.0)
            .collect()
    };
    latencies.sort_by(f64::total_cmp);
    println!(
        "{label}: B's ticket → notification received p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({B_TICKETS} tickets, one per {} ms, while A had {a_expected} due); A delivered {a_delivered_meanwhile} meanwhile",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN),
        B_EVERY.as_millis(),
    );
    // Attempts are logged just after the receiver answers: wait a little for the last ones.
    let logged_by = Instant::now() + Duration::from_secs(10);
    let b_logged = loop {
        let logged: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
             WHERE a.succeeded AND d.workspace_id <> $1",
        )
        .bind(a)
        .fetch_one(&pool)
        .await
        .unwrap();
        if logged as usize >= B_TICKETS || Instant::now() > logged_by {
            break logged;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let b_duplicates = arrivals
        .ulids
        .lock()
        .unwrap()
        .values()
        .filter(|n| **n > 1)
        .count();
    let b_bad = arrivals.bad_signatures.load(Ordering::Relaxed);
    if !a_hangs {
        let peak_rss = wait_for(&service, &receivers.tally, a_expected, started).await;
        let elapsed = started.elapsed().as_secs_f64();
        let tally = &receivers.tally;
        println!(
            "{label}: A's {a_expected} in {elapsed:.2} s = {:.0}/s beside B; bad signatures {}; duplicates {}; peak RSS {:.1} MB",
            a_expected as f64 / elapsed,
            tally.bad_signatures.load(Ordering::Relaxed),
            tally.total.load(Ordering::Relaxed) - tally.by_ulid.lock().unwrap().len(),
            mb(peak_rss),
        );
        assert_eq!(tally.bad_signatures.load(Ordering::Relaxed), 0);
    }
    println!(
        "{label}: B's attempts logged {b_logged}/{B_TICKETS}; bad signatures {b_bad}; duplicates {b_duplicates}"
    );
    assert!(
        b_logged as usize >= B_TICKETS - 2,
        "B's attempts are logged"
    );
    assert_eq!(b_bad, 0, "every signature verifies");
    service.stop();
    pool.close().await;
}

/// A receiver that hangs (for A), or checks and records B's arrivals.
async fn serve(secret: Arc<Mutex<String>>, arrivals: Arc<Arrivals>, hang: bool) -> String {
    let app = Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let (secret, arrivals) = (secret.clone(), arrivals.clone());
        async move {
            if hang {
                tokio::time::sleep(Duration::from_secs(30)).await;
                return StatusCode::OK;
            }
            let arrived = Instant::now();
            let signature = headers
                .get(WEBHOOK_SIGNATURE_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let key = secret.lock().unwrap().clone();
            if !verify_hex(key.as_bytes(), &body, signature) {
                arrivals.bad_signatures.fetch_add(1, Ordering::Relaxed);
            }
            let payload: Value = serde_json::from_slice(&body).unwrap_or_default();
            let subject = payload["ticket"]["subject"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let ulid = payload["ulid"].as_str().unwrap_or_default().to_string();
            *arrivals.ulids.lock().unwrap().entry(ulid).or_default() += 1;
            arrivals
                .at
                .lock()
                .unwrap()
                .entry(subject)
                .or_insert(arrived);
            StatusCode::OK
        }
    });
    serve_on_loopback(app).await
}
