//! What one client or user can take: slow and half-sent requests, overload, big bodies,
//! quotas on what they keep, rate limits on what calls out, and what agents and caches see.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{LOOPBACK, TestApp, TestWorkspace, error_of, spawn_app_with, ticket_body};
use crate::receiver::{Behaviour, Receiver};

/// Reads until the server closes the connection; the time it took.
async fn time_until_closed(mut stream: TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the connection was still open after {limit:?}"),
        }
    }
}

fn host_of(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_string()
}

#[tokio::test]
async fn a_half_sent_request_is_closed_after_the_header_read_timeout() {
    let app = spawn_app_with(&[("HTTP_HEADER_READ_TIMEOUT", "1")]).await;
    let mut stream = TcpStream::connect(host_of(&app)).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let took = time_until_closed(stream, Duration::from_secs(10)).await;
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");
    // A connection that sends nothing at all goes the same way.
    let silent = TcpStream::connect(host_of(&app)).await.unwrap();
    time_until_closed(silent, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = spawn_app_with(&[("HTTP_HEADER_READ_TIMEOUT", "1")]).await;
    let mut stream = TcpStream::connect(host_of(&app)).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    time_until_closed(stream, Duration::from_secs(10)).await;
}

/// A server that accepts connections and never answers.
async fn hanging_endpoint() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sidebar", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    (url, task)
}

async fn section_at(app: &TestApp, ws: &TestWorkspace, url: &str) -> i64 {
    app.section(&ws.admin, url).create_id().await
}

#[tokio::test]
async fn past_the_in_flight_limit_requests_are_refused_at_once_with_503() {
    let mut env = LOOPBACK.to_vec();
    env.push(("HTTP_MAX_IN_FLIGHT", "1"));
    let app = spawn_app_with(&env).await;
    let ws = app.create_workspace("Acme").await;
    let (url, _endpoint) = hanging_endpoint().await;
    let section = section_at(&app, &ws, &url).await;
    // A Test of a hanging endpoint holds the only slot for its 3 s timeout.
    let api = app.api(&ws.admin);
    let slow = tokio::spawn(async move {
        api.post(&format!("/api/sidebar-sections/{section}/test"), &json!({}))
            .await
            .status()
    });
    let started = Instant::now();
    let refused = loop {
        let response = app.anonymous().get("/healthz").await;
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            break response;
        }
        assert!(started.elapsed() < Duration::from_secs(2), "never shed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(refused.headers()["retry-after"], "1");
    let (_, code, _) = error_of(refused).await;
    assert_eq!(code, "overloaded");
    assert_eq!(slow.await.unwrap(), StatusCode::OK);
    assert_eq!(
        app.anonymous().get("/healthz").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_request_running_past_the_request_timeout_is_stopped() {
    let mut env = LOOPBACK.to_vec();
    env.push(("HTTP_REQUEST_TIMEOUT", "0.5"));
    let app = spawn_app_with(&env).await;
    let ws = app.create_workspace("Acme").await;
    let (url, _endpoint) = hanging_endpoint().await;
    let section = section_at(&app, &ws, &url).await;
    let started = Instant::now();
    let response = app
        .api(&ws.admin)
        .post(&format!("/api/sidebar-sections/{section}/test"), &json!({}))
        .await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused_with_413_and_stores_nothing() {
    let app = spawn_app_with(&[]).await;
    let ws = app.create_workspace("Acme").await;
    let mut body = ticket_body("Big", "jane@example.com");
    body["body"] = json!("x".repeat(1024 * 1024));
    let response = app.api(&ws.agent).post("/api/tickets", &body).await;
    let (status, code, _) = error_of(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let tickets: i64 = sqlx::query_scalar("SELECT count(*) FROM tickets")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(tickets, 0);
}

#[tokio::test]
async fn quotas_refuse_one_more_with_409_naming_the_setting() {
    let mut env = LOOPBACK.to_vec();
    env.extend([
        ("MAX_PERSONAL_DESTINATIONS_PER_USER", "2"),
        ("MAX_WORKSPACE_DESTINATIONS", "1"),
        ("MAX_SIDEBAR_SECTIONS", "1"),
        ("MAX_API_TOKENS_PER_USER", "2"),
    ]);
    let app = spawn_app_with(&env).await;
    let ws = app.create_workspace("Acme").await;
    let personal =
        json!({"scope": "personal", "url": "https://hooks.example.com/a", "events": ["newReply"]});
    let workspace =
        json!({"scope": "workspace", "url": "https://hooks.example.com/b", "events": ["newReply"]});
    let section =
        json!({"title": "CRM", "endpoint_url": "https://crm.example.com/s", "channel_ids": []});
    let cases = [
        (
            &ws.agent,
            "/api/webhook-destinations",
            &personal,
            2,
            "MAX_PERSONAL_DESTINATIONS_PER_USER",
        ),
        (
            &ws.admin,
            "/api/webhook-destinations",
            &workspace,
            1,
            "MAX_WORKSPACE_DESTINATIONS",
        ),
        (
            &ws.admin,
            "/api/sidebar-sections",
            &section,
            1,
            "MAX_SIDEBAR_SECTIONS",
        ),
    ];
    for (user, path, body, limit, setting) in cases {
        for _ in 0..limit {
            assert_eq!(
                app.api(user).post(path, body).await.status(),
                StatusCode::CREATED
            );
        }
        let response = app.api(user).post(path, body).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, StatusCode::CONFLICT, "{path}: {body}");
        assert_eq!(body["error"]["code"], "quota_exceeded");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(setting),
            "{body}"
        );
    }
    // Another user's personal quota is their own.
    assert_eq!(
        app.api(&ws.admin)
            .post("/api/webhook-destinations", &personal)
            .await
            .status(),
        StatusCode::CREATED
    );
    // API tokens: the test user already holds one; the form shows the refusal inline.
    let browser = app.browser(&ws.agent).await;
    let ok = browser
        .submit("/settings/api-tokens", &[("name", "ci")])
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let refused = browser
        .submit("/settings/api-tokens", &[("name", "one more")])
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("MAX_API_TOKENS_PER_USER")
    );
}

#[tokio::test]
async fn concurrent_creations_cannot_both_slip_under_a_quota() {
    let mut env = LOOPBACK.to_vec();
    env.push(("MAX_PERSONAL_DESTINATIONS_PER_USER", "3"));
    let app = spawn_app_with(&env).await;
    let ws = app.create_workspace("Acme").await;
    let body =
        json!({"scope": "personal", "url": "https://hooks.example.com/a", "events": ["newReply"]});
    let creations: Vec<_> = (0..12)
        .map(|_| {
            let (api, body) = (app.api(&ws.agent), body.clone());
            tokio::spawn(async move { api.post("/api/webhook-destinations", &body).await.status() })
        })
        .collect();
    let mut created = 0;
    for creation in creations {
        if creation.await.unwrap() == StatusCode::CREATED {
            created += 1;
        }
    }
    assert_eq!(created, 3);
}

fn assert_rate_limited(status: StatusCode, retry_after: Option<&reqwest::header::HeaderValue>) {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let seconds: u64 = retry_after
        .expect("Retry-After is set")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&seconds), "{seconds}");
}

#[tokio::test]
async fn tests_resends_and_section_tests_are_rate_limited_per_object_with_retry_after() {
    let mut env = LOOPBACK.to_vec();
    env.extend([
        ("TEST_NOTIFICATIONS_PER_MINUTE", "2"),
        ("RESENDS_PER_MINUTE", "1"),
        ("SECTION_TESTS_PER_MINUTE", "1"),
    ]);
    let app = spawn_app_with(&env).await;
    let ws = app.create_workspace("Acme").await;
    let receiver = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let api = app.api(&ws.agent);
    let created: Value = api
        .post(
            "/api/webhook-destinations",
            &json!({"scope": "personal", "url": receiver.url, "events": ["newReply"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let test_path = format!("/api/webhook-destinations/{}/test", created["id"]);
    let first: Value = api.post(&test_path, &json!({})).await.json().await.unwrap();
    assert_eq!(
        api.post(&test_path, &json!({})).await.status(),
        StatusCode::ACCEPTED
    );
    let refused = api.post(&test_path, &json!({})).await;
    assert_rate_limited(refused.status(), refused.headers().get("retry-after"));

    let resend_path = format!("/api/webhook-deliveries/{}/resend", first["id"]);
    assert_eq!(
        api.post(&resend_path, &json!({})).await.status(),
        StatusCode::OK
    );
    let refused = api.post(&resend_path, &json!({})).await;
    assert_rate_limited(refused.status(), refused.headers().get("retry-after"));

    let section = section_at(&app, &ws, &receiver.url).await;
    let test_path = format!("/api/sidebar-sections/{section}/test");
    let admin = app.api(&ws.admin);
    assert_eq!(
        admin.post(&test_path, &json!({})).await.status(),
        StatusCode::OK
    );
    let refused = admin.post(&test_path, &json!({})).await;
    assert_rate_limited(refused.status(), refused.headers().get("retry-after"));
    // The page's Test button says the same, as a page with Retry-After.
    let browser = app.browser(&ws.admin).await;
    let page = browser
        .submit(&format!("/settings/sidebar-sections/{section}/test"), &[])
        .await;
    assert_rate_limited(page.status(), page.headers().get("retry-after"));
}

#[tokio::test]
async fn the_api_refresh_refusal_carries_retry_after() {
    let app = spawn_app_with(LOOPBACK).await;
    let ws = app.create_workspace("Acme").await;
    let receiver = Receiver::start(Behaviour::Respond(200, r#"{"data":[]}"#.into())).await;
    let channel = app.create_channel(&ws.admin, "Support").await;
    let section: Value = app
        .api(&ws.admin)
        .post(
            "/api/sidebar-sections",
            &json!({"title": "CRM", "endpoint_url": receiver.url, "channel_ids": [channel]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let mut body = ticket_body("Help", "jane@example.com");
    body["channel_id"] = json!(channel);
    let ticket = app.create_ticket(&ws.agent, body).await;
    let path = format!(
        "/api/tickets/{}/sidebar/{}/refresh",
        ticket["id"], section["id"]
    );
    let api = app.api(&ws.agent);
    assert_eq!(api.post(&path, &json!({})).await.status(), StatusCode::OK);
    let refused = api.post(&path, &json!({})).await;
    assert_rate_limited(refused.status(), refused.headers().get("retry-after"));
    let (_, code, _) = error_of(refused).await;
    assert_eq!(code, "rate_limited");
}

#[tokio::test]
async fn agents_see_a_sections_title_but_not_its_endpoint_secret_or_last_error() {
    let app = spawn_app_with(LOOPBACK).await;
    let ws = app.create_workspace("Acme").await;
    let url = "http://crm.example.com/s?api_key=hunter2";
    let created: Value = app
        .api(&ws.admin)
        .post(
            "/api/sidebar-sections",
            &json!({"title": "CRM", "endpoint_url": url, "channel_ids": []}),
        )
        .await
        .json()
        .await
        .unwrap();
    sqlx::query(
        "UPDATE sidebar_sections SET last_error = 'HTTP 500 from crm', last_error_at = now()",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let id = created["id"].as_i64().unwrap();
    for path in [
        "/api/sidebar-sections".to_string(),
        format!("/api/sidebar-sections/{id}"),
    ] {
        let seen = app.api(&ws.agent).get(&path).await.text().await.unwrap();
        assert!(seen.contains("\"title\":\"CRM\""), "{seen}");
        for hidden in ["hunter2", "crm.example.com", "HTTP 500", "secret\""] {
            assert!(!seen.contains(hidden), "an agent saw {hidden}: {seen}");
        }
        let admin = app.api(&ws.admin).get(&path).await.text().await.unwrap();
        assert!(
            admin.contains("hunter2") && admin.contains("HTTP 500"),
            "{admin}"
        );
    }
}

#[tokio::test]
async fn responses_are_not_stored_by_caches_and_https_gets_hsts() {
    let app = spawn_app_with(&[]).await;
    let ws = app.create_workspace("Acme").await;
    let browser = app.browser(&ws.agent).await;
    let token_page = browser
        .submit("/settings/api-tokens", &[("name", "ci")])
        .await;
    assert_eq!(token_page.headers()["cache-control"], "no-store");
    let me = app.api(&ws.agent).get("/api/me").await;
    assert_eq!(me.headers()["cache-control"], "no-store");
    assert!(!me.headers().contains_key("strict-transport-security"));
    // Static assets keep their own caching.
    let css = app.anonymous().get("/assets/style.css").await;
    assert_ne!(css.headers()["cache-control"], "no-store");

    let secure = spawn_app_with(&[("APP_URL", "https://help.example.com")]).await;
    let health = secure.anonymous().get("/healthz").await;
    assert_eq!(
        health.headers()["strict-transport-security"],
        "max-age=31536000"
    );
}

/// One token cannot fill the database for everyone: creating tickets, messages and notes is
/// limited per person and per workspace, per minute, across instances.
#[tokio::test]
async fn creating_past_a_rate_answers_429_and_the_count_is_shared_by_instances() {
    let env = [
        ("TICKETS_PER_MINUTE_PER_USER", "3"),
        ("NOTES_PER_MINUTE_PER_WORKSPACE", "2"),
    ];
    let app = crate::helpers::spawn_app_with(&env).await;
    let ws = app.create_workspace("Acme").await;
    let body = |n: usize| crate::helpers::ticket_body(&format!("T{n}"), "jane@example.com");
    for n in 0..3 {
        assert_eq!(
            app.api(&ws.agent)
                .post("/api/tickets", &body(n))
                .await
                .status(),
            201
        );
    }
    let refused = app.api(&ws.agent).post("/api/tickets", &body(3)).await;
    assert!(refused.headers().contains_key("retry-after"));
    let (status, code, _) = error_of(refused).await;
    assert_eq!((status.as_u16(), code.as_str()), (429, "rate_limited"));
    assert_eq!(
        app.api(&ws.admin)
            .post("/api/tickets", &body(4))
            .await
            .status(),
        201,
        "another person"
    );
    let tickets: i64 = sqlx::query_scalar("SELECT count(*) FROM tickets")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(tickets, 4, "the refused one was not stored");

    // Another instance learns the shared count within a flush.
    let second = app.spawn_instance(&env).await;
    let elsewhere = app.api_on(&second.address, &ws.agent);
    crate::helpers::eventually(
        "the other instance refuses too",
        std::time::Duration::from_secs(5),
        || async { (elsewhere.post("/api/tickets", &body(9)).await.status() == 429).then_some(()) },
    )
    .await;

    // Per workspace: the third note of anyone in it is refused.
    let ticket = app.create_ticket(&ws.admin, body(5)).await["id"]
        .as_i64()
        .unwrap();
    let note = json!({"body": "a note"});
    assert_eq!(
        app.api(&ws.agent)
            .post(&format!("/api/tickets/{ticket}/notes"), &note)
            .await
            .status(),
        201
    );
    assert_eq!(
        app.api(&ws.admin)
            .post(&format!("/api/tickets/{ticket}/notes"), &note)
            .await
            .status(),
        201
    );
    let (status, _, _) = error_of(
        app.api(&ws.owner)
            .post(&format!("/api/tickets/{ticket}/notes"), &note)
            .await,
    )
    .await;
    assert_eq!(status.as_u16(), 429);
}
