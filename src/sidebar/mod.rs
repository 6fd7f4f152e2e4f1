//! Custom sidebar sections: admin-configured endpoints called with the contact's email when
//! an agent opens a ticket, their answers cached, judged, and rendered safely.
//!
//! [`Sidebar`] is the service the app builds once: the handlers ask it to load and test
//! sections, and it holds all that needs (pool, outbound client, timings, limits, app URL).

pub mod cache;
pub mod call;
pub mod configure;
pub mod failures;
pub mod items;
pub mod lease;
pub mod load;
pub mod refresh_limit;
pub mod render;
pub mod section_input;
pub mod sections;
pub mod single_flight;
pub mod test_call;
pub mod warm_up;

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

use crate::app_url::AppUrl;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::outbound::Outbound;
pub use load::{LoadMode, LoadStatus, RefreshTooSoon, SectionLoad};
use single_flight::SingleFlight;
pub use test_call::{SigningExample, TestReport, signing_example};

/// The sidebar's timings, from configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct SidebarSettings {
    /// How long an answer is served as fresh (`SIDEBAR_CACHE_TTL`).
    pub cache_ttl: Duration,
    /// How old the last good answer may be to be shown, marked stale, when a call fails.
    pub stale_max_age: Duration,
    /// How often one agent team may force a refresh of one section for one contact.
    pub refresh_interval: Duration,
    /// Warm-ups under way at once on this instance (`SIDEBAR_WARMUP_CONCURRENCY`; 0: none).
    pub warm_up_concurrency: usize,
}

/// The sidebar service. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Sidebar(Arc<Inner>);

struct Inner {
    pool: PgPool,
    metrics: Arc<Metrics>,
    outbound: Arc<Outbound>,
    settings: SidebarSettings,
    limits: Limits,
    /// `APP_URL`, for the link in the auto-disable email.
    app_url: AppUrl,
    /// This instance's calls under way, by section, contact and section version.
    inflight: SingleFlight<(i64, i64, i32), call::FetchOutcome>,
}

impl Sidebar {
    pub fn new(
        metrics: Arc<Metrics>,
        pool: PgPool,
        outbound: Arc<Outbound>,
        settings: SidebarSettings,
        limits: Limits,
        app_url: AppUrl,
    ) -> Self {
        Sidebar(Arc::new(Inner {
            pool,
            metrics,
            outbound,
            settings,
            limits,
            app_url,
            inflight: SingleFlight::default(),
        }))
    }

    pub fn settings(&self) -> &SidebarSettings {
        &self.0.settings
    }

    fn pool(&self) -> &PgPool {
        &self.0.pool
    }
}
