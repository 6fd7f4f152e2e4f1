//! The call (signed, per channel), its shared cache, and what concurrency and slowness cost.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::receiver::{Behaviour, Receiver};

#[tokio::test]
async fn the_call_posts_the_contacts_email_signed_with_the_secret() {
    let s = setup().await;
    let endpoint = Receiver::start(Behaviour::Respond(200, SPEC_EXAMPLE.into())).await;
    let secret = "my-shared-secret-123";
    s.section(&endpoint.url, json!({"secret": secret})).await;
    let ticket = s.ticket("Jane@Example.com", Some(s.channel)).await;

    let loads = s.sidebar(ticket).await;
    assert_eq!(loads.len(), 1);
    assert_eq!(loads[0]["status"], "ok");
    assert_eq!(loads[0]["cached"], false);
    assert_eq!(
        loads[0]["items"],
        serde_json::from_str::<Value>(SPEC_EXAMPLE).unwrap()["data"]
    );

    let got = endpoint.wait_for(1).await.remove(0);
    assert_eq!(got.body, r#"{"email":"Jane@Example.com"}"#.as_bytes());
    assert_eq!(got.headers["content-type"], "application/json");
    let signature = got.headers["x-there-there-signature"]
        .to_str()
        .unwrap()
        .to_string();
    // Verified by Python's hmac over the bytes the endpoint received.
    let mut python = Command::new("python3")
        .args(["-c", "import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), sys.stdin.buffer.read(), hashlib.sha256).hexdigest())", secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    python.stdin.take().unwrap().write_all(&got.body).unwrap();
    let expected = String::from_utf8(python.wait_with_output().unwrap().stdout).unwrap();
    assert_eq!(signature, expected.trim());
}

#[tokio::test]
async fn a_section_shows_only_on_tickets_of_its_channels() {
    let s = setup().await;
    let endpoint = Receiver::start(Behaviour::Respond(200, SPEC_EXAMPLE.into())).await;
    s.section(&endpoint.url, json!({})).await;
    let elsewhere = s.ticket("a@example.com", Some(s.other_channel)).await;
    let unbound = s.ticket("b@example.com", None).await;
    assert!(s.sidebar(elsewhere).await.is_empty());
    assert!(s.sidebar(unbound).await.is_empty());
    assert!(endpoint.requests().is_empty());
    let browser = s.app.browser(&s.ws.agent).await;
    let html = browser.get_html(&format!("/tickets/{elsewhere}")).await;
    assert!(
        !html.contains("data-section-id"),
        "no section on another channel's ticket"
    );
    let response = browser
        .get(&format!("/tickets/{elsewhere}/sidebar/1"))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn answers_are_cached_per_contact_for_five_minutes() {
    let s = setup().await;
    let endpoint = Receiver::start(Behaviour::Respond(200, SPEC_EXAMPLE.into())).await;
    s.section(&endpoint.url, json!({})).await;
    let jane = s.ticket("jane@example.com", Some(s.channel)).await;
    let jane_again = s.ticket("jane@example.com", Some(s.channel)).await;
    let sam = s.ticket("sam@example.com", Some(s.channel)).await;

    assert_eq!(s.sidebar(jane).await[0]["cached"], false);
    let hit = s.sidebar(jane_again).await;
    assert_eq!(
        hit[0]["cached"], true,
        "the same contact within the window is served from cache"
    );
    assert_eq!(hit[0]["items"].as_array().unwrap().len(), 6);
    assert_eq!(endpoint.requests().len(), 1);

    assert_eq!(
        s.sidebar(sam).await[0]["cached"],
        false,
        "another contact is another entry"
    );
    assert_eq!(endpoint.requests().len(), 2);

    // Four minutes and 59 seconds later: still fresh. Five minutes and one second: stale.
    sqlx::query("UPDATE sidebar_cache SET fetched_at = now() - interval '4 minutes 59 seconds'")
        .execute(&s.app.pool)
        .await
        .unwrap();
    assert_eq!(s.sidebar(jane).await[0]["cached"], true);
    sqlx::query("UPDATE sidebar_cache SET fetched_at = now() - interval '5 minutes 1 second'")
        .execute(&s.app.pool)
        .await
        .unwrap();
    assert_eq!(s.sidebar(jane).await[0]["cached"], false);
    assert_eq!(endpoint.requests().len(), 3);
}

#[tokio::test]
async fn the_cache_window_is_configurable() {
    let s = setup_with(&[("SIDEBAR_CACHE_TTL", "0")]).await;
    let endpoint = Receiver::start(Behaviour::Respond(200, SPEC_EXAMPLE.into())).await;
    s.section(&endpoint.url, json!({})).await;
    let ticket = s.ticket("jane@example.com", Some(s.channel)).await;
    s.sidebar(ticket).await;
    assert_eq!(s.sidebar(ticket).await[0]["cached"], false);
    assert_eq!(endpoint.requests().len(), 2);
}

#[tokio::test]
async fn editing_the_endpoint_secret_or_channels_invalidates_the_cache() {
    let s = setup().await;
    let endpoint = Receiver::start(Behaviour::Respond(200, SPEC_EXAMPLE.into())).await;
    let other = Receiver::start(Behaviour::Respond(200, r#"{"data":[]}"#.into())).await;
    let id = s.section(&endpoint.url, json!({})).await["id"]
        .as_i64()
        .unwrap();
    let ticket = s.ticket("jane@example.com", Some(s.channel)).await;
    let api = s.app.api(&s.ws.admin);
    let path = format!("/api/sidebar-sections/{id}");

    s.sidebar(ticket).await;
    api.client
        .patch(format!("{}{path}", s.app.address))
        .bearer_auth(&s.ws.admin.token)
        .json(&json!({"title": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        s.sidebar(ticket).await[0]["cached"],
        true,
        "a new title keeps the cache"
    );

    for change in [
        json!({"secret": "a-brand-new-secret"}),
        json!({"channel_ids": [s.channel, s.other_channel]}),
        json!({"endpoint_url": other.url}),
    ] {
        let response = api
            .client
            .patch(format!("{}{path}", s.app.address))
            .bearer_auth(&s.ws.admin.token)
            .json(&change)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            s.sidebar(ticket).await[0]["cached"],
            false,
            "after {change}"
        );
    }
    assert_eq!(endpoint.requests().len() + other.requests().len(), 4);
    assert_eq!(other.requests().len(), 1, "the new endpoint is called");
}

#[tokio::test]
async fn failures_are_not_cached() {
    let s = setup().await;
    let endpoint = Receiver::start(Behaviour::Respond(500, "{}".into())).await;
    s.section(&endpoint.url, json!({})).await;
    let ticket = s.ticket("jane@example.com", Some(s.channel)).await;
    for _ in 0..3 {
        let load = s.sidebar(ticket).await.remove(0);
        assert_eq!(load["status"], "error");
        assert_eq!(load["error"], "The endpoint answered with an error");
    }
    assert_eq!(endpoint.requests().len(), 3);
}

#[tokio::test]
async fn concurrent_loads_of_one_contact_share_one_request() {
    let s = setup().await;
    let endpoint = Receiver::start(Behaviour::Delayed(
        Duration::from_millis(500),
        200,
        SPEC_EXAMPLE.into(),
    ))
    .await;
    s.section(&endpoint.url, json!({})).await;
    let ticket = s.ticket("jane@example.com", Some(s.channel)).await;
    let loads = futures::future::join_all((0..25).map(|_| s.sidebar(ticket))).await;
    assert!(loads.iter().all(|l| l[0]["status"] == "ok"));
    assert_eq!(endpoint.requests().len(), 1);
}

#[tokio::test]
async fn concurrent_loads_on_two_instances_share_one_request() {
    let s = setup().await;
    let second = s.app.spawn_instance(crate::helpers::LOOPBACK).await;
    let endpoint = Receiver::start(Behaviour::Delayed(
        Duration::from_millis(600),
        200,
        SPEC_EXAMPLE.into(),
    ))
    .await;
    s.section(&endpoint.url, json!({})).await;
    let ticket = s.ticket("jane@example.com", Some(s.channel)).await;
    let on_second = |_| async {
        let response = reqwest::Client::new()
            .get(format!("{}/api/tickets/{ticket}/sidebar", second.address))
            .bearer_auth(&s.ws.agent.token)
            .send()
            .await
            .unwrap();
        response.json::<Vec<Value>>().await.unwrap()
    };
    let (first, other) = tokio::join!(
        futures::future::join_all((0..10).map(|_| s.sidebar(ticket))),
        futures::future::join_all((0..10).map(on_second)),
    );
    assert!(
        first
            .iter()
            .chain(other.iter())
            .all(|l| l[0]["status"] == "ok")
    );
    assert_eq!(endpoint.requests().len(), 1, "one call for both instances");
}

#[tokio::test]
async fn a_ten_second_endpoint_costs_the_sidebar_three_seconds_and_the_page_nothing() {
    let s = setup().await;
    let slow = Receiver::start(Behaviour::Sleep(Duration::from_secs(10))).await;
    let fast = Receiver::start(Behaviour::Respond(200, SPEC_EXAMPLE.into())).await;
    s.section(&slow.url, json!({"title": "Slow"})).await;
    s.section(&fast.url, json!({"title": "Fast"})).await;
    let ticket = s.ticket("jane@example.com", Some(s.channel)).await;
    let browser = s.app.browser(&s.ws.agent).await;

    let started = Instant::now();
    let (page, sidebar) = tokio::join!(
        async {
            let html = browser.get_html(&format!("/tickets/{ticket}")).await;
            (html, started.elapsed())
        },
        async {
            let loads = s.sidebar(ticket).await;
            (loads, started.elapsed())
        }
    );
    assert!(
        page.1 < Duration::from_millis(1000),
        "the page waited {:?}",
        page.1
    );
    assert!(page.0.contains("Slow") && page.0.contains("Loading"));
    let (loads, took) = sidebar;
    eprintln!(
        "sidebar timing: ticket page HTML in {:?}; sidebar with a 10 s endpoint in {took:?}",
        page.1
    );
    assert!(
        took <= Duration::from_millis(3300),
        "the sidebar took {took:?}"
    );
    assert_eq!(loads[0]["status"], "error");
    assert_eq!(loads[0]["error"], "The endpoint did not answer in time");
    assert_eq!(
        loads[1]["status"], "ok",
        "a slow section does not hold up the others"
    );
}
