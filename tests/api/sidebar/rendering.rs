//! Rendering what endpoints return: every type, hostile data made inert, size caps.

use serde_json::json;

use super::*;
use crate::receiver::{Behaviour, Receiver};

#[tokio::test]
async fn the_ticket_page_renders_every_type_for_the_browser_to_format() {
    let s = setup().await;
    let endpoint = Receiver::start(Behaviour::Respond(200, SPEC_EXAMPLE.into())).await;
    let id = s.section(&endpoint.url, json!({})).await["id"]
        .as_i64()
        .unwrap();
    let ticket = s.ticket("jane@example.com", Some(s.channel)).await;
    let browser = s.app.browser(&s.ws.agent).await;
    let page = browser.get_html(&format!("/tickets/{ticket}")).await;
    assert!(page.contains(&format!("data-src=\"/tickets/{ticket}/sidebar/{id}\"")));
    let html = browser
        .get_html(&format!("/tickets/{ticket}/sidebar/{id}"))
        .await;
    assert!(html.contains("<strong>Pro</strong> plan"), "{html}");
    assert!(
        html.contains(r#"<data class="js-number" value="1234567.5">"#),
        "{html}"
    );
    assert!(
        html.contains(
            r#"<time class="js-date" data-date-only="true" datetime="2025-06-15" title="2025-06-15">2025-06-15</time>"#
        ),
        "{html}"
    );
    assert!(
        html.contains(r#"aria-label="Yes">✓"#) && html.contains(r#"aria-label="No">✗"#),
        "{html}"
    );
    assert!(html.contains(r#"<a href="https://app.example.com/users/123" target="_blank" rel="noopener noreferrer">"#), "{html}");
}

#[tokio::test]
async fn hostile_endpoint_data_is_rendered_inert() {
    let s = setup().await;
    let hostile = json!({"data": [
        {"name": "<script>alert('name')</script>", "value": "<script>alert(1)</script><img src=x onerror=alert(2)>[click](javascript:alert(3))", "type": "markdown"},
        {"name": "Link", "value": "javascript:alert(4)", "type": "url"},
        {"name": "Data", "value": "data:text/html,<script>alert(5)</script>", "type": "url"},
        {"name": "Quote", "value": "https://x.example/\"><script>alert(6)</script>", "type": "url"},
        {"name": "Num", "value": "<b>7</b>", "type": "numeric"},
        {"name": "Huge", "value": "A".repeat(200_000), "type": "markdown"},
    ]});
    let endpoint = Receiver::start(Behaviour::Respond(200, hostile.to_string())).await;
    let id = s.section(&endpoint.url, json!({})).await["id"]
        .as_i64()
        .unwrap();
    let ticket = s.ticket("jane@example.com", Some(s.channel)).await;
    let browser = s.app.browser(&s.ws.agent).await;
    let html = browser
        .get_html(&format!("/tickets/{ticket}/sidebar/{id}"))
        .await;
    for forbidden in [
        "<script",
        "<img",
        "onerror",
        "href=\"javascript:",
        "href=\"data:",
        "<b>7",
    ] {
        assert!(!html.contains(forbidden), "{forbidden} survived in {html}");
    }
    assert!(
        html.len() < 20_000,
        "huge values are capped ({} bytes)",
        html.len()
    );
}

#[tokio::test]
async fn an_oversized_answer_is_a_failure() {
    let s = setup().await;
    let endpoint = Receiver::start(Behaviour::Huge(1024 * 1024)).await;
    s.section(&endpoint.url, json!({})).await;
    let ticket = s.ticket("jane@example.com", Some(s.channel)).await;
    let load = s.sidebar(ticket).await.remove(0);
    assert_eq!(load["status"], "error");
    assert_eq!(
        load["error"],
        "The endpoint\u{2019}s answer could not be read"
    );
    let section: serde_json::Value = s
        .app
        .api(&s.ws.admin)
        .get_json(&format!("/api/sidebar-sections/{}", load["id"]))
        .await;
    assert!(
        section["last_error"]
            .as_str()
            .unwrap()
            .contains("larger than 256 KiB"),
        "admins see the detail: {section}"
    );
}

#[tokio::test]
async fn an_empty_answer_is_nothing_to_show_collapsed_and_cached() {
    let s = setup().await;
    let endpoint = Receiver::start(Behaviour::Respond(200, r#"{"data":[]}"#.into())).await;
    let id = s.section(&endpoint.url, json!({})).await["id"]
        .as_i64()
        .unwrap();
    let ticket = s.ticket("jane@example.com", Some(s.channel)).await;
    // The API says so plainly: ok, no items; and the answer is cached like any other.
    let first = s.sidebar(ticket).await.remove(0);
    assert_eq!(
        (first["status"].clone(), first["items"].clone()),
        (json!("ok"), json!([]))
    );
    assert_eq!(first["cached"], false);
    assert_eq!(s.sidebar(ticket).await.remove(0)["cached"], true);
    assert_eq!(endpoint.requests().len(), 1);
    // The page's fragment says "empty", for the page to show it collapsed.
    let browser = s.app.browser(&s.ws.agent).await;
    let fragment = browser
        .get(&format!("/tickets/{ticket}/sidebar/{id}"))
        .await;
    assert_eq!(fragment.headers()["x-section-status"], "empty");
    assert!(fragment.text().await.unwrap().contains("Nothing to show"));
}
