//! The spec's own words and boundaries, pinned: the notification type labels on the settings
//! pages, and a custom section secret's minimum length.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{LOOPBACK, error_of, spawn_app_with};

const PERSONAL_LABELS: [&str; 5] = [
    "Ticket opened",
    "New reply on any ticket",
    "Ticket assigned to me",
    "Mentioned in a private note",
    "New reply or private note on a ticket I&#39;m assigned to",
];

#[tokio::test]
async fn the_settings_pages_name_the_notification_types_as_the_spec_does() {
    let app = spawn_app_with(&[]).await;
    let ws = app.create_workspace("Acme").await;
    let browser = app.browser(&ws.admin).await;
    let personal = browser.get_html("/settings/notifications").await;
    for label in PERSONAL_LABELS {
        assert!(personal.contains(label), "personal page lacks {label:?}");
    }
    let workspace = browser.get_html("/settings/workspace-notifications").await;
    for (n, label) in PERSONAL_LABELS.iter().enumerate() {
        // "Supports only Ticket opened and New reply on any ticket".
        assert_eq!(
            workspace.contains(label),
            n < 2,
            "{label:?} on the workspace page"
        );
    }
}

#[tokio::test]
async fn a_custom_section_secret_needs_eight_characters() {
    let app = spawn_app_with(LOOPBACK).await;
    let ws = app.create_workspace("Acme").await;
    let api = app.api(&ws.admin);
    let section = |secret: &str| json!({"title": "CRM", "endpoint_url": "http://127.0.0.1:9/s", "channel_ids": [], "secret": secret});
    let (status, _, field) =
        error_of(api.post("/api/sidebar-sections", &section("1234567")).await).await;
    assert_eq!(
        (status, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("secret"))
    );
    let created = api
        .post("/api/sidebar-sections", &section("12345678"))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: serde_json::Value = created.json().await.unwrap();
    assert_eq!(created["secret"], "12345678");
}
