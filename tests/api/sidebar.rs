//! Custom sidebar sections through HTTP, with real endpoint servers and a real SMTP listener
//! on loopback: one test per promise of the spec.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestWorkspace, error_of, spawn_app, spawn_app_with};
use crate::receiver::{Behaviour, Receiver};
use crate::smtp::SmtpSink;

const SPEC_EXAMPLE: &str = r#"{"data":[
  {"name":"Plan","value":"**Pro** plan","type":"markdown"},
  {"name":"MRR","value":1234567.5,"type":"numeric"},
  {"name":"Member since","value":"2025-06-15T00:00:00Z","type":"date"},
  {"name":"Active","value":true,"type":"boolean"},
  {"name":"Trial","value":false,"type":"boolean"},
  {"name":"Dashboard","value":"https://app.example.com/users/123","type":"url"}]}"#;

const LOOPBACK: &[(&str, &str)] = &[
    ("OUTBOUND_ALLOW_PRIVATE", "true"),
    ("OUTBOUND_ALLOW_HTTP", "true"),
];

struct Setup {
    app: TestApp,
    ws: TestWorkspace,
    channel: i64,
    other_channel: i64,
}

async fn setup_with(env: &[(&str, &str)]) -> Setup {
    let mut vars = LOOPBACK.to_vec();
    vars.extend_from_slice(env);
    let app = spawn_app_with(&vars).await;
    let ws = app.create_workspace("Acme").await;
    let api = app.api(&ws.admin);
    let channel = api
        .post("/api/channels", &json!({"name": "Billing"}))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let other_channel = api
        .post("/api/channels", &json!({"name": "Support"}))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    Setup {
        app,
        ws,
        channel,
        other_channel,
    }
}

async fn setup() -> Setup {
    setup_with(&[]).await
}

impl Setup {
    async fn section(&self, url: &str, extra: Value) -> Value {
        let mut body =
            json!({"title": "Billing Info", "endpoint_url": url, "channel_ids": [self.channel]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let response = self
            .app
            .api(&self.ws.admin)
            .post("/api/sidebar-sections", &body)
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "{}",
            response.text().await.unwrap()
        );
        response.json().await.unwrap()
    }

    async fn ticket(&self, email: &str, channel: Option<i64>) -> i64 {
        let mut body =
            json!({"subject": "Help", "body": "Hi", "contact": {"name": "Jane", "email": email}});
        if let Some(c) = channel {
            body["channel_id"] = json!(c);
        }
        self.app.create_ticket(&self.ws.agent, body).await["id"]
            .as_i64()
            .unwrap()
    }

    async fn sidebar(&self, ticket: i64) -> Vec<Value> {
        let response = self
            .app
            .api(&self.ws.agent)
            .get(&format!("/api/tickets/{ticket}/sidebar"))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Vec<Value>>().await.unwrap()
    }

    async fn section_row(&self, id: i64) -> Value {
        self.app
            .api(&self.ws.admin)
            .get(&format!("/api/sidebar-sections/{id}"))
            .await
            .json()
            .await
            .unwrap()
    }
}

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
        assert_eq!(load["error"], "the endpoint answered HTTP 500");
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
    let second = s.app.spawn_instance(LOOPBACK).await;
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
    assert_eq!(loads[0]["error"], "timed out");
    assert_eq!(
        loads[1]["status"], "ok",
        "a slow section does not hold up the others"
    );
}

#[tokio::test]
async fn the_tenth_consecutive_failure_disables_the_section_and_mails_the_owner_once() {
    let smtp = SmtpSink::start().await;
    let s = setup_with(&[("SMTP_URL", &smtp.url)]).await;
    let endpoint = Receiver::start(Behaviour::Respond(503, "down".into())).await;
    let id = s.section(&endpoint.url, json!({})).await["id"]
        .as_i64()
        .unwrap();
    // Ten different contacts at once: ten separate calls, all failing, counted atomically.
    let tickets: Vec<i64> = futures::future::join_all((0..12).map(|i| s.ticket_owned(i))).await;
    futures::future::join_all(tickets.iter().map(|t| s.sidebar(*t))).await;

    let section = s.section_row(id).await;
    assert_eq!(section["enabled"], false);
    assert_eq!(section["consecutive_failures"], 10);
    assert!(
        section["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("10 consecutive failures")
    );
    let calls = endpoint.requests().len();
    assert!((10..=12).contains(&calls), "{calls} calls");

    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].rcpt_to, vec![s.ws.owner.email.clone()]);
    assert!(mails[0].data.contains("Billing Info"));
    assert!(
        mails[0]
            .data
            .contains("Last error: the endpoint answered HTTP 503"),
        "{}",
        mails[0].data
    );
    assert!(
        mails[0]
            .data
            .contains(&format!("/settings/sidebar-sections/{id}"))
    );

    // Disabled: no more calls, no more mail.
    let load = s.sidebar(tickets[0]).await.remove(0);
    assert_eq!(load["status"], "disabled");
    assert_eq!(endpoint.requests().len(), calls);
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM mail_outbox")
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
    assert_eq!(queued, 1, "exactly one mail was queued");
    // The sender marks it sent just after the SMTP server accepts it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sent: i64 =
            sqlx::query_scalar("SELECT count(*) FROM mail_outbox WHERE sent_at IS NOT NULL")
                .fetch_one(&s.app.pool)
                .await
                .unwrap();
        if sent == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the mail was never marked sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(smtp.mails().len(), 1);
}

impl Setup {
    async fn ticket_owned(&self, i: usize) -> i64 {
        self.ticket(&format!("contact{i}@example.com"), Some(self.channel))
            .await
    }
}

#[tokio::test]
async fn a_success_resets_the_count_and_re_enabling_starts_again() {
    let s = setup().await;
    let failing = Receiver::start(Behaviour::Respond(500, "{}".into())).await;
    let id = s.section(&failing.url, json!({})).await["id"]
        .as_i64()
        .unwrap();
    let ticket = s.ticket("jane@example.com", Some(s.channel)).await;
    for _ in 0..10 {
        s.sidebar(ticket).await;
    }
    assert_eq!(s.section_row(id).await["enabled"], false);
    let without_smtp: (Option<chrono::DateTime<chrono::Utc>>, i64) =
        sqlx::query_as("SELECT max(logged_at), count(*) FROM mail_outbox")
            .fetch_one(&s.app.pool)
            .await
            .unwrap();
    assert_eq!(
        without_smtp.1, 1,
        "with no SMTP_URL the mail is kept in the outbox"
    );

    let response = s
        .app
        .api(&s.ws.admin)
        .post(&format!("/api/sidebar-sections/{id}/enable"), &json!({}))
        .await;
    let section: Value = response.json().await.unwrap();
    assert_eq!(
        (
            section["enabled"].clone(),
            section["consecutive_failures"].clone()
        ),
        (json!(true), json!(0))
    );
    assert_eq!(section["disabled_at"], Value::Null);
    for _ in 0..3 {
        s.sidebar(ticket).await;
    }
    assert_eq!(s.section_row(id).await["consecutive_failures"], 3);

    // Point it at a healthy endpoint: one success resets the count.
    let healthy = Receiver::start(Behaviour::Respond(200, SPEC_EXAMPLE.into())).await;
    s.app
        .api(&s.ws.admin)
        .client
        .patch(s.app.url(&format!("/api/sidebar-sections/{id}")))
        .bearer_auth(&s.ws.admin.token)
        .json(&json!({"endpoint_url": healthy.url}))
        .send()
        .await
        .unwrap();
    assert_eq!(s.sidebar(ticket).await[0]["status"], "ok");
    assert_eq!(s.section_row(id).await["consecutive_failures"], 0);
}

#[tokio::test]
async fn the_test_button_shows_the_raw_response_and_touches_nothing() {
    let s = setup().await;
    let endpoint = Receiver::start(Behaviour::Respond(500, r#"{"error":"boom"}"#.into())).await;
    let id = s.section(&endpoint.url, json!({})).await["id"]
        .as_i64()
        .unwrap();
    let report: Value = s
        .app
        .api(&s.ws.admin)
        .post(&format!("/api/sidebar-sections/{id}/test"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["response"]["status"], 500);
    assert_eq!(report["response"]["body"], r#"{"error":"boom"}"#);
    assert!(
        report["response"]["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h[0] == "x-receiver")
    );
    assert_eq!(report["request"]["body"], r#"{"email":"test@example.com"}"#);
    assert_eq!(
        endpoint.wait_for(1).await[0].body,
        r#"{"email":"test@example.com"}"#.as_bytes()
    );
    assert_eq!(
        s.section_row(id).await["consecutive_failures"],
        0,
        "a test never counts as a failure"
    );

    let good = Receiver::start(Behaviour::Respond(200, r#"{"data":[{"name":"Plan","value":"Pro","type":"markdown"},{"name":"X","value":"y","type":"chart"}]}"#.into())).await;
    s.app
        .api(&s.ws.admin)
        .client
        .patch(s.app.url(&format!("/api/sidebar-sections/{id}")))
        .bearer_auth(&s.ws.admin.token)
        .json(&json!({"endpoint_url": good.url}))
        .send()
        .await
        .unwrap();
    let report: Value = s
        .app
        .api(&s.ws.admin)
        .post(&format!("/api/sidebar-sections/{id}/test"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(
        report["problems"],
        json!(["Item 2: unknown type \"chart\""])
    );
    assert!(report["preview_html"].as_str().unwrap().contains("Pro"));
    let cached: i64 = sqlx::query_scalar("SELECT count(*) FROM sidebar_cache")
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
    assert_eq!(cached, 0, "a test neither reads nor fills the cache");
}

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
    assert!(
        load["error"]
            .as_str()
            .unwrap()
            .contains("larger than 256 KiB"),
        "{load}"
    );
}

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
        .get("/api/sidebar-sections")
        .await
        .json()
        .await
        .unwrap();
    assert!(as_agent[0].get("secret").is_none());
    let as_owner: Vec<Value> = s
        .app
        .api(&s.ws.owner)
        .get("/api/sidebar-sections")
        .await
        .json()
        .await
        .unwrap();
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
        .get("/api/sidebar-sections")
        .await
        .json()
        .await
        .unwrap();
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
        .get("/api/sidebar-sections")
        .await
        .json()
        .await
        .unwrap();
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
