//! The benchmark harness: `cargo bench --bench load`. It builds and starts the release
//! service on its own private database, runs receivers and endpoints on loopback in this
//! (separate) process, drives the load over HTTP, checks every result, and prints one line
//! per figure. Scenarios and targets are those of BENCHMARKS.md.

mod drain;
mod fairness;
mod harness;
mod log;
mod logins;
mod prune;
mod sidebar;
mod tickets;
mod webhooks;

use std::path::PathBuf;

use therethere::db::EmbeddedPostgres;
use therethere::db::embedded::ClusterOptions;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wants = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));
    let binary = harness::build_release();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-postgres");
    let pg = EmbeddedPostgres::start(
        &root,
        ClusterOptions {
            durable: true,
            max_connections: 200,
        },
    )
    .expect("postgres starts");
    harness::drop_previous_databases(&pg).await;
    println!(
        "# therethere benchmarks ({} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    if wants("fanout") {
        webhooks::webhook_fanout(&pg, &binary, false, None, 1).await;
    }
    if wants("slow") {
        webhooks::webhook_fanout(&pg, &binary, true, None, 1).await;
    }
    if wants("paced") {
        // 200 tickets/s × 10 destinations = the 2,000 deliveries/s target, offered steadily.
        webhooks::webhook_fanout(&pg, &binary, false, Some(200), 1).await;
        webhooks::webhook_fanout(&pg, &binary, true, Some(200), 1).await;
    }
    if wants("drain") {
        drain::drain(&pg, &binary, 1).await;
    }
    if wants("fair") {
        fairness::fairness(&pg, &binary, false).await;
        fairness::fairness(&pg, &binary, true).await;
    }
    if wants("instances") {
        // The same drain and end-to-end scenarios with 1, 2 and 4 instances on one database
        // (on one machine: they share its cores).
        for instances in [1, 2, 4] {
            drain::drain(&pg, &binary, instances).await;
        }
        for instances in [1, 2, 4] {
            webhooks::webhook_fanout(&pg, &binary, false, None, instances).await;
        }
    }
    if wants("tickets") {
        tickets::ticket_creation(&pg, &binary).await;
    }
    if wants("sidebar") {
        sidebar::sidebar(&pg, &binary).await;
    }
    // Minutes of filling: only when named.
    if only.iter().any(|o| o == "prune") {
        prune::prune(&pg, &binary).await;
    }
    if only.iter().any(|o| o == "log") {
        log::log(&pg, &binary).await;
    }
    if wants("logins") {
        logins::logins(&pg, &binary).await;
    }
}
