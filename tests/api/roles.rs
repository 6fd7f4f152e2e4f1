//! What each role may do.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{error_of, spawn_app, ticket_body};

#[tokio::test]
async fn only_owners_and_admins_create_channels() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let (status, code, _) = error_of(
        app.api(&ws.agent)
            .post("/api/channels", &json!({"name": "Support"}))
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert_eq!(
        app.api(&ws.admin)
            .post("/api/channels", &json!({"name": "Support"}))
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.api(&ws.owner)
            .post("/api/channels", &json!({"name": "Billing"}))
            .await
            .status(),
        StatusCode::CREATED
    );
    let channels: serde_json::Value = app.api(&ws.agent).get_json("/api/channels").await;
    assert_eq!(
        channels.as_array().unwrap().len(),
        2,
        "agents can still read channels"
    );
}

#[tokio::test]
async fn agents_cannot_open_the_channel_settings_page() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let agent = app.browser(&ws.agent).await;
    assert_eq!(
        agent.get("/settings/channels").await.status(),
        StatusCode::FORBIDDEN
    );
    let html = agent.get_html("/settings/profile").await;
    assert!(
        !html.contains("/settings/channels"),
        "agents are not offered the link"
    );
    let admin = app.browser(&ws.admin).await;
    assert_eq!(
        admin.get("/settings/channels").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn every_role_works_tickets() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    for user in [&ws.owner, &ws.admin, &ws.agent] {
        let id = app
            .create_ticket(user, ticket_body("Help", "j@example.com"))
            .await["id"]
            .as_i64()
            .unwrap();
        let api = app.api(user);
        assert_eq!(
            api.post(&format!("/api/tickets/{id}/notes"), &json!({"body": "n"}))
                .await
                .status(),
            StatusCode::CREATED
        );
        assert_eq!(
            api.put(
                &format!("/api/tickets/{id}/assignee"),
                &json!({"user_id": user.id})
            )
            .await
            .status(),
            StatusCode::OK
        );
        assert_eq!(
            api.put(
                &format!("/api/tickets/{id}/status"),
                &json!({"status": "closed"})
            )
            .await
            .status(),
            StatusCode::OK
        );
    }
}
