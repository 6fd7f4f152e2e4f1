//! Every page, checked with axe-core for WCAG 2.0/2.1 A and AA violations.

use fantoccini::Locator;
use serde_json::{Value, json};

use super::*;
use crate::receiver::{Behaviour, Receiver};

#[tokio::test]
async fn every_page_passes_an_automated_wcag_check() {
    let (app, ws, channel) = setup().await;
    let endpoint = Receiver::start(Behaviour::Respond(200, SECTION_DATA.into())).await;
    let section: Value = app
        .api(&ws.admin)
        .post(
            "/api/sidebar-sections",
            &json!({"title": "Billing Info", "endpoint_url": endpoint.url, "channel_ids": [channel]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let destination: Value = app
        .api(&ws.admin)
        .post(
            "/api/webhook-destinations",
            &json!({"scope": "personal", "url": endpoint.url, "events": ["ticketOpened"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let ticket = app
        .create_ticket(&ws.agent, json!({"subject": "Refund please", "body": "Hi", "contact": {"name": "Jane", "email": "jane@example.com"}, "channel_id": channel}))
        .await["id"]
        .as_i64()
        .unwrap();
    let b = Browser::start(&app.address, "wcag").await;
    b.goto("/login").await;
    b.assert_accessible("login").await;
    b.log_in(&ws.admin).await;
    let pages = [
        "/tickets".to_string(),
        format!("/tickets/{ticket}"),
        "/settings/profile".into(),
        "/settings/api-tokens".into(),
        "/settings/security".into(),
        "/settings/team".into(),
        "/settings/channels".into(),
        "/settings/notifications".into(),
        "/settings/workspace-notifications".into(),
        format!("/settings/webhooks/{}", destination["id"]),
        format!("/settings/webhooks/{}/deliveries", destination["id"]),
        "/settings/sidebar-sections".into(),
        "/settings/sidebar-sections/new".into(),
        format!("/settings/sidebar-sections/{}", section["id"]),
        "/no-such-page".into(),
    ];
    for page in pages {
        b.goto(&page).await;
        if page.starts_with("/tickets/") {
            b.client
                .wait()
                .for_element(Locator::Css(".custom-section .section-items"))
                .await
                .unwrap();
        }
        b.assert_accessible(&page).await;
    }
    b.close().await;
}
