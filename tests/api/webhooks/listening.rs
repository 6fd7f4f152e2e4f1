//! A destination hears only of what happens after it exists (and since it was last enabled),
//! however late fan-out runs.

use serde_json::{Value, json};

use crate::helpers::{LOOPBACK, loopback_with, owner_with_token, spawn_database, ticket_body};
use crate::receiver::{Behaviour, Receiver};

#[tokio::test]
async fn a_destination_made_or_enabled_after_an_event_never_receives_it() {
    let db = spawn_database().await;
    let (_, _, token) = owner_with_token(&db, "owner@acme.test", "owner-password").await;
    // Pages and API only: replies wait for a worker to fan them out.
    let web = db.spawn_instance(&loopback_with(&[("ROLE", "web")])).await;
    let api = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        api.post(format!("{}{path}", web.address))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let early = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let paused = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let late = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let destination = |url: &str| json!({"scope": "workspace", "url": url, "events": ["newReply"]});
    post("/api/webhook-destinations", destination(&early.url))
        .await
        .unwrap();
    let paused_id = post("/api/webhook-destinations", destination(&paused.url))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .clone();
    let api_patch = |id: &Value, enabled: bool| {
        api.patch(format!("{}/api/webhook-destinations/{id}", web.address))
            .bearer_auth(&token)
            .json(&json!({"enabled": enabled}))
            .send()
    };
    assert_eq!(api_patch(&paused_id, false).await.unwrap().status(), 200);
    let ticket: Value = post("/api/tickets", ticket_body("Help", "jane@example.com"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reply = post(
        &format!("/api/tickets/{}/messages", ticket["id"]),
        json!({"from": "contact", "body": "Any news?"}),
    )
    .await
    .unwrap();
    assert_eq!(reply.status(), 201);
    // After the reply was recorded: a new destination, and the paused one enabled again.
    post("/api/webhook-destinations", destination(&late.url))
        .await
        .unwrap();
    assert_eq!(api_patch(&paused_id, true).await.unwrap().status(), 200);

    let _worker = db
        .spawn_instance(&loopback_with(&[("ROLE", "worker")]))
        .await;
    early.wait_for(1).await;
    crate::helpers::eventually(
        "every event is fanned out",
        std::time::Duration::from_secs(20),
        || async {
            let left: i64 =
                sqlx::query_scalar("SELECT count(*) FROM events WHERE NOT webhooks_fanned_out")
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
            (left == 0).then_some(())
        },
    )
    .await;
    let deliveries: Vec<(String,)> = sqlx::query_as(
        "SELECT w.url FROM webhook_deliveries d JOIN webhook_destinations w ON w.id = d.destination_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        deliveries,
        vec![(early.url.clone(),)],
        "only the destination that listened when it happened"
    );
    assert!(late.requests().is_empty() && paused.requests().is_empty());
    let _ = LOOPBACK;
}

/// The code that records events rings after its commit, whoever calls it: a writer outside
/// any request (a command, an importer) wakes every instance's fan-out at once.
#[tokio::test]
async fn a_write_outside_any_request_rings_after_its_commit() {
    let app = crate::helpers::spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let ticket = app
        .create_ticket(&ws.agent, ticket_body("Help", "jane@example.com"))
        .await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&app.pool)
        .await
        .unwrap();
    listener
        .listen(therethere::helpdesk::events::NOTIFY_CHANNEL)
        .await
        .unwrap();
    // The bell lives as long as its writer (a serving process keeps one for good).
    let bell = app.doorbell();
    therethere::helpdesk::messages::add_contact_reply(
        &app.pool,
        &bell,
        ws.id,
        ticket["id"].as_i64().unwrap(),
        "Any news?",
    )
    .await
    .unwrap();
    let rung = tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv()).await;
    assert!(rung.is_ok_and(|n| n.is_ok()), "the doorbell rang");
}
