//! "Use Test before enabling a section in production": a section's endpoint and secret can be
//! Tested as typed, before anything is saved, and a section can be saved disabled and enabled
//! as a step of its own.

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{LOOPBACK, TestApp, error_of, spawn_app_with};
use crate::receiver::{Behaviour, Receiver};

const DATA: &str = r#"{"data":[{"name":"Plan","value":"Pro","type":"markdown"}]}"#;

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

async fn sections(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sidebar_sections")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_endpoint_and_secret_are_tested_as_typed_and_nothing_is_saved() {
    let app = spawn_app_with(LOOPBACK).await;
    let ws = app.create_workspace("Acme").await;
    let endpoint = Receiver::start(Behaviour::Respond(200, DATA.into())).await;
    let response = app
        .api(&ws.admin)
        .post(
            "/api/sidebar-sections/test",
            &json!({"endpoint_url": endpoint.url, "secret": "typed-secret-123"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["preview_html"].as_str().unwrap().contains("Pro"));
    assert!(report.get("generated_secret").is_none());
    let got = endpoint.wait_for(1).await.remove(0);
    assert_eq!(&got.body[..], br#"{"email":"test@example.com"}"#);
    assert_eq!(
        got.headers["x-there-there-signature"],
        hmac_hex("typed-secret-123", &got.body).as_str()
    );
    assert_eq!(sections(&app).await, 0, "a Test saves nothing");

    // With no secret, one is generated for the Test and returned to be saved with.
    let report: Value = app
        .api(&ws.admin)
        .post(
            "/api/sidebar-sections/test",
            &json!({"endpoint_url": endpoint.url}),
        )
        .await
        .json()
        .await
        .unwrap();
    let generated = report["generated_secret"].as_str().unwrap().to_string();
    let got = endpoint.wait_for(2).await.remove(1);
    assert_eq!(
        got.headers["x-there-there-signature"],
        hmac_hex(&generated, &got.body).as_str()
    );
    // Agents may not call out through it; bad input is refused before any call.
    assert_eq!(
        app.api(&ws.agent)
            .post(
                "/api/sidebar-sections/test",
                &json!({"endpoint_url": endpoint.url})
            )
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let (status, _, field) = error_of(
        app.api(&ws.admin)
            .post(
                "/api/sidebar-sections/test",
                &json!({"endpoint_url": endpoint.url, "secret": "short"}),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("secret"))
    );
    assert_eq!(endpoint.requests().len(), 2);
}

#[tokio::test]
async fn a_section_saved_disabled_is_not_called_until_it_is_enabled() {
    let app = spawn_app_with(LOOPBACK).await;
    let ws = app.create_workspace("Acme").await;
    let endpoint = Receiver::start(Behaviour::Respond(200, DATA.into())).await;
    let channel = app.create_channel(&ws.admin, "Support").await;
    let created: Value = app
        .api(&ws.admin)
        .post(
            "/api/sidebar-sections",
            &json!({"title": "CRM", "endpoint_url": endpoint.url, "channel_ids": [channel], "enabled": false}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["enabled"], false);
    let ticket = app
        .create_ticket(
            &ws.agent,
            json!({"subject": "Hi", "body": "Hi", "contact": {"name": "Jane", "email": "jane@example.com"}, "channel_id": channel}),
        )
        .await;
    let path = format!("/api/tickets/{}/sidebar", ticket["id"]);
    let sidebar: Value = app.api(&ws.agent).get_json(&path).await;
    assert_eq!(sidebar[0]["status"], "disabled", "{sidebar}");
    assert!(endpoint.requests().is_empty());

    let enable = format!("/api/sidebar-sections/{}/enable", created["id"]);
    assert_eq!(
        app.api(&ws.admin).post(&enable, &json!({})).await.status(),
        StatusCode::OK
    );
    let sidebar: Value = app.api(&ws.agent).get_json(&path).await;
    assert_eq!(sidebar[0]["status"], "ok", "{sidebar}");
    assert_eq!(endpoint.requests().len(), 1);
}

#[tokio::test]
async fn the_new_section_form_tests_as_typed_then_saves_disabled_and_enables_as_a_step() {
    let app = spawn_app_with(LOOPBACK).await;
    let ws = app.create_workspace("Acme").await;
    let endpoint = Receiver::start(Behaviour::Respond(200, DATA.into())).await;
    let browser = app.browser(&ws.admin).await;
    let new_form = browser.get_html("/settings/sidebar-sections/new").await;
    assert!(
        new_form.contains(r#"name="enabled" value="on" checked"#),
        "enabled by default"
    );
    assert!(new_form.contains("Test as typed"));

    let tested = browser
        .submit(
            "/settings/sidebar-sections/test-draft",
            &[
                ("title", "CRM"),
                ("endpoint_url", &endpoint.url),
                ("secret", ""),
            ],
        )
        .await;
    assert_eq!(tested.status(), StatusCode::OK);
    let page = tested.text().await.unwrap();
    assert!(
        page.contains("Test result") && page.contains("HTTP 200 OK"),
        "{page}"
    );
    assert!(page.contains(r#"value="CRM""#), "the typed title stays");
    assert_eq!(sections(&app).await, 0);
    // The generated secret is in the form, and is what the Test signed with.
    let marker = r#"id="secret" name="secret" value=""#;
    let start = page.find(marker).unwrap() + marker.len();
    let secret = &page[start..start + page[start..].find('"').unwrap()];
    assert_eq!(secret.len(), 64);
    let got = endpoint.wait_for(1).await.remove(0);
    assert_eq!(
        got.headers["x-there-there-signature"],
        hmac_hex(secret, &got.body).as_str()
    );

    // Saved with "Enabled" unticked: disabled, and the page offers Enable.
    let saved = browser
        .submit(
            "/settings/sidebar-sections",
            &[
                ("title", "CRM"),
                ("endpoint_url", &endpoint.url),
                ("secret", secret),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let location = saved.headers()["location"].to_str().unwrap().to_string();
    let page = browser.get_html(&location).await;
    assert!(
        page.contains(r#"<span class="badge closed">disabled</span>"#),
        "{page}"
    );
    assert!(page.contains("Enable: call it when agents open tickets"));
    let enabled = browser.submit(&format!("{location}/enable"), &[]).await;
    assert_eq!(enabled.status(), StatusCode::SEE_OTHER);
    let page = browser.get_html(&location).await;
    assert!(
        page.contains(r#"<span class="badge open">enabled</span>"#),
        "{page}"
    );
}
