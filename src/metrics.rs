//! Prometheus metrics: one registry per running service (so tests running many apps in one
//! process never mix their numbers), counted where things happen and rendered as OpenMetrics
//! text for `/metrics`. Figures that live in PostgreSQL (queue depth, fan-out lag, the mail
//! outbox) are read when scraped and set here just before rendering.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use std::time::Instant;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sqlx::PgPool;

/// The content type of what [`Metrics::render`] writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: &'static str,
    /// The route template (`/api/tickets/{id}`), never the raw path: ids would make a series
    /// per ticket.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: &'static str,
    pub route: String,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum DeliveryOutcome {
    succeeded,
    retrying,
    failed,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum CallOutcome {
    ok,
    error,
    timeout,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum CacheResult {
    hit,
    miss,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum QueueState {
    /// Waiting for an attempt, due or not.
    pending,
    /// Pending, due now, and not leased: what the workers have not caught up with.
    due,
    /// Claimed by a worker and being attempted.
    leased,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum ConnectionState {
    in_use,
    idle,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabel {
    outcome: DeliveryOutcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabel {
    outcome: CallOutcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabel {
    result: CacheResult,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabel {
    state: QueueState,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
    state: ConnectionState,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// Latency buckets from 1 ms to about 33 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The webhook queue, all instances together (read from PostgreSQL when scraped).
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueDepth {
    pub pending: i64,
    pub due: i64,
    pub leased: i64,
    /// How long the oldest due, unclaimed delivery has waited (zero when none).
    pub oldest_due_age: Duration,
}

/// What the database says when scraped: the webhook queue, fan-out and the mail outbox.
#[derive(Debug, Clone, Copy, Default)]
pub struct Backlog {
    pub queue: QueueDepth,
    pub fan_out_lag: Duration,
    pub mail_outbox: i64,
}

pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Histograms<RouteLabels>,
    deliveries: Family<DeliveryLabel, Counter>,
    attempt_duration: Histogram,
    resends: Counter,
    queue: Family<QueueLabel, Gauge>,
    oldest_due_age: FloatGauge,
    fan_out_lag: FloatGauge,
    sidebar_calls: Family<CallLabel, Counter>,
    sidebar_call_duration: Histogram,
    sidebar_cache: Family<CacheLabel, Counter>,
    sidebar_stale_served: Counter,
    sections_auto_disabled: Counter,
    sidebar_warm_ups: Counter,
    mail_outbox: Gauge,
    mail_send_failures: Counter,
    http_panics: Counter,
    pool_connections: Family<PoolLabels, Gauge>,
    pools: Mutex<Vec<(&'static str, PgPool)>>,
    worker_tick_age: FloatGauge,
    /// Milliseconds after `started` of the webhook worker's last loop; -1 before the first.
    worker_last_tick: AtomicI64,
    started: Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("therethere");
        let m = Metrics {
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram),
            deliveries: Family::default(),
            attempt_duration: latency_histogram(),
            resends: Counter::default(),
            queue: Family::default(),
            oldest_due_age: FloatGauge::default(),
            fan_out_lag: FloatGauge::default(),
            sidebar_calls: Family::default(),
            sidebar_call_duration: latency_histogram(),
            sidebar_cache: Family::default(),
            sidebar_stale_served: Counter::default(),
            sections_auto_disabled: Counter::default(),
            sidebar_warm_ups: Counter::default(),
            mail_outbox: Gauge::default(),
            mail_send_failures: Counter::default(),
            http_panics: Counter::default(),
            pool_connections: Family::default(),
            pools: Mutex::default(),
            worker_tick_age: FloatGauge::default(),
            worker_last_tick: AtomicI64::new(-1),
            started: Instant::now(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "http_requests",
            "HTTP requests answered, by route template and status",
            m.http_requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            m.http_duration.clone(),
        );
        r.register("webhook_deliveries", "Automatic webhook attempts by what followed: succeeded, retrying (a retry is scheduled) or failed (the last attempt failed)", m.deliveries.clone());
        r.register(
            "webhook_attempt_duration_seconds",
            "Time of one webhook attempt, request to response",
            m.attempt_duration.clone(),
        );
        r.register(
            "webhook_resends",
            "Deliveries resent by hand",
            m.resends.clone(),
        );
        r.register(
            "webhook_queue_deliveries",
            "Deliveries in the queue, all instances together (read when scraped)",
            m.queue.clone(),
        );
        r.register(
            "webhook_oldest_due_age_seconds",
            "How long the oldest due, unclaimed delivery has waited (0 when none)",
            m.oldest_due_age.clone(),
        );
        r.register(
            "webhook_fanout_lag_seconds",
            "Age of the oldest event not yet fanned out into deliveries (0 when none)",
            m.fan_out_lag.clone(),
        );
        r.register(
            "sidebar_calls",
            "Calls to sidebar section endpoints by outcome",
            m.sidebar_calls.clone(),
        );
        r.register(
            "sidebar_call_duration_seconds",
            "Time of one call to a sidebar section endpoint",
            m.sidebar_call_duration.clone(),
        );
        r.register(
            "sidebar_cache",
            "Sidebar section loads served from the cache (hit) or needing a call (miss)",
            m.sidebar_cache.clone(),
        );
        r.register(
            "sidebar_stale_served",
            "Sidebar sections shown from an older answer, marked stale, because the call failed",
            m.sidebar_stale_served.clone(),
        );
        r.register(
            "sidebar_sections_auto_disabled",
            "Sidebar sections disabled after consecutive failures",
            m.sections_auto_disabled.clone(),
        );
        r.register(
            "sidebar_warm_ups",
            "Sidebar section calls made in the background when a ticket arrived",
            m.sidebar_warm_ups.clone(),
        );
        r.register(
            "mail_outbox",
            "Mail waiting to be sent (read when scraped)",
            m.mail_outbox.clone(),
        );
        r.register(
            "mail_send_failures",
            "Attempts to hand mail to the SMTP server that failed",
            m.mail_send_failures.clone(),
        );
        r.register(
            "http_panics",
            "Requests whose handler panicked (answered 500 with the request id)",
            m.http_panics.clone(),
        );
        r.register(
            "db_pool_connections",
            "Connections of each of this instance's pools, in use or idle",
            m.pool_connections.clone(),
        );
        r.register("worker_last_tick_age_seconds", "Time since this instance's webhook worker last went round its loop (-1: no worker here)", m.worker_tick_age.clone());
        Metrics { registry, ..m }
    }
}

impl Metrics {
    pub fn http_request(&self, labels: HttpLabels, elapsed: Duration) {
        let route = RouteLabels {
            method: labels.method,
            route: labels.route.clone(),
        };
        self.http_requests.get_or_create(&labels).inc();
        self.http_duration
            .get_or_create(&route)
            .observe(elapsed.as_secs_f64());
    }

    /// An automatic webhook attempt ended, and what follows it was decided.
    pub fn webhook_attempt(&self, outcome: DeliveryOutcome, elapsed: Duration) {
        self.deliveries
            .get_or_create(&DeliveryLabel { outcome })
            .inc();
        self.attempt_duration.observe(elapsed.as_secs_f64());
    }

    pub fn webhook_resent(&self) {
        self.resends.inc();
    }

    pub fn sidebar_call(&self, outcome: CallOutcome, elapsed: Duration) {
        self.sidebar_calls
            .get_or_create(&CallLabel { outcome })
            .inc();
        self.sidebar_call_duration.observe(elapsed.as_secs_f64());
    }

    pub fn sidebar_cache(&self, result: CacheResult, loads: u64) {
        self.sidebar_cache
            .get_or_create(&CacheLabel { result })
            .inc_by(loads);
    }

    pub fn sidebar_stale_served(&self) {
        self.sidebar_stale_served.inc();
    }

    pub fn section_auto_disabled(&self) {
        self.sections_auto_disabled.inc();
    }

    pub fn sidebar_warm_up(&self) {
        self.sidebar_warm_ups.inc();
    }

    pub fn http_panicked(&self) {
        self.http_panics.inc();
    }

    pub fn mail_send_failed(&self) {
        self.mail_send_failures.inc();
    }

    /// The webhook worker went round its loop (it does at least twice a second).
    pub fn worker_ticked(&self) {
        let now = self.started.elapsed().as_millis() as i64;
        self.worker_last_tick.store(now, Ordering::Relaxed);
    }

    /// How long ago the worker last went round its loop; `None` when no worker runs here.
    pub fn worker_last_tick_age(&self) -> Option<Duration> {
        let at = self.worker_last_tick.load(Ordering::Relaxed);
        let now = self.started.elapsed().as_millis() as i64;
        (at >= 0).then(|| Duration::from_millis((now - at).max(0) as u64))
    }

    /// Reports this pool's connections (in use and idle) from now on, named `name`.
    pub fn watch_pool(&self, name: &'static str, pool: &PgPool) {
        let mut pools = self.pools.lock().expect("metrics pools lock");
        pools.retain(|(n, _)| *n != name);
        pools.push((name, pool.clone()));
    }

    /// The OpenMetrics text of everything, with the database's figures as `backlog` gives them.
    pub fn render(&self, backlog: &Backlog) -> String {
        let queue = &backlog.queue;
        for (state, n) in [
            (QueueState::pending, queue.pending),
            (QueueState::due, queue.due),
            (QueueState::leased, queue.leased),
        ] {
            self.queue.get_or_create(&QueueLabel { state }).set(n);
        }
        self.oldest_due_age.set(queue.oldest_due_age.as_secs_f64());
        self.fan_out_lag.set(backlog.fan_out_lag.as_secs_f64());
        self.mail_outbox.set(backlog.mail_outbox);
        self.worker_tick_age.set(
            self.worker_last_tick_age()
                .map_or(-1.0, |age| age.as_secs_f64()),
        );
        for (pool_name, pool) in self.pools.lock().expect("metrics pools lock").iter() {
            let idle = pool.num_idle() as i64;
            let in_use = i64::from(pool.size()) - idle;
            for (state, n) in [
                (ConnectionState::in_use, in_use.max(0)),
                (ConnectionState::idle, idle),
            ] {
                self.pool_connections
                    .get_or_create(&PoolLabels {
                        pool: pool_name,
                        state,
                    })
                    .set(n);
            }
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_backlog_render_as_openmetrics() {
        let metrics = Metrics::default();
        metrics.webhook_attempt(DeliveryOutcome::succeeded, Duration::from_millis(20));
        metrics.webhook_attempt(DeliveryOutcome::retrying, Duration::from_millis(20));
        metrics.http_request(
            HttpLabels {
                method: "GET",
                route: "/api/tickets/{id}".into(),
                status: 200,
            },
            Duration::from_millis(3),
        );
        let text = metrics.render(&Backlog {
            queue: QueueDepth {
                pending: 7,
                due: 2,
                ..QueueDepth::default()
            },
            ..Backlog::default()
        });
        assert!(
            text.contains("therethere_webhook_deliveries_total{outcome=\"succeeded\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("therethere_webhook_queue_deliveries{state=\"pending\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("therethere_http_requests_total{method=\"GET\",route=\"/api/tickets/{id}\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
