//! Scenario 6: an authenticated client's latency while a few hundred concurrent bad logins
//! run, from one address (the throttle answers) and from many (behind a trusted proxy header,
//! so only the password pool's bound protects everyone else).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use therethere::db::EmbeddedPostgres;

use super::harness::{Service, fresh_database, percentile, seed_workspace};

const ATTACKERS: usize = 300;
const PHASE: Duration = Duration::from_secs(8);
/// The authenticated client asks every 10 ms (open loop: latency counts from when it was due).
const PACE: Duration = Duration::from_millis(10);

pub async fn logins(pg: &EmbeddedPostgres, binary: &Path) {
    let (url, pool) = fresh_database(pg).await;
    let service = Service::start(
        binary,
        &url,
        &[("TRUSTED_CLIENT_IP_HEADER", "X-Forwarded-For")],
    )
    .await;
    let (_, token) = seed_workspace(&pool).await;
    let quiet = authenticated_latency(&service.base, &token, None).await;
    report("quiet", &quiet, None);
    for spread in [false, true] {
        let attack = Attack::start(&service.base, spread);
        let under = authenticated_latency(&service.base, &token, Some(&attack)).await;
        let outcomes = attack.stop().await;
        let label = if spread {
            "300 bad logins at once, each from its own address"
        } else {
            "300 bad logins at once from one address"
        };
        report(label, &under, Some(&outcomes));
        let quiet_p99 = percentile(&quiet.latencies_ms, 0.99);
        println!(
            "  p99 against quiet: {:.2}x; after the first second: p50 {:.2} ms, p99 {:.2} ms ({:.2}x)",
            percentile(&under.latencies_ms, 0.99) / quiet_p99,
            percentile(&under.steady_ms, 0.5),
            percentile(&under.steady_ms, 0.99),
            percentile(&under.steady_ms, 0.99) / quiet_p99,
        );
    }
    service.stop();
}

struct Latencies {
    latencies_ms: Vec<f64>,
    /// Those due after the first second (the attack's 300 connections are open by then).
    steady_ms: Vec<f64>,
    failed: usize,
}

async fn authenticated_latency(base: &str, token: &str, attack: Option<&Attack>) -> Latencies {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut latencies_ms = Vec::new();
    let mut steady_ms = Vec::new();
    let mut failed = 0;
    let mut due = started;
    while started.elapsed() < PHASE {
        tokio::time::sleep_until(due.into()).await;
        let response = client
            .get(format!("{base}/api/tickets"))
            .bearer_auth(token)
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => {
                let _ = r.bytes().await;
                let ms = due.elapsed().as_secs_f64() * 1000.0;
                latencies_ms.push(ms);
                if due - started >= Duration::from_secs(1) {
                    steady_ms.push(ms);
                }
            }
            _ => failed += 1,
        }
        due += PACE;
    }
    if let Some(attack) = attack {
        assert!(attack.running(), "the attack ended before the measurement");
    }
    latencies_ms.sort_by(f64::total_cmp);
    steady_ms.sort_by(f64::total_cmp);
    Latencies {
        latencies_ms,
        steady_ms,
        failed,
    }
}

#[derive(Default)]
struct Outcomes {
    unauthorized: AtomicUsize,
    throttled: AtomicUsize,
    busy: AtomicUsize,
    other: AtomicUsize,
}

struct Attack {
    stop: Arc<AtomicBool>,
    outcomes: Arc<Outcomes>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    started: Instant,
}

impl Attack {
    fn start(base: &str, spread: bool) -> Attack {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes = Arc::new(Outcomes::default());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let tasks = (0..ATTACKERS)
            .map(|n| {
                let (client, stop, outcomes) = (client.clone(), stop.clone(), outcomes.clone());
                let url = format!("{base}/login");
                tokio::spawn(async move {
                    let mut attempt = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        attempt += 1;
                        let (email, from) = if spread {
                            // 198.18.0.0/15: benchmarking addresses, never routed.
                            let host = n as u32 * 1_000 + attempt;
                            (
                                format!("guess{host}@bench.test"),
                                format!("198.18.{}.{}", (host >> 8) & 0xff, host & 0xff),
                            )
                        } else {
                            ("owner@bench.test".to_string(), "127.0.0.1".to_string())
                        };
                        let mut request = client
                            .post(&url)
                            .form(&[("email", email.as_str()), ("password", "wrong")]);
                        if spread {
                            request = request.header("x-forwarded-for", from);
                        }
                        let counter = match request.send().await.map(|r| r.status().as_u16()) {
                            Ok(401) => &outcomes.unauthorized,
                            Ok(429) => &outcomes.throttled,
                            Ok(503) => &outcomes.busy,
                            _ => &outcomes.other,
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        Attack {
            stop,
            outcomes,
            tasks,
            started: Instant::now(),
        }
    }

    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    async fn stop(self) -> (Arc<Outcomes>, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        let took = self.started.elapsed();
        for task in self.tasks {
            let _ = task.await;
        }
        (self.outcomes, took)
    }
}

fn report(label: &str, latencies: &Latencies, attack: Option<&(Arc<Outcomes>, Duration)>) {
    let l = &latencies.latencies_ms;
    println!(
        "logins, {label}: GET /api/tickets every 10 ms: {} answered, {} failed, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
        l.len(),
        latencies.failed,
        percentile(l, 0.5),
        percentile(l, 0.99),
        l.last().copied().unwrap_or(f64::NAN)
    );
    if let Some((outcomes, took)) = attack {
        let secs = took.as_secs_f64();
        let count = |c: &AtomicUsize| c.load(Ordering::Relaxed);
        println!(
            "  logins answered: 401 {} ({:.0}/s), 429 {} ({:.0}/s), 503 {} ({:.0}/s), other {}",
            count(&outcomes.unauthorized),
            count(&outcomes.unauthorized) as f64 / secs,
            count(&outcomes.throttled),
            count(&outcomes.throttled) as f64 / secs,
            count(&outcomes.busy),
            count(&outcomes.busy) as f64 / secs,
            count(&outcomes.other),
        );
    }
}
