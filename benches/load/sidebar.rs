//! Scenarios 3 (a cold ticket with one 10 s endpoint among five, with and without "Load when a
//! ticket arrives"), 4 (a warm cache under 100 agents reloading, closed and open loop, and a
//! cold stampede on one contact) and 5 (agents' loads while 1,000 tickets arrive at once, with
//! and without warm-ups).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use futures::StreamExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use therethere::db::EmbeddedPostgres;

use super::harness::{Service, fresh_database, percentile, post_json, seed_workspace};

const SECTIONS: usize = 5;
const CONTACTS: usize = 1_000;
const AGENTS: usize = 100;
/// Tickets arriving at once in scenario 5.
const BURST: usize = 1_000;
/// How long each warm run lasts.
const RUN_FOR: Duration = Duration::from_secs(5);

/// The service with five sections on one channel (the last one's endpoint answers after
/// 10 s), each endpoint counting its calls.
#[derive(Clone)]
struct Setup {
    client: reqwest::Client,
    base: String,
    token: String,
    channel: i64,
    calls: Vec<Arc<AtomicUsize>>,
    section_ids: Vec<i64>,
    /// Loads the service refused as overloaded (503, `HTTP_MAX_IN_FLIGHT` reached).
    refused: Arc<AtomicUsize>,
}

impl Setup {
    async fn new(base: &str, token: &str) -> Setup {
        let client = reqwest::Client::new();
        let url = |path: &str| format!("{base}{path}");
        let channel = post_json(
            &client,
            url("/api/channels"),
            token,
            &json!({"name": "Billing"}),
        )
        .await["id"]
            .as_i64()
            .unwrap();
        let calls: Vec<Arc<AtomicUsize>> = (0..SECTIONS).map(|_| Arc::default()).collect();
        let mut section_ids = Vec::new();
        for (i, count) in calls.iter().enumerate() {
            let slow = i == SECTIONS - 1;
            let delay = if slow {
                Duration::from_secs(10)
            } else {
                Duration::ZERO
            };
            let endpoint = start_endpoint(delay, count.clone()).await;
            let body = json!({"title": format!("Section {i}"), "endpoint_url": endpoint, "channel_ids": [channel]});
            let section = post_json(&client, url("/api/sidebar-sections"), token, &body).await;
            section_ids.push(section["id"].as_i64().unwrap());
        }
        Setup {
            client,
            base: base.to_string(),
            token: token.to_string(),
            channel,
            calls,
            section_ids,
            refused: Arc::default(),
        }
    }

    /// A ticket on the channel from contact `i`.
    async fn new_ticket(self, i: usize) -> i64 {
        let body = json!({"subject": "Hi", "body": "Hi", "contact": {"name": "C", "email": format!("c{i}@example.com")}, "channel_id": self.channel});
        let url = format!("{}/api/tickets", self.base);
        post_json(&self.client, url, &self.token, &body).await["id"]
            .as_i64()
            .unwrap()
    }

    /// One `GET /api/tickets/{id}/sidebar`, as an agent's reload makes it; no sections when
    /// the service refused it as overloaded (counted in `refused`).
    async fn load(&self, ticket: i64) -> Vec<Value> {
        let response = self
            .client
            .get(format!("{}/api/tickets/{ticket}/sidebar", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        if response.status() == 503 {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Vec::new();
        }
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Turns "Load when a ticket arrives" on or off for the sections given.
    async fn load_on_arrival(&self, sections: &[i64], on: bool) {
        for id in sections {
            let response = self
                .client
                .patch(format!("{}/api/sidebar-sections/{id}", self.base))
                .bearer_auth(&self.token)
                .json(&json!({"load_on_arrival": on}))
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{}", response.status());
        }
    }

    /// Calls made so far to the fast endpoints.
    fn fast_calls(&self) -> usize {
        self.calls[..SECTIONS - 1]
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }
}

pub async fn sidebar(pg: &EmbeddedPostgres, binary: &Path) {
    let (url, pool) = fresh_database(pg).await;
    let service = Service::start(binary, &url, &[]).await;
    let (_, token) = seed_workspace(&pool).await;
    let setup = Setup::new(&service.base, &token).await;

    cold_ticket(&setup, &pool, false).await;
    setup.load_on_arrival(&setup.section_ids, true).await;
    cold_ticket(&setup, &pool, true).await;
    setup.load_on_arrival(&setup.section_ids, false).await;
    let tickets: Vec<i64> = futures::stream::iter(1..=CONTACTS)
        .map(|i| setup.clone().new_ticket(i))
        .buffer_unordered(32)
        .collect()
        .await;
    futures::stream::iter(tickets.clone())
        .map(|t| {
            let setup = &setup;
            async move { setup.load(t).await }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    // The slow section times out for everyone (and is never cached): leave it out of the warm runs.
    let disable = format!(
        "{}/api/sidebar-sections/{}/disable",
        setup.base,
        setup.section_ids[SECTIONS - 1]
    );
    setup
        .client
        .post(disable)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    warm_closed_loop(&setup, &tickets).await;
    warm_open_loop(&setup, &tickets).await;
    cold_stampede(&setup).await;
    let fast_sections = &setup.section_ids[..SECTIONS - 1];
    agents_during(&setup, &tickets, &pool, None).await;
    agents_during(&setup, &tickets, &pool, Some(CONTACTS + 10)).await;
    setup.load_on_arrival(fast_sections, true).await;
    agents_during(&setup, &tickets, &pool, Some(CONTACTS + 10 + BURST)).await;
    service.stop();
    pool.close().await;
}

/// Scenario 3: the ticket page, then each section as the browser loads them. With `warmed`,
/// the sections load on arrival and the agent opens the ticket once the fast ones are cached
/// (the slow one times out in the background all the same).
async fn cold_ticket(setup: &Setup, pool: &PgPool, warmed: bool) {
    let contact = if warmed { CONTACTS + 2 } else { 0 };
    let arrived = Instant::now();
    let ticket = setup.clone().new_ticket(contact).await;
    if warmed {
        while cached_answers(pool, &format!("c{contact}@example.com")).await < SECTIONS as i64 - 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let warm_after = arrived.elapsed();
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = |path: &str| format!("{}{path}", setup.base);
    let email: String = sqlx::query_scalar("SELECT email FROM users LIMIT 1")
        .fetch_one(pool)
        .await
        .unwrap();
    let login = [("email", email.as_str()), ("password", "bench-password")];
    browser
        .post(url("/login"))
        .form(&login)
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    let page = browser
        .get(url(&format!("/tickets/{ticket}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    page.text().await.unwrap();
    let page_ms = started.elapsed().as_secs_f64() * 1000.0;
    let loads = futures::future::join_all(setup.section_ids.iter().map(|sid| {
        let (browser, url) = (
            browser.clone(),
            url(&format!("/tickets/{ticket}/sidebar/{sid}")),
        );
        async move {
            let t = Instant::now();
            let html = browser.get(url).send().await.unwrap().text().await.unwrap();
            (t.elapsed().as_secs_f64() * 1000.0, html)
        }
    }))
    .await;
    let (fast, slow) = loads.split_at(SECTIONS - 1);
    let fast_max = fast.iter().map(|(ms, _)| *ms).fold(0.0, f64::max);
    assert!(
        fast.iter().all(|(_, h)| h.contains("section-items")),
        "fast sections render data"
    );
    let (slow_ms, slow_html) = &slow[0];
    assert!(
        slow_html.contains("timed out"),
        "the slow section reports the timeout"
    );
    let how = if warmed {
        format!(
            "loaded on arrival (fast sections cached {:.0} ms after the ticket was created)",
            warm_after.as_secs_f64() * 1000.0
        )
    } else {
        "not loaded on arrival".to_string()
    };
    println!(
        "sidebar, first open, {how}: ticket page HTML in {page_ms:.1} ms; fast sections' data in ≤ {fast_max:.1} ms; 10 s section reported timed out at {:.2} s",
        slow_ms / 1000.0
    );
}

/// Cached answers for the contact with this email, across sections.
async fn cached_answers(pool: &PgPool, email: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM sidebar_cache c JOIN contacts ct ON ct.id = c.contact_id WHERE ct.email = $1",
    )
    .bind(email)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Scenario 5: 50 agents each opening a warm ticket every 100 ms (open loop, 500 sidebars/s),
/// for 5 s on their own (`burst` None), or while `BURST` new tickets from new contacts
/// (numbered from `burst`) are created 32 at a time, and until their sidebars are warm when
/// the sections load on arrival. Prints the agents' p50/p99 and how long warming took.
async fn agents_during(setup: &Setup, tickets: &[i64], pool: &PgPool, burst: Option<usize>) {
    const PACED_AGENTS: usize = 50;
    let period = Duration::from_millis(100);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let agents = (0..PACED_AGENTS).map(|agent| {
        let stop = stop.clone();
        async move {
            let mut loads = Vec::new();
            let offset = period.mul_f64(agent as f64 / PACED_AGENTS as f64);
            let mut k = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let due = started + offset + period * k;
                tokio::time::sleep_until(due.into()).await;
                let ticket = tickets[(agent * 11 + k as usize * 17) % tickets.len()];
                let setup = setup.clone();
                loads.push(tokio::spawn(async move {
                    let loads = setup.load(ticket).await;
                    assert!(loads.iter().all(|l| l["status"] != "error"));
                    let due_at = due.duration_since(started).as_secs_f64();
                    (due_at, due.elapsed().as_secs_f64() * 1000.0)
                }));
                k += 1;
            }
            futures::future::join_all(loads).await
        }
    });
    let agents = futures::future::join_all(agents);
    let background = async {
        let Some(first) = burst else {
            tokio::time::sleep(RUN_FOR).await;
            stop.store(true, Ordering::Relaxed);
            return ("quiet".to_string(), f64::INFINITY);
        };
        let calls_before = setup.fast_calls();
        futures::stream::iter(first..first + BURST)
            .map(|i| setup.clone().new_ticket(i))
            .buffer_unordered(32)
            .collect::<Vec<_>>()
            .await;
        let created = started.elapsed();
        let emails: Vec<String> = (first..first + BURST)
            .map(|i| format!("c{i}@example.com"))
            .collect();
        let warm_count = || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM sidebar_cache c JOIN contacts ct ON ct.id = c.contact_id WHERE ct.email = ANY($1)",
            )
            .bind(&emails)
            .fetch_one(pool)
            .await
            .unwrap()
        };
        let mut warmed = warm_count().await;
        if warmed == 0 && setup.fast_calls() == calls_before {
            stop.store(true, Ordering::Relaxed);
            let what = format!(
                "{BURST} tickets created in {:.1} s, sections not loaded on arrival",
                created.as_secs_f64()
            );
            return (what, created.as_secs_f64());
        }
        let expected = (BURST * (SECTIONS - 1)) as i64;
        let deadline = Instant::now() + Duration::from_secs(120);
        while warmed < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            warmed = warm_count().await;
        }
        stop.store(true, Ordering::Relaxed);
        let what = format!(
            "{BURST} tickets created in {:.1} s, loaded on arrival: {warmed} of {expected} section answers cached {:.1} s after the burst began ({} warm-up calls)",
            created.as_secs_f64(),
            started.elapsed().as_secs_f64(),
            setup.fast_calls() - calls_before
        );
        (what, created.as_secs_f64())
    };
    let (results, (what, created)) = tokio::join!(agents, background);
    let loads: Vec<(f64, f64)> = results.into_iter().flatten().map(|r| r.unwrap()).collect();
    let window = |keep: &dyn Fn(f64) -> bool| {
        let mut latencies: Vec<f64> = loads
            .iter()
            .filter(|(due, _)| keep(*due))
            .map(|(_, ms)| *ms)
            .collect();
        latencies.sort_by(f64::total_cmp);
        format!(
            "{} loads, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            latencies.len(),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies.last().copied().unwrap_or(f64::NAN)
        )
    };
    let after = if loads.iter().any(|(due, _)| *due >= created) {
        format!(
            "; after it, while warm-ups went on: {}",
            window(&|due| due >= created)
        )
    } else {
        String::new()
    };
    let during = if created.is_finite() {
        "during the creation "
    } else {
        ""
    };
    let refused = setup.refused.swap(0, Ordering::Relaxed);
    println!(
        "sidebar, {PACED_AGENTS} agents opening warm tickets at 500/s, {what}: {during}{}{after}; {refused} refused as overloaded",
        window(&|due| due < created),
    );
}

/// Scenario 4: 100 agents reloading with no pause over 1,000 warm contacts.
async fn warm_closed_loop(setup: &Setup, tickets: &[i64]) {
    let calls_before = setup.fast_calls();
    let started = Instant::now();
    let agents = (0..AGENTS).map(|agent| async move {
        let (mut latencies, mut sections) = (Vec::new(), 0usize);
        let mut i = agent * 7;
        while started.elapsed() < RUN_FOR {
            let ticket = tickets[i % tickets.len()];
            i += 13;
            let t = Instant::now();
            let loads = setup.load(ticket).await;
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            let ok = loads.iter().filter(|l| l["status"] == "ok");
            assert!(
                ok.clone().all(|l| l["cached"] == true),
                "warm loads come from the cache"
            );
            sections += ok.count();
        }
        (latencies, sections)
    });
    let results = futures::future::join_all(agents).await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies: Vec<f64> = results.iter().flat_map(|(l, _)| l.clone()).collect();
    latencies.sort_by(f64::total_cmp);
    let sections: usize = results.iter().map(|(_, s)| *s).sum();
    println!(
        "sidebar, cached, {AGENTS} agents reloading with no pause: {} requests × {} sections in {elapsed:.1} s = {:.0} section loads/s; request p50 {:.1} ms, p99 {:.1} ms; endpoint calls during the run: {}",
        latencies.len(),
        SECTIONS - 1,
        sections as f64 / elapsed,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        setup.fast_calls() - calls_before
    );
}

/// The same agents offering the target rate steadily (open loop): each reloads every 40 ms
/// whether or not its last load has returned, 10,000 section loads/s in all. Latency counts
/// from the moment a load was due, so a slow service cannot hide its queue by sending less.
async fn warm_open_loop(setup: &Setup, tickets: &[i64]) {
    let period = Duration::from_millis(40);
    let started = Instant::now();
    let agents = (0..AGENTS).map(|agent| async move {
        let mut loads = Vec::new();
        let offset = period.mul_f64(agent as f64 / AGENTS as f64);
        let mut k = 0u32;
        loop {
            let due = started + offset + period * k;
            if due.duration_since(started) >= RUN_FOR {
                break;
            }
            tokio::time::sleep_until(due.into()).await;
            let ticket = tickets[(agent * 7 + k as usize * 13) % tickets.len()];
            let setup = setup.clone();
            loads.push(tokio::spawn(async move {
                let loads = setup.load(ticket).await;
                let ok = loads.iter().filter(|l| l["status"] == "ok").count();
                (due.elapsed().as_secs_f64() * 1000.0, ok)
            }));
            k += 1;
        }
        futures::future::join_all(loads).await
    });
    let results: Vec<(f64, usize)> = futures::future::join_all(agents)
        .await
        .into_iter()
        .flatten()
        .map(|r| r.unwrap())
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies: Vec<f64> = results.iter().map(|(ms, _)| *ms).collect();
    latencies.sort_by(f64::total_cmp);
    let sections: usize = results.iter().map(|(_, n)| *n).sum();
    let refused = setup.refused.swap(0, Ordering::Relaxed);
    assert_eq!(
        sections,
        (results.len() - refused) * (SECTIONS - 1),
        "every load served has its sections"
    );
    println!(
        "sidebar, cached, offered at 10,000 section loads/s by {AGENTS} agents: {sections} section loads in {elapsed:.1} s = {:.0}/s ({refused} requests refused as overloaded); request p50 {:.1} ms, p99 {:.1} ms",
        sections as f64 / elapsed,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    );
}

/// 100 concurrent loads of one new contact: one call per section.
async fn cold_stampede(setup: &Setup) {
    let fresh = setup.clone().new_ticket(CONTACTS + 1).await;
    let before: Vec<usize> = setup
        .calls
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    futures::future::join_all((0..AGENTS).map(|_| setup.load(fresh))).await;
    let per_section: Vec<usize> = setup
        .calls
        .iter()
        .zip(&before)
        .map(|(c, b)| c.load(Ordering::Relaxed) - b)
        .collect();
    println!(
        "sidebar, cold stampede: {AGENTS} concurrent loads of one contact → endpoint calls per section {per_section:?}"
    );
    assert!(
        per_section[..SECTIONS - 1].iter().all(|n| *n == 1),
        "one call per section"
    );
}

/// An endpoint answering sidebar data (after `delay`), counting its calls.
async fn start_endpoint(delay: Duration, calls: Arc<AtomicUsize>) -> String {
    let body = r#"{"data":[{"name":"Plan","value":"**Pro**","type":"markdown"},{"name":"MRR","value":49.99,"type":"numeric"},{"name":"Since","value":"2025-06-15T00:00:00Z","type":"date"},{"name":"Active","value":true,"type":"boolean"},{"name":"Dashboard","value":"https://app.example.com/u/1","type":"url"}]}"#;
    let app = Router::new().fallback(move || {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
            ([("content-type", "application/json")], body)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://127.0.0.1:{}/sidebar",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    url
}
