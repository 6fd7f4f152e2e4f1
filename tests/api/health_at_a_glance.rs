//! Health at a glance: a destination's last 24 hours (API and page, with its chart), and the
//! sections list's last success and chart of calls.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{eventually, loopback_with, spawn_app_with};
use crate::receiver::{Behaviour, Receiver};

#[tokio::test]
async fn a_destination_shows_its_last_day_in_figures_and_a_chart() {
    let app = spawn_app_with(&loopback_with(&[("WEBHOOK_RETRY_DELAYS", "0.1")])).await;
    let ws = app.create_workspace("Acme").await;
    let receiver = Receiver::start(Behaviour::Sequence(vec![
        (200, "{}".into()),
        (500, "down".into()),
        (500, "down".into()),
    ]))
    .await;
    let destination = app
        .destination(&ws.admin, &receiver.url)
        .set("events", json!(["ticketOpened"]))
        .create_id()
        .await;
    let path = format!("/api/webhook-destinations/{destination}/health");
    let empty: Value = app.api(&ws.admin).get_json(&path).await;
    assert_eq!(
        (empty["attempts"].clone(), empty["success_rate"].clone()),
        (json!(0), Value::Null)
    );

    // One delivery succeeds; the next fails twice (its last attempt).
    app.ticket(&ws.agent).create().await;
    receiver.wait_for(1).await;
    app.ticket(&ws.agent).create().await;
    let health = eventually(
        "both attempts of the second are recorded",
        Duration::from_secs(10),
        || async {
            let health: Value = app.api(&ws.admin).get_json(&path).await;
            (health["attempts"] == 3).then_some(health)
        },
    )
    .await;
    assert_eq!(health["succeeded"], 1);
    assert!((health["success_rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(health["consecutive_failures"], 2);
    assert_eq!(health["last_failure_error"], "HTTP 500");
    assert!(health["last_success_at"].is_string() && health["last_failure_at"].is_string());
    let hourly = health["hourly"].as_array().unwrap();
    let (ok, failed) = hourly.iter().fold((0, 0), |(ok, failed), h| {
        (
            ok + h["succeeded"].as_i64().unwrap(),
            failed + h["failed"].as_i64().unwrap(),
        )
    });
    assert_eq!((ok, failed), (1, 2));

    // An agent cannot read the workspace destination's health.
    let refused = app.api(&ws.agent).get(&path).await;
    assert_eq!(refused.status(), 404);

    let page = app
        .browser(&ws.admin)
        .await
        .get_html(&format!("/settings/webhooks/{destination}"))
        .await;
    assert!(page.contains("33.3% (1 of 3 attempts)"), "{page}");
    assert!(page.contains(": HTTP 500"));
    assert!(page.contains("<svg class=\"hourly-chart\" role=\"img\""));
    assert_eq!(page.matches("<g><title>").count(), 24, "a bar per hour");
    assert!(
        page.contains(" UTC: 1 ok, 2 failed</title>"),
        "this hour's bar"
    );
}

#[tokio::test]
async fn the_sections_list_shows_the_last_success_and_calls_per_hour() {
    let app = spawn_app_with(&loopback_with(&[])).await;
    let ws = app.create_workspace("Acme").await;
    let endpoint = Receiver::start(Behaviour::Sequence(vec![
        (200, r#"{"data":[]}"#.into()),
        (500, "down".into()),
    ]))
    .await;
    let channel = app.create_channel(&ws.admin, "Billing").await;
    app.section(&ws.admin, &endpoint.url)
        .set("channel_ids", json!([channel]))
        .create()
        .await;
    let list = app.browser(&ws.admin).await;
    let before = list.get_html("/settings/sidebar-sections").await;
    assert!(before.contains("Last success: none yet"));
    for email in ["a@example.com", "b@example.com"] {
        let ticket = app
            .ticket(&ws.agent)
            .set("contact", json!({"name": "C", "email": email}))
            .set("channel_id", channel)
            .create_id()
            .await;
        app.api(&ws.agent)
            .get(&format!("/api/tickets/{ticket}/sidebar"))
            .await;
    }
    let page = list.get_html("/settings/sidebar-sections").await;
    assert!(!page.contains("Last success: none yet"), "{page}");
    assert!(page.contains(" UTC: 1 ok, 1 failed</title>"), "{page}");
}
