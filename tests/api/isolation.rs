//! Tenants never see each other's data: another workspace's objects do not exist (404).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{error_of, spawn_app, ticket_body};

#[tokio::test]
async fn another_workspaces_ticket_is_not_found_for_every_action() {
    let app = spawn_app().await;
    let ours = app.create_workspace("Acme").await;
    let theirs = app.create_workspace("Globex").await;
    let id = app
        .create_ticket(&theirs.agent, ticket_body("Secret", "s@example.com"))
        .await["id"]
        .as_i64()
        .unwrap();
    let api = app.api(&ours.owner);

    for path in [
        format!("/api/tickets/{id}"),
        format!("/api/tickets/{id}/events"),
    ] {
        let (status, code, _) = error_of(api.get(&path).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::NOT_FOUND, "not_found"),
            "GET {path}"
        );
    }
    let writes = [
        api.post(
            &format!("/api/tickets/{id}/messages"),
            &json!({"from": "agent", "body": "hi"}),
        )
        .await,
        api.post(
            &format!("/api/tickets/{id}/messages"),
            &json!({"from": "contact", "body": "hi"}),
        )
        .await,
        api.post(&format!("/api/tickets/{id}/notes"), &json!({"body": "hi"}))
            .await,
        api.put(
            &format!("/api/tickets/{id}/assignee"),
            &json!({"user_id": ours.owner.id}),
        )
        .await,
        api.put(
            &format!("/api/tickets/{id}/status"),
            &json!({"status": "closed"}),
        )
        .await,
    ];
    for response in writes {
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(
        app.event_kinds(id).await,
        ["ticket_opened"],
        "nothing happened to their ticket"
    );

    let browser = app.browser(&ours.agent).await;
    assert_eq!(
        browser.get(&format!("/tickets/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn lists_show_only_the_callers_workspace() {
    let app = spawn_app().await;
    let ours = app.create_workspace("Acme").await;
    let theirs = app.create_workspace("Globex").await;
    app.create_ticket(&theirs.agent, ticket_body("Theirs", "s@example.com"))
        .await;
    app.api(&theirs.admin)
        .post("/api/channels", &json!({"name": "Their channel"}))
        .await;
    let api = app.api(&ours.agent);
    let tickets: serde_json::Value = api.get_json("/api/tickets?status=all").await;
    assert_eq!(tickets.as_array().unwrap().len(), 0);
    let channels: serde_json::Value = api.get_json("/api/channels").await;
    assert_eq!(channels.as_array().unwrap().len(), 0);
    let users: serde_json::Value = api.get_json("/api/users").await;
    let emails: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), 3);
    assert!(
        emails.iter().all(|e| e.ends_with("@acme.test")),
        "{emails:?}"
    );
}

#[tokio::test]
async fn another_workspaces_user_or_channel_cannot_be_used() {
    let app = spawn_app().await;
    let ours = app.create_workspace("Acme").await;
    let theirs = app.create_workspace("Globex").await;
    let their_channel: serde_json::Value = app
        .api(&theirs.admin)
        .post("/api/channels", &json!({"name": "Support"}))
        .await
        .json()
        .await
        .unwrap();
    let api = app.api(&ours.agent);

    let mut body = ticket_body("Help", "j@example.com");
    body["channel_id"] = their_channel["id"].clone();
    let (status, _, field) = error_of(api.post("/api/tickets", &body).await).await;
    assert_eq!(
        (status, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("channel_id"))
    );

    let id = app
        .create_ticket(&ours.agent, ticket_body("Help", "j@example.com"))
        .await["id"]
        .as_i64()
        .unwrap();
    let response = api
        .put(
            &format!("/api/tickets/{id}/assignee"),
            &json!({"user_id": theirs.agent.id}),
        )
        .await;
    let (status, _, field) = error_of(response).await;
    assert_eq!(
        (status, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("user_id"))
    );
}
