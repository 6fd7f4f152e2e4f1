//! What every black-box test stands on: the real app on loopback over a database of its own
//! (`app`, `database`), the clients tests act through (`clients`), builders for what they set
//! up (`builders`), and waiting for what happens in the background (`eventually`).

mod app;
mod binary;
mod builders;
mod clients;
mod database;

use std::future::Future;
use std::time::{Duration, Instant};

pub use app::{TestApp, TestUser, TestWorkspace, spawn_app, spawn_app_with, spawn_database};
pub use binary::{Binary, leased_now, unique_ulids, until_all_succeeded};
pub use builders::{ALL_EVENT_TYPES, ticket_body};
pub use clients::{Api, Browser, error_of};

/// The environment that lets the app call receivers and endpoints on 127.0.0.1 over plain
/// HTTP, as every test with one does (the strict rules are tested by validation alone).
pub const LOOPBACK: &[(&str, &str)] = &[
    ("OUTBOUND_ALLOW_PRIVATE", "true"),
    ("OUTBOUND_ALLOW_HTTP", "true"),
];

/// `LOOPBACK` and then `extra`.
pub fn loopback_with<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = LOOPBACK.to_vec();
    env.extend_from_slice(extra);
    env
}

/// Waits for something the app does in the background: polls `check` every 20 ms until it
/// gives `Some`, and fails the test naming `what` if `within` passes first.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
