//! Webhook notifications: destinations, who hears about what, exact payloads, and the
//! durable delivery pipeline (fan-out from the event outbox → queue → worker → log).

pub mod attempt;
pub mod audience;
pub mod catalog;
pub mod deliveries;
pub mod destinations;
pub mod disabling;
pub mod event_types;
pub mod excerpt;
pub mod fanout;
pub mod health;
pub mod payload;
pub mod queue;
pub mod replay;
pub mod replay_offer;
pub mod resend;
pub mod retry;
pub mod schedule;
pub mod test_notification;
pub mod worker;

use std::time::Duration;

pub use retry::RetryPolicy;

/// Delivery settings from configuration.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `WEBHOOK_RETRY_DELAYS` (default "10,20").
    pub retry: RetryPolicy,
    /// How long a claimed delivery is reserved before another worker may take it over.
    pub lease: Duration,
    /// Attempts under way at once per instance (`WEBHOOK_CONCURRENCY`).
    pub concurrency: usize,
    /// Attempts under way at once per destination and instance, so one slow receiver cannot
    /// take every slot (`WEBHOOK_DESTINATION_CONCURRENCY`).
    pub destination_concurrency: usize,
    /// Attempts under way at once per workspace and instance, so one workspace's receivers,
    /// however many and however slow, leave slots to the others
    /// (`WEBHOOK_WORKSPACE_CONCURRENCY`, default three quarters of `WEBHOOK_CONCURRENCY`: half
    /// cost a lone busy workspace 15% of its throughput on loopback).
    pub workspace_concurrency: usize,
    /// `WEBHOOK_LOG_RETENTION_DAYS` (default 30).
    pub log_retention: Duration,
    /// When a destination is disabled for failing (`disabling::Streaks`).
    pub streaks: disabling::Streaks,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            retry: RetryPolicy::default(),
            lease: Duration::from_secs(30),
            concurrency: 128,
            destination_concurrency: 16,
            workspace_concurrency: 96,
            log_retention: Duration::from_secs(30 * 24 * 3600),
            streaks: disabling::Streaks::default(),
        }
    }
}
