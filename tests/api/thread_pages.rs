//! A ticket's thread is read a page at a time, and a ticket holds a bounded number of
//! messages and notes.

use serde_json::{Value, json};

use crate::helpers::{error_of, spawn_app, ticket_body};

#[tokio::test]
async fn a_long_thread_is_read_a_page_at_a_time_on_the_api_and_the_page() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let ticket = app
        .create_ticket(&ws.agent, ticket_body("Long", "jane@example.com"))
        .await;
    let id = ticket["id"].as_i64().unwrap();
    let api = app.api(&ws.agent);
    for n in 0..60 {
        let reply = json!({"from": "contact", "body": format!("message {n}")});
        assert_eq!(
            api.post(&format!("/api/tickets/{id}/messages"), &reply)
                .await
                .status(),
            201
        );
    }
    let newest: Value = api.get_json(&format!("/api/tickets/{id}")).await;
    let messages = newest["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 50);
    assert_eq!(
        messages[49]["body"], "message 59",
        "the newest, oldest first"
    );
    let before = newest["earlier_messages_before"]
        .as_i64()
        .expect("earlier messages exist");
    assert_eq!(newest["earlier_notes_before"], Value::Null);
    let earlier: Value = api
        .get_json(&format!(
            "/api/tickets/{id}?messages_before={before}&limit=100"
        ))
        .await;
    let rest = earlier["messages"].as_array().unwrap();
    assert_eq!(
        rest.len(),
        11,
        "the first message and the ten replies before the page"
    );
    assert_eq!(earlier["earlier_messages_before"], Value::Null);
    let (status, _, field) =
        error_of(api.get(&format!("/api/tickets/{id}?limit=1000")).await).await;
    assert_eq!((status.as_u16(), field.as_deref()), (422, Some("limit")));

    let browser = app.browser(&ws.agent).await;
    let html = browser.get_html(&format!("/tickets/{id}")).await;
    assert!(
        html.contains("Show earlier messages") && !html.contains("message 9<"),
        "{}",
        html.len()
    );
    let html = browser
        .get_html(&format!("/tickets/{id}?messages_before={before}"))
        .await;
    assert!(html.contains("message 9<") && !html.contains("Show earlier messages"));
}

#[tokio::test]
async fn a_full_ticket_refuses_one_more_message_or_note_and_keeps_what_it_has() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let ticket = app
        .create_ticket(&ws.agent, ticket_body("Full", "jane@example.com"))
        .await;
    let id = ticket["id"].as_i64().unwrap();
    // Filled by hand to the most a ticket holds (one message is the ticket's first).
    for (table, extra) in [
        ("messages", "author_kind, body"),
        ("notes", "author_id, body"),
    ] {
        let values = if table == "messages" {
            "'contact', 'x'".to_string()
        } else {
            format!("{}, 'x'", ws.agent.id)
        };
        sqlx::query(&format!(
            "INSERT INTO {table} (ulid, workspace_id, ticket_id, {extra})
             SELECT 'u' || g || '{table}', $1, $2, {values} FROM generate_series(1, 5000 - (SELECT count(*) FROM {table} WHERE ticket_id = $2)) g"
        ))
        .bind(ws.id)
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let api = app.api(&ws.agent);
    let (status, code, _) = error_of(
        api.post(
            &format!("/api/tickets/{id}/messages"),
            &json!({"from": "agent", "body": "one more"}),
        )
        .await,
    )
    .await;
    assert_eq!((status.as_u16(), code.as_str()), (409, "conflict"));
    let (status, _, _) = error_of(
        api.post(
            &format!("/api/tickets/{id}/notes"),
            &json!({"body": "one more"}),
        )
        .await,
    )
    .await;
    assert_eq!(status.as_u16(), 409);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE ticket_id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(events, 1, "nothing was recorded for the refused ones");
}
