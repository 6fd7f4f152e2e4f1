//! The event catalog: served publicly, identical to the docs' copy, and strict enough that a
//! payload departing from the spec fails it (every payload the suite receives is checked
//! against it in `Receiver::requests`).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::error_of;
use crate::payload_schemas::{PUBLISHED, example, violations};

#[tokio::test]
async fn the_catalog_is_public_and_the_docs_hold_it_exactly() {
    let app = crate::helpers::spawn_app().await;
    let response = reqwest::get(app.url("/api/webhook-event-types"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "no credentials needed");
    let served: Value = response.json().await.unwrap();
    let published: Value = serde_json::from_str(PUBLISHED).unwrap();
    assert_eq!(
        served, published,
        "docs/webhook-event-types.json is stale: regenerate it with \
         `cargo run -q -- webhook-event-types > docs/webhook-event-types.json`"
    );
    let kinds: Vec<&str> = served["event_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "ticketOpened",
            "newReply",
            "assignedToMe",
            "mentionedInNote",
            "replyOnAssignedTicket",
            "test"
        ]
    );
    for entry in served["event_types"].as_array().unwrap() {
        assert_eq!(
            entry["schema"]["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(
            violations(&entry["example"]),
            Vec::<String>::new(),
            "{}",
            entry["type"]
        );
        assert_eq!(entry["example"]["type"], entry["type"]);
    }
    let workspace_types: Vec<&str> = served["event_types"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["scopes"]
                .as_array()
                .unwrap()
                .contains(&json!("workspace"))
        })
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(workspace_types, ["ticketOpened", "newReply", "test"]);

    let one: Value = reqwest::get(app.url("/api/webhook-event-types/newReply"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one, served["event_types"][1]);
    let missing = reqwest::get(app.url("/api/webhook-event-types/ticketClosed"))
        .await
        .unwrap();
    assert_eq!(error_of(missing).await.0, StatusCode::NOT_FOUND);
}

#[test]
fn the_schemas_refuse_payloads_that_depart_from_the_spec() {
    let refused = |payload: Value, why: &str| {
        assert!(
            !violations(&payload).is_empty(),
            "accepted {why}: {payload}"
        );
    };
    let accepted = |payload: Value, why: &str| {
        assert_eq!(violations(&payload), Vec::<String>::new(), "{why}");
    };

    let opened = example("ticketOpened");
    let mut p = opened.clone();
    p["ticket"]["contact"]
        .as_object_mut()
        .unwrap()
        .remove("email");
    refused(p, "a contact without email");
    let mut p = opened.clone();
    p["extra"] = json!(1);
    refused(p, "a field the spec does not have");
    let mut p = opened.clone();
    p["sent_at"] = json!("2026-06-05 10:00:00");
    refused(p, "a timestamp not in the spec's form");
    let mut p = opened.clone();
    p["ulid"] = json!("01JAB8Z9R2PM3KC4TD5EF6GH7J");
    refused(p, "an upper-case ulid");
    let mut p = opened.clone();
    p["ticket"]["number"] = json!("42");
    refused(p, "a number as a string");
    let mut p = opened.clone();
    p["ticket"]["status"] = json!("pending");
    refused(p, "a status the helpdesk does not have");
    let mut p = opened.clone();
    p["ticket"]["url"] = json!("javascript:alert(1)");
    refused(p, "a ticket url that is not http(s)");
    let mut p = opened.clone();
    p["type"] = json!("newReply");
    refused(p, "another type's name");
    let mut p = opened.clone();
    p["ticket"]["channel"] = Value::Null;
    accepted(p, "a ticket bound to no channel");

    let mut p = example("assignedToMe");
    p["assigned_by"] = Value::Null;
    accepted(p.clone(), "an assignment by no specific user");
    p.as_object_mut().unwrap().remove("assigned_by");
    refused(p, "assigned_by left out rather than null");

    let reply = example("replyOnAssignedTicket");
    let mut note = reply.clone();
    let message = note.as_object_mut().unwrap().remove("message").unwrap();
    note["note"] = message.clone();
    accepted(note.clone(), "a teammate's note under note");
    note["message"] = message;
    refused(note, "both message and note");

    let mut p = example("newReply");
    p["message"]["excerpt"] = json!("x".repeat(501));
    refused(p, "an excerpt past 500 characters");
    let mut p = example("test");
    p["message"] = json!("Hello");
    refused(p, "a test notification with another message");
    refused(json!({"type": "ticketClosed"}), "an unknown type");
}
