//! Roles: web instances and delivery workers scale separately on one database. One web and
//! two workers (real binaries); a worker SIGKILLed in the middle of a burst loses nothing.
//! A web instance queues its new tickets' deliveries itself (the intake fans out each batch).

use std::time::Duration;

use serde_json::json;

use crate::helpers::{
    Binary, eventually, leased_now, owner_with_token, spawn_database, unique_ulids,
    until_all_succeeded,
};
use crate::receiver::{Behaviour, Receiver};

const DESTINATIONS: usize = 5;
const TICKETS: usize = 100;

#[tokio::test]
async fn a_web_and_two_workers_deliver_everything_though_a_worker_is_killed() {
    let db = spawn_database().await;
    let receiver = Receiver::start(Behaviour::Delayed(
        Duration::from_millis(50),
        200,
        "{}".into(),
    ))
    .await;
    let (_, _, token) = owner_with_token(&db, "owner@roles.test", "owner-password").await;

    let worker_env = [
        ("WEBHOOK_LEASE_SECONDS", "2"),
        ("WEBHOOK_CONCURRENCY", "16"),
    ];
    let mut web = Binary::start(&db, &["--role", "web"], &[], None);
    let mut first = Binary::start(&db, &["--role", "worker"], &worker_env, None);
    let mut second = Binary::start(
        &db,
        &[],
        &[("ROLE", "worker"), worker_env[0], worker_env[1]],
        None,
    );
    assert_eq!(web.ready().await, json!({"status": "ready"}));
    for worker in [&mut first, &mut second] {
        let ready = worker.ready().await;
        assert!(
            ready["worker"]["last_tick_seconds_ago"].as_f64().unwrap() < 30.0,
            "{ready}"
        );
    }
    // A worker serves no pages; the web instance delivers nothing (nothing arrives before
    // the workers run, and the web's readiness says nothing of a worker).
    let page = reqwest::get(format!("{}/login", first.base)).await.unwrap();
    assert_eq!(page.status(), 404);

    let client = reqwest::Client::new();
    add_destinations(&client, &web, &token, |_| receiver.url.clone()).await;
    let expected = DESTINATIONS * TICKETS;
    let burst = futures::future::join_all((0..TICKETS).map(|i| {
        let (client, url, token) = (client.clone(), format!("{}/api/tickets", web.base), token.clone());
        async move {
            let body = json!({"subject": format!("Ticket {i}"), "body": "Help", "contact": {"name": "Jane", "email": format!("jane{i}@example.com")}});
            let response = client.post(url).bearer_auth(&token).json(&body).send().await.unwrap();
            assert_eq!(response.status(), 201);
        }
    }));
    let kill_first = async {
        receiver.wait_for(expected / 5).await;
        first.child.kill().unwrap();
        first.child.wait().unwrap();
        // What was leased then (the killed worker's attempts under way or unrecorded, and the
        // other's): only these may be delivered twice.
        (unique_ulids(&receiver).0, leased_now(&db.pool).await)
    };
    let (_, (delivered_before, leased)) = tokio::join!(burst, kill_first);
    assert!(
        delivered_before < expected,
        "the kill came before the end of the burst"
    );

    // Done when every delivery is recorded as succeeded: what the killed worker had under
    // way is attempted again once its lease (2 s) expires.
    until_all_succeeded(&db.pool, expected).await;
    let (unique, total) = unique_ulids(&receiver);
    eprintln!(
        "roles test: 1 web + 2 workers, one SIGKILLed after {delivered_before} deliveries ({leased} leased): {unique} of {expected} delivered, {} duplicates",
        total - unique
    );
    assert_eq!(unique, expected, "every delivery arrived");
    assert!(
        total - unique <= leased,
        "{} duplicates, {leased} deliveries leased at the kill: only those may repeat",
        total - unique
    );
    web.stop();
    second.stop();
}

/// The intake fans out each batch of tickets before taking the next, so a web instance with
/// no worker anywhere still queues every new ticket's deliveries, once per destination, and
/// marks its event done: nothing is left for a worker's fan-out.
#[tokio::test]
async fn a_web_instance_queues_its_new_tickets_deliveries_itself() {
    let db = spawn_database().await;
    let (_, _, token) = owner_with_token(&db, "owner@roles.test", "owner-password").await;
    let mut web = Binary::start(&db, &["--role", "web"], &[], None);
    assert_eq!(web.ready().await, json!({"status": "ready"}));
    let client = reqwest::Client::new();
    // Never called: no worker runs.
    add_destinations(&client, &web, &token, |i| {
        format!("http://127.0.0.1:9/hook{i}")
    })
    .await;
    let tickets = 20;
    futures::future::join_all((0..tickets).map(|i| {
        let (client, url, token) = (client.clone(), format!("{}/api/tickets", web.base), token.clone());
        async move {
            let body = json!({"subject": format!("Ticket {i}"), "body": "Help", "contact": {"name": "Jane", "email": "jane@example.com"}});
            let response = client.post(url).bearer_auth(&token).json(&body).send().await.unwrap();
            assert_eq!(response.status(), 201);
        }
    }))
    .await;

    let expected = (tickets * DESTINATIONS) as i64;
    eventually(
        "the web instance queues every delivery",
        Duration::from_secs(10),
        || async {
            let (queued, pairs): (i64, i64) = sqlx::query_as(
                "SELECT count(*), count(DISTINCT (d.event_id, d.destination_id))
             FROM webhook_queue q JOIN webhook_deliveries d ON d.id = q.delivery_id",
            )
            .fetch_one(&db.pool)
            .await
            .unwrap();
            assert_eq!(queued, pairs, "one delivery per event and destination");
            (queued == expected).then_some(())
        },
    )
    .await;
    let pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE NOT webhooks_fanned_out")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(pending, 0, "every event is marked fanned out");
    web.stop();
}

/// `DESTINATIONS` workspace destinations of `ticketOpened`, the i-th at `url(i)`.
async fn add_destinations(
    client: &reqwest::Client,
    web: &Binary,
    token: &str,
    url: impl Fn(usize) -> String,
) {
    for i in 0..DESTINATIONS {
        let body = json!({"scope": "workspace", "url": url(i), "events": ["ticketOpened"], "name": format!("d{i}")});
        let created = client
            .post(format!("{}/api/webhook-destinations", web.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    }
}
