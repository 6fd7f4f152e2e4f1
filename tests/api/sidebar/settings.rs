//! Configuring sections: secrets, input errors, order, tenancy, and the settings pages.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::helpers::{error_of, spawn_app};
use crate::receiver::{Behaviour, Receiver};

#[tokio::test]
async fn secrets_are_generated_strong_and_shown_only_to_owners_and_admins() {
    let s = setup().await;
    let created = s.section("http://127.0.0.1:9/hook", json!({})).await;
    let secret = created["secret"].as_str().unwrap();
    assert!(
        secret.len() >= 64 && secret.chars().all(|c| c.is_ascii_hexdigit()),
        "{secret}"
    );
    let as_agent: Vec<Value> = s
        .app
        .api(&s.ws.agent)
        .get_json("/api/sidebar-sections")
        .await;
    assert!(as_agent[0].get("secret").is_none());
    let as_owner: Vec<Value> = s
        .app
        .api(&s.ws.owner)
        .get_json("/api/sidebar-sections")
        .await;
    assert_eq!(as_owner[0]["secret"], secret);
    let (status, _, _) = error_of(
        s.app
            .api(&s.ws.agent)
            .post(
                "/api/sidebar-sections",
                &json!({"title": "x", "endpoint_url": "http://127.0.0.1:9/"}),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn bad_section_input_is_refused_by_field() {
    let app = spawn_app().await; // strict outbound rules: no development switches
    let ws = app.create_workspace("Acme").await;
    let other = app.create_workspace("Globex").await;
    let their_channel = app
        .api(&other.admin)
        .post("/api/channels", &json!({"name": "X"}))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .clone();
    let api = app.api(&ws.admin);
    let cases = [
        (json!({"endpoint_url": "https://8.8.8.8/"}), "title"),
        (
            json!({"title": "T", "endpoint_url": "http://8.8.8.8/"}),
            "endpoint_url",
        ),
        (
            json!({"title": "T", "endpoint_url": "https://127.0.0.1/"}),
            "endpoint_url",
        ),
        (
            json!({"title": "T", "endpoint_url": "https://169.254.169.254/"}),
            "endpoint_url",
        ),
        (
            json!({"title": "T", "endpoint_url": "https://8.8.8.8/", "secret": "short"}),
            "secret",
        ),
        (
            json!({"title": "T", "endpoint_url": "https://8.8.8.8/", "channel_ids": [their_channel]}),
            "channel_ids",
        ),
        (
            json!({"title": "T", "endpoint_url": "https://8.8.8.8/", "colour": "red"}),
            "colour",
        ),
    ];
    for (body, field) in cases {
        let (status, _, named) = error_of(api.post("/api/sidebar-sections", &body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(named.as_deref(), Some(field), "{body}");
    }
    let (status, code, field) = error_of(
        api.post(
            "/api/sidebar-sections",
            &json!({"title": "T", "endpoint_url": "https://127.0.0.1/"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str(), field.as_deref()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("endpoint_url")
        ),
        "a loopback endpoint is refused"
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sidebar_sections")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
    // A valid public URL is accepted and https:// is added when missing (never called here).
    let created: Value = api
        .post(
            "/api/sidebar-sections",
            &json!({"title": "T", "endpoint_url": "8.8.8.8/hook"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["endpoint_url"], "https://8.8.8.8/hook");
}

#[tokio::test]
async fn sections_are_ordered_and_reordered() {
    let s = setup().await;
    let mut ids = Vec::new();
    for title in ["A", "B", "C"] {
        ids.push(
            s.section("http://127.0.0.1:9/", json!({"title": title}))
                .await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let response = s
        .app
        .api(&s.ws.admin)
        .client
        .patch(s.app.url(&format!("/api/sidebar-sections/{}", ids[2])))
        .bearer_auth(&s.ws.admin.token)
        .json(&json!({"position": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let list: Vec<Value> = s
        .app
        .api(&s.ws.admin)
        .get_json("/api/sidebar-sections")
        .await;
    let titles: Vec<&str> = list.iter().map(|v| v["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["C", "A", "B"]);
    let ticket = s.ticket("jane@example.com", Some(s.channel)).await;
    let loads = s.sidebar(ticket).await;
    let titles: Vec<&str> = loads.iter().map(|v| v["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["C", "A", "B"]);

    let browser = s.app.browser(&s.ws.admin).await;
    browser
        .submit(
            &format!("/settings/sidebar-sections/{}/move", ids[0]),
            &[("direction", "down")],
        )
        .await;
    let list: Vec<Value> = s
        .app
        .api(&s.ws.admin)
        .get_json("/api/sidebar-sections")
        .await;
    let titles: Vec<&str> = list.iter().map(|v| v["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["C", "B", "A"]);
}

#[tokio::test]
async fn another_workspaces_sections_do_not_exist() {
    let s = setup().await;
    let id = s.section("http://127.0.0.1:9/", json!({})).await["id"]
        .as_i64()
        .unwrap();
    let other = s.app.create_workspace("Globex").await;
    let api = s.app.api(&other.admin);
    assert_eq!(
        api.get(&format!("/api/sidebar-sections/{id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.post(&format!("/api/sidebar-sections/{id}/test"), &json!({}))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.post(&format!("/api/sidebar-sections/{id}/enable"), &json!({}))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let deleted = api
        .client
        .delete(s.app.url(&format!("/api/sidebar-sections/{id}")))
        .bearer_auth(&other.admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NOT_FOUND);
    assert!(
        api.get("/api/sidebar-sections")
            .await
            .json::<Vec<Value>>()
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn admins_manage_sections_from_the_settings_pages() {
    let s = setup().await;
    let endpoint = Receiver::start(Behaviour::Respond(200, SPEC_EXAMPLE.into())).await;
    let browser = s.app.browser(&s.ws.admin).await;
    assert!(
        browser
            .get_html("/settings/sidebar-sections")
            .await
            .contains("No sections yet")
    );

    let channel = s.channel.to_string();
    let response = browser
        .submit(
            "/settings/sidebar-sections",
            &[
                ("title", "Billing Info"),
                ("endpoint_url", "ftp://nope"),
                ("secret", ""),
                ("channel_ids", &channel),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("The URL must be an http:// or https:// URL.")
            && html.contains("value=\"Billing Info\""),
        "typed values are kept"
    );

    let response = browser
        .submit(
            "/settings/sidebar-sections",
            &[
                ("title", "Billing Info"),
                ("endpoint_url", &endpoint.url),
                ("secret", ""),
                ("channel_ids", &channel),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let report = browser
        .submit(&format!("{location}/test"), &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(
        report.contains("HTTP 200 OK"),
        "the raw status line is shown"
    );
    assert!(
        report.contains("&#34;Member since&#34;"),
        "the raw body is shown, escaped"
    );
    assert!(report.contains("js-number"), "and the preview");

    let response = browser.submit(&format!("{location}/disable"), &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let list = browser.get_html("/settings/sidebar-sections").await;
    assert!(
        list.contains(r#"<span class="badge closed">disabled</span>"#)
            && list.contains(">Enable</button>"),
        "{list}"
    );
    // The Enable button brings it back, failure count reset.
    let response = browser.submit(&format!("{location}/enable"), &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let list = browser.get_html("/settings/sidebar-sections").await;
    assert!(
        list.contains(r#"<span class="badge open">enabled</span>"#)
            && list.contains(">Disable</button>"),
        "{list}"
    );
    let agent = s.app.browser(&s.ws.agent).await;
    assert_eq!(
        agent.get("/settings/sidebar-sections").await.status(),
        StatusCode::FORBIDDEN
    );
}
