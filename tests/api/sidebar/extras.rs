//! What agents and admins reach for next: stale data on failure, per-section refresh,
//! trouble shown before auto-disable, and help for endpoint authors.

use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{LOOPBACK, TestApp, TestWorkspace, error_of, spawn_app_with};
use crate::receiver::{Behaviour, Receiver};

const DATA: &str = r#"{"data":[{"name":"Plan","value":"Pro","type":"markdown"}]}"#;

async fn setup(endpoint: &Receiver) -> (TestApp, TestWorkspace, i64, i64) {
    let app = spawn_app_with(LOOPBACK).await;
    let ws = app.create_workspace("Acme").await;
    let channel = app.create_channel(&ws.admin, "Billing").await;
    let section = app
        .section(&ws.admin, &endpoint.url)
        .set("channel_ids", json!([channel]))
        .create_id()
        .await;
    let ticket = app
        .ticket(&ws.agent)
        .set("channel_id", channel)
        .create_id()
        .await;
    (app, ws, section, ticket)
}

async fn age_cache(app: &TestApp, interval: &str) {
    sqlx::query(&format!(
        "UPDATE sidebar_cache SET fetched_at = now() - interval '{interval}'"
    ))
    .execute(&app.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn the_last_good_answer_is_shown_marked_stale_when_the_endpoint_fails() {
    let endpoint = Receiver::start(Behaviour::Sequence(vec![
        (200, DATA.into()),
        (500, "down".into()),
    ]))
    .await;
    let (app, ws, section, ticket) = setup(&endpoint).await;
    let api = app.api(&ws.agent);
    let first: Vec<Value> = api
        .get_json(&format!("/api/tickets/{ticket}/sidebar"))
        .await;
    assert_eq!(
        (first[0]["status"].clone(), first[0]["stale"].clone()),
        (json!("ok"), json!(false))
    );

    age_cache(&app, "1 hour").await;
    let load = api
        .get(&format!("/api/tickets/{ticket}/sidebar"))
        .await
        .json::<Vec<Value>>()
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        load["status"], "error",
        "a failed refresh is never reported as fresh"
    );
    assert_eq!(load["stale"], true);
    assert_eq!(load["cached"], false);
    assert_eq!(
        load["items"],
        serde_json::from_str::<Value>(DATA).unwrap()["data"]
    );
    assert_eq!(load["error"], "The endpoint answered with an error");
    let section_row: Value = app
        .api(&ws.admin)
        .get_json(&format!("/api/sidebar-sections/{section}"))
        .await;
    assert_eq!(
        section_row["consecutive_failures"], 1,
        "the failure still counts"
    );

    let browser = app.browser(&ws.agent).await;
    let html = browser
        .get_html(&format!("/tickets/{ticket}/sidebar/{section}"))
        .await;
    assert!(html.contains("Stale \u{2014} couldn\u{2019}t refresh: The endpoint answered with an error. Data from 1 hour ago."), "{html}");
    assert!(!html.contains("HTTP 500"), "the detail is for admins");
    assert_eq!(
        section_row["last_error"], "the endpoint answered HTTP 500",
        "admins see it"
    );
    assert!(html.contains("Pro"));

    age_cache(&app, "25 hours").await;
    let load = api
        .get(&format!("/api/tickets/{ticket}/sidebar"))
        .await
        .json::<Vec<Value>>()
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        (load["stale"].clone(), load["items"].clone()),
        (json!(false), Value::Null),
        "older than 24 h: not shown"
    );
}

#[tokio::test]
async fn an_agent_refreshes_one_section_at_most_once_per_ten_seconds() {
    let endpoint = Receiver::start(Behaviour::Respond(200, DATA.into())).await;
    let (app, ws, section, ticket) = setup(&endpoint).await;
    let api = app.api(&ws.agent);
    api.get(&format!("/api/tickets/{ticket}/sidebar")).await;
    assert_eq!(endpoint.requests().len(), 1);

    let refreshed: Value = api
        .post(
            &format!("/api/tickets/{ticket}/sidebar/{section}/refresh"),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (refreshed["status"].clone(), refreshed["cached"].clone()),
        (json!("ok"), json!(false))
    );
    assert_eq!(
        endpoint.requests().len(),
        2,
        "the refresh bypassed a fresh cache"
    );

    let (status, code, _) = error_of(
        api.post(
            &format!("/api/tickets/{ticket}/sidebar/{section}/refresh"),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    let browser = app.browser(&ws.admin).await;
    let token = browser.csrf_token().await;
    let page = browser
        .client
        .post(app.url(&format!("/tickets/{ticket}/sidebar/{section}/refresh")))
        .header("x-csrf-token", token)
        .send()
        .await
        .unwrap();
    let status = page.status();
    let retry_after = page.headers().get("retry-after").cloned();
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the limit is per section and contact, not per agent: {}",
        page.text().await.unwrap()
    );
    let page_retry = retry_after;
    assert!(
        page_retry
            .unwrap()
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            <= 10
    );
    assert_eq!(endpoint.requests().len(), 2);

    let cached: Value = api
        .get(&format!("/api/tickets/{ticket}/sidebar"))
        .await
        .json::<Vec<Value>>()
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        cached["cached"], true,
        "the refreshed answer refilled the cache"
    );

    // Ten seconds later (moved back in the table) the next refresh goes through.
    sqlx::query("UPDATE sidebar_refreshes SET refreshed_at = now() - interval '10 seconds'")
        .execute(&app.pool)
        .await
        .unwrap();
    let again = api
        .post(
            &format!("/api/tickets/{ticket}/sidebar/{section}/refresh"),
            &json!({}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(endpoint.requests().len(), 3);
}

#[tokio::test]
async fn trouble_shows_before_the_section_disables() {
    let endpoint = Receiver::start(Behaviour::Respond(502, "bad gateway".into())).await;
    let (app, ws, _section, ticket) = setup(&endpoint).await;
    let api = app.api(&ws.agent);
    for _ in 0..4 {
        api.get(&format!("/api/tickets/{ticket}/sidebar")).await;
    }
    let browser = app.browser(&ws.admin).await;
    let list = browser.get_html("/settings/sidebar-sections").await;
    assert!(
        list.contains("4 of 10 failures in a row") && !list.contains("Warning: 4"),
        "below half: no warning yet"
    );
    assert!(
        list.contains("Last error: the endpoint answered HTTP 502 ("),
        "the last error and when"
    );
    api.get(&format!("/api/tickets/{ticket}/sidebar")).await;
    let list = browser.get_html("/settings/sidebar-sections").await;
    assert!(
        list.contains("Warning: 5 of 10 failures in a row"),
        "half the limit warns"
    );
}

#[tokio::test]
async fn the_section_page_shows_endpoint_authors_an_exact_signing_example() {
    let endpoint = Receiver::start(Behaviour::Respond(200, DATA.into())).await;
    let (app, ws, section, _) = setup(&endpoint).await;
    let secret = app
        .api(&ws.admin)
        .get_json::<Value>(&format!("/api/sidebar-sections/{section}"))
        .await["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let browser = app.browser(&ws.admin).await;
    let html = browser
        .get_html(&format!("/settings/sidebar-sections/{section}"))
        .await;
    assert!(
        html.contains("{&#34;email&#34;:&#34;customer@example.com&#34;}"),
        "the exact body"
    );
    let marker = "X-There-There-Signature: ";
    let start = html.find(marker).unwrap() + marker.len();
    let shown = &html[start..start + 64];
    // Recomputed independently over the same bytes.
    let mut python = Command::new("python3")
        .args(["-c", "import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), sys.stdin.buffer.read(), hashlib.sha256).hexdigest())", &secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    python
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"email":"customer@example.com"}"#)
        .unwrap();
    assert_eq!(
        String::from_utf8(python.wait_with_output().unwrap().stdout)
            .unwrap()
            .trim(),
        shown
    );
    assert!(
        html.contains("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
        "the fixed vector"
    );

    let report = browser
        .submit(&format!("/settings/sidebar-sections/{section}/test"), &[])
        .await
        .text()
        .await
        .unwrap();
    let sent = endpoint.wait_for(1).await.remove(0);
    let signature = sent.headers["x-there-there-signature"].to_str().unwrap();
    assert!(report.contains(&format!(
        "Signature sent: <code id=\"signature-sent\">X-There-There-Signature: {signature}</code>"
    )));
}

#[tokio::test]
async fn an_endpoint_sets_how_long_its_answer_is_cached() {
    // Asks for 20 s: an answer 25 s old is called again; the default (300 s) would have kept it.
    let endpoint = Receiver::start(Behaviour::Respond(
        200,
        r#"{"data":[{"name":"Plan","value":"Pro","type":"markdown"}],"cache_seconds":20}"#.into(),
    ))
    .await;
    let (app, ws, section, ticket) = setup(&endpoint).await;
    let api = app.api(&ws.agent);
    let load = || async {
        let loads: Vec<Value> = api
            .get_json(&format!("/api/tickets/{ticket}/sidebar"))
            .await;
        loads[0]["cached"].as_bool().unwrap()
    };
    assert!(!load().await);
    age_cache(&app, "15 seconds").await;
    assert!(load().await, "15 s old: still fresh");
    age_cache(&app, "25 seconds").await;
    assert!(!load().await, "25 s old: past the endpoint's 20 s");
    assert_eq!(endpoint.requests().len(), 2);

    // The Test view says so.
    let report: Value = app
        .api(&ws.admin)
        .post(&format!("/api/sidebar-sections/{section}/test"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["cached_for_seconds"], 20);
    assert_eq!(report["cache_seconds_from_endpoint"], true);
    let page = app
        .browser(&ws.admin)
        .await
        .submit(&format!("/settings/sidebar-sections/{section}/test"), &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Cached for 20 seconds (the endpoint"),
        "{page}"
    );
    assert!(page.contains("Answers are cached per contact for 5 minutes, unless"));
}

#[tokio::test]
async fn without_cache_seconds_the_configured_time_holds() {
    let endpoint = Receiver::start(Behaviour::Respond(200, DATA.into())).await;
    let (app, ws, section, ticket) = setup(&endpoint).await;
    let api = app.api(&ws.agent);
    let path = format!("/api/tickets/{ticket}/sidebar");
    let _: Value = api.get_json(&path).await;
    age_cache(&app, "250 seconds").await;
    let second: Vec<Value> = api.get_json(&path).await;
    assert_eq!(second[0]["cached"], true, "under the 300 s default");
    let report: Value = app
        .api(&ws.admin)
        .post(&format!("/api/sidebar-sections/{section}/test"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            report["cached_for_seconds"].clone(),
            report["cache_seconds_from_endpoint"].clone()
        ),
        (json!(300), json!(false))
    );
}
