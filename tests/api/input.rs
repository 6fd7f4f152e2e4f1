//! Bad input gets a clear 4xx in the error shape, naming the field, and stores nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{error_of, spawn_app, ticket_body};

#[tokio::test]
async fn creating_a_ticket_rejects_each_bad_field_by_name() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let api = app.api(&ws.agent);
    let good = ticket_body("Subject", "j@example.com");
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"body": "b", "contact": {"name": "J", "email": "j@example.com"}}),
            "subject",
        ),
        (
            {
                let mut b = good.clone();
                b["subject"] = json!("   ");
                b
            },
            "subject",
        ),
        (
            {
                let mut b = good.clone();
                b["subject"] = json!("x".repeat(501));
                b
            },
            "subject",
        ),
        (
            {
                let mut b = good.clone();
                b["subject"] = json!(42);
                b
            },
            "subject",
        ),
        (
            {
                let mut b = good.clone();
                b["body"] = json!("");
                b
            },
            "body",
        ),
        (
            {
                let mut b = good.clone();
                b["contact"]["email"] = json!("not-an-email");
                b
            },
            "contact.email",
        ),
        (
            {
                let mut b = good.clone();
                b["contact"]["name"] = json!("");
                b
            },
            "contact.name",
        ),
        (
            {
                let mut b = good.clone();
                b["contact"] = json!(null);
                b
            },
            "contact",
        ),
        (
            {
                let mut b = good.clone();
                b["channel_id"] = json!("seven");
                b
            },
            "channel_id",
        ),
        (
            {
                let mut b = good.clone();
                b["channel_id"] = json!(12345);
                b
            },
            "channel_id",
        ),
    ];
    for (body, field) in cases {
        let (status, code, named) = error_of(api.post("/api/tickets", &body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(code, "validation_failed");
        assert_eq!(named.as_deref(), Some(field), "{body}");
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tickets")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn malformed_bodies_are_bad_requests() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let api = app.api(&ws.agent);
    let (status, code, _) = error_of(
        api.post_raw("/api/tickets", "application/json", "{not json")
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    let (status, _, _) = error_of(api.post_raw("/api/tickets", "text/plain", "hello").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn messages_notes_assignee_and_status_reject_bad_input() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let id = app
        .create_ticket(&ws.agent, ticket_body("Help", "j@example.com"))
        .await["id"]
        .as_i64()
        .unwrap();
    let api = app.api(&ws.agent);
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "post",
            "messages",
            json!({"from": "robot", "body": "hi"}),
            "from",
        ),
        (
            "post",
            "messages",
            json!({"from": "agent", "body": "  "}),
            "body",
        ),
        ("post", "messages", json!({"from": "agent"}), "body"),
        (
            "post",
            "messages",
            json!({"from": "agent", "body": "x".repeat(100_001)}),
            "body",
        ),
        ("post", "notes", json!({"body": ""}), "body"),
        ("post", "notes", json!({}), "body"),
        ("put", "assignee", json!({}), "user_id"),
        ("put", "assignee", json!({"user_id": "alex"}), "user_id"),
        ("put", "assignee", json!({"user_id": 999_999}), "user_id"),
        ("put", "status", json!({"status": "pending"}), "status"),
        ("put", "status", json!({}), "status"),
    ];
    for (method, action, body, field) in cases {
        let path = format!("/api/tickets/{id}/{action}");
        let response = if method == "post" {
            api.post(&path, &body).await
        } else {
            api.put(&path, &body).await
        };
        let (status, _, named) = error_of(response).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{action} {body}");
        assert_eq!(named.as_deref(), Some(field), "{action} {body}");
    }
    assert_eq!(
        app.event_kinds(id).await,
        ["ticket_opened"],
        "no bad input recorded anything"
    );
}

#[tokio::test]
async fn channels_reject_empty_and_duplicate_names() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let api = app.api(&ws.admin);
    let (status, _, field) = error_of(api.post("/api/channels", &json!({"name": " "})).await).await;
    assert_eq!(
        (status, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("name"))
    );
    assert_eq!(
        api.post("/api/channels", &json!({"name": "Support"}))
            .await
            .status(),
        StatusCode::CREATED
    );
    let (status, code, field) =
        error_of(api.post("/api/channels", &json!({"name": "support"})).await).await;
    assert_eq!(
        (status, code.as_str(), field.as_deref()),
        (StatusCode::CONFLICT, "conflict", Some("name"))
    );
}

#[tokio::test]
async fn malformed_or_unknown_ids_are_not_found() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let api = app.api(&ws.agent);
    for path in [
        "/api/tickets/abc",
        "/api/tickets/99999999",
        "/api/tickets/-1",
        "/api/nothing-here",
    ] {
        let (status, code, _) = error_of(api.get(path).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_failed_page_form_shows_the_error_and_keeps_the_draft() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let id = app
        .create_ticket(&ws.agent, ticket_body("Help", "j@example.com"))
        .await["id"]
        .as_i64()
        .unwrap();
    let browser = app.browser(&ws.admin).await;
    let response = browser
        .submit("/settings/channels", &[("name", "   ")])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Channel name can&#39;t be empty")
    );

    let long_draft = "y".repeat(100_001);
    let response = browser
        .submit(&format!("/tickets/{id}/reply"), &[("body", &long_draft)])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("at most 100000 characters"));
    assert!(html.contains(&long_draft), "the typed reply is kept");
}

#[tokio::test]
async fn a_nul_character_in_text_is_refused_not_a_server_error() {
    let app = crate::helpers::spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let response = app
        .api(&ws.admin)
        .post(
            "/api/channels",
            &serde_json::json!({"name": "Sup\u{0}port"}),
        )
        .await;
    let (status, _, field) = crate::helpers::error_of(response).await;
    assert_eq!((status.as_u16(), field.as_deref()), (422, Some("name")));
    // Where no field rule looks (a login's email), PostgreSQL's refusal is a 400, not a 500.
    let login = reqwest::Client::new()
        .post(app.url("/login"))
        .form(&[("email", "a\u{0}@acme.test"), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 400);
}
