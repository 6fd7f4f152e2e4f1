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

pub use app::{
    TEST_SECRETS_KEY, TestApp, TestUser, TestWorkspace, spawn_app, spawn_app_with, spawn_database,
};
pub use binary::{Binary, leased_now, owner_with_token, unique_ulids, until_all_succeeded};
pub use builders::{ALL_EVENT_TYPES, ticket_body};
pub use clients::{Api, Browser, error_of};

/// A loopback port for a child process to bind (the app, chromedriver, a metrics listener).
///
/// Not a port the kernel hands out for `bind(0)`: that one is free only until it is dropped,
/// and the kernel gives ports of that (ephemeral) range to every outbound connection and
/// every receiver the tests bind meanwhile, so a child could find its port taken and exit.
/// Ports below the range are handed out by nobody but this counter (checked free first).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const FIRST: u16 = 20_000;
    const SPAN: u16 = 12_000; // up to 32,000, below Linux's ephemeral range (32,768 up)
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Each run starts elsewhere, so a port a previous run's child still holds is unlikely.
    let start = (std::process::id() % u32::from(SPAN)) as u16;
    loop {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FIRST + (start.wrapping_add(offset)) % SPAN;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

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
