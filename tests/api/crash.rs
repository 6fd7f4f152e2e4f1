//! Crash safety: the real binary, killed with SIGKILL in the middle of a burst of 1,000
//! deliveries and started again, delivers every one (duplicates only for attempts in flight);
//! stopped with SIGTERM, it gives back what it claimed and had not started.

use std::time::{Duration, Instant};

use therethere::helpdesk::intake::{NewContact, NewTicket, receive_ticket};
use therethere::helpdesk::users::{NewUser, Role};
use therethere::helpdesk::workspaces::create_workspace;

use crate::helpers::{
    Binary, TestApp, leased_now, spawn_database, unique_ulids, until_all_succeeded,
};
use crate::receiver::{Behaviour, Receiver};

const DESTINATIONS: usize = 10;
const TICKETS: usize = 100;
const CONCURRENCY: usize = 64;

fn start_binary(db: &TestApp) -> Binary {
    let env = [
        ("WEBHOOK_LEASE_SECONDS", "2"),
        ("WEBHOOK_CONCURRENCY", &CONCURRENCY.to_string()),
    ];
    Binary::start(db, &[], &env, None)
}

/// A workspace with `destinations` destinations to `receiver` for new tickets, and `tickets`
/// tickets received: events waiting for a worker to fan them out.
async fn queue_tickets(db: &TestApp, receiver: &Receiver, destinations: usize, tickets: usize) {
    let mut tx = db.pool.begin().await.unwrap();
    let (ws, _) = create_workspace(
        &mut tx,
        "Acme",
        NewUser {
            name: "Owner",
            email: "owner@crash.test",
            handle: "owner",
            password: "owner-password",
            role: Role::Owner,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    for _ in 0..destinations {
        sqlx::query(
            "INSERT INTO webhook_destinations (workspace_id, url, events, secret) VALUES ($1, $2, '{ticketOpened}', 'whsec_test')",
        )
        .bind(ws.id)
        .bind(&receiver.url)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    for i in 0..tickets {
        let ticket = NewTicket {
            subject: format!("Ticket {i}"),
            body: "Help".into(),
            contact: NewContact {
                name: "Jane".into(),
                email: format!("jane{i}@example.com"),
            },
            channel_id: None,
        };
        receive_ticket(&db.pool, &db.doorbell(), ws.id, ticket)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_killed_instance_loses_no_delivery() {
    let db = spawn_database().await;
    let receiver = Receiver::start(Behaviour::Delayed(
        Duration::from_millis(100),
        200,
        "{}".into(),
    ))
    .await;
    queue_tickets(&db, &receiver, DESTINATIONS, TICKETS).await;
    let expected = DESTINATIONS * TICKETS;

    let mut first = start_binary(&db);
    receiver.wait_for(expected / 5).await;
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    // What the killed instance had claimed and not yet recorded: attempts in flight, whose
    // leases (2 s) have not expired yet. Only these may be delivered twice.
    let in_flight = leased_now(&db.pool).await;
    let (delivered_before, _) = unique_ulids(&receiver);
    assert!(
        delivered_before < expected,
        "the kill came after the burst ({delivered_before} delivered)"
    );

    let second = start_binary(&db);
    until_all_succeeded(&db.pool, expected).await;
    second.stop();

    let (unique, total) = unique_ulids(&receiver);
    eprintln!(
        "crash test: {delivered_before} delivered before SIGKILL; {in_flight} in flight; {unique} unique after restart; {} duplicates",
        total - unique
    );
    assert_eq!(unique, expected, "every delivery arrived");
    assert!(
        total - unique <= in_flight,
        "{} duplicates, {in_flight} attempts in flight: only those may repeat",
        total - unique
    );
    let unlogged: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_deliveries d WHERE NOT EXISTS (SELECT 1 FROM webhook_attempts a WHERE a.delivery_id = d.id AND a.succeeded)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        unlogged, 0,
        "every delivery has its successful attempt logged"
    );
}

#[tokio::test]
async fn a_stopped_worker_gives_back_what_it_held_and_the_next_delivers_it_at_once() {
    let db = spawn_database().await;
    let receiver =
        Receiver::start(Behaviour::Delayed(Duration::from_secs(3), 200, "{}".into())).await;
    queue_tickets(&db, &receiver, 1, 3).await;
    // One attempt at a time to the destination, so a claim holds two: one under way, one
    // waiting; and a lease far longer than the test, so only giving back frees the second.
    let env = [
        ("WEBHOOK_LEASE_SECONDS", "120"),
        ("WEBHOOK_DESTINATION_CONCURRENCY", "1"),
    ];
    let first = Binary::start(&db, &[], &env, None);
    receiver.wait_for(1).await;
    assert_eq!(leased_now(&db.pool).await, 2, "one under way, one held");
    // SIGTERM: the attempt under way finishes and is recorded; the held one is given back.
    // (Waited for on another thread: the receiver answers on this one.)
    tokio::task::spawn_blocking(move || first.stop())
        .await
        .unwrap();
    assert_eq!(
        receiver.requests().len(),
        1,
        "the held delivery was given back, not attempted while stopping"
    );
    assert_eq!(leased_now(&db.pool).await, 0, "nothing left leased");

    let started = Instant::now();
    let second = Binary::start(&db, &[], &env, None);
    until_all_succeeded(&db.pool, 3).await;
    second.stop();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the given-back delivery waited {:?}",
        started.elapsed()
    );
    assert_eq!(unique_ulids(&receiver), (3, 3), "each delivered once");
}
