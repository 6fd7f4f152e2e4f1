//! Ticket creation alone: 2,000 tickets through the API, 32 at a time, into one workspace with
//! no destinations, on a channel, as issue 18 measures "event creation alone". Three rounds
//! with a new contact each, then three from one contact (what `ab` sends: one body, again and
//! again; such a burst once committed one ticket at a time, on the contact's row lock). On one
//! service; at the end every ticket, message and event is checked to have landed and the
//! numbers to have no gap. `BENCH_ROLE=web` runs the service without its workers, to
//! see what fan-out and warm-ups beside the creation cost.

use std::path::Path;
use std::time::Instant;

use futures::StreamExt;
use serde_json::json;
use therethere::db::EmbeddedPostgres;

use super::harness::{Service, fresh_database, post_json, seed_workspace};

const TICKETS: usize = 2_000;
const CONCURRENCY: usize = 32;
const ROUNDS: usize = 3;

pub async fn ticket_creation(pg: &EmbeddedPostgres, binary: &Path) {
    let (url, pool) = fresh_database(pg).await;
    let role = std::env::var("BENCH_ROLE").unwrap_or("all".into());
    let service = Service::start(binary, &url, &[("ROLE", role.as_str())]).await;
    let (workspace, token) = seed_workspace(&pool).await;
    let client = reqwest::Client::new();
    let channel = post_json(
        &client,
        format!("{}/api/channels", service.base),
        &token,
        &json!({"name": "Support"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let rounds = (0..ROUNDS)
        .map(|round| (round, "a new contact each"))
        .chain((0..ROUNDS).map(|round| (round, "one contact")));
    for (round, contacts) in rounds {
        let one_contact = contacts == "one contact";
        let started = Instant::now();
        futures::stream::iter(0..TICKETS)
            .map(|i| {
                let (client, base, token) = (client.clone(), &service.base, &token);
                let email = if one_contact {
                    "jane@example.com".to_string()
                } else {
                    format!("r{round}c{i}@example.com")
                };
                async move {
                    let response = client
                        .post(format!("{base}/api/tickets"))
                        .bearer_auth(token)
                        .json(
                            &json!({"subject": format!("Ticket {i}"), "body": "Help, please",
                            "contact": {"name": "Jane", "email": email},
                            "channel_id": channel}),
                        )
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 201);
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<()>>()
            .await;
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "tickets, created alone ({CONCURRENCY} at a time, {contacts}), round {}: {TICKETS} in {elapsed:.2} s = {:.0} tickets/s",
            round + 1,
            TICKETS as f64 / elapsed
        );
    }
    let (tickets, messages, events, top): (i64, i64, i64, i32) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM tickets WHERE workspace_id = $1),
                (SELECT count(*) FROM messages WHERE workspace_id = $1),
                (SELECT count(*) FROM events WHERE workspace_id = $1 AND kind = 'ticket_opened'),
                (SELECT max(number) FROM tickets WHERE workspace_id = $1)",
    )
    .bind(workspace)
    .fetch_one(&pool)
    .await
    .unwrap();
    let expected = (TICKETS * ROUNDS * 2) as i64;
    assert_eq!(
        (tickets, messages, events, i64::from(top)),
        (expected, expected, expected, expected),
        "every ticket has its message and event, numbered without a gap"
    );
    service.stop();
    pool.close().await;
}
