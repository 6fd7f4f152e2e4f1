//! `/metrics` after real work: webhooks delivered, retried and failed, sidebar calls and
//! cache hits, HTTP requests by route template; and who may read it.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, eventually, free_port, loopback_with, spawn_app, spawn_app_with};
use crate::receiver::{Behaviour, Receiver};

const TOKEN: &str = "metrics-token-for-tests";

/// `name{labels}` → value, from OpenMetrics text.
async fn scrape(app: &TestApp) -> HashMap<String, f64> {
    let response = reqwest::Client::new()
        .get(app.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    parse(&response.text().await.unwrap())
}

fn parse(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .map(|(series, value)| (series.to_string(), value.parse().unwrap()))
        .collect()
}

fn value(metrics: &HashMap<String, f64>, series: &str) -> f64 {
    *metrics
        .get(series)
        .unwrap_or_else(|| panic!("no series {series}"))
}

#[tokio::test]
async fn metrics_move_by_what_was_done() {
    let env = [("METRICS_TOKEN", TOKEN), ("WEBHOOK_RETRY_DELAYS", "0.1")];
    let app = spawn_app_with(&loopback_with(&env)).await;
    let ws = app.create_workspace("Acme").await;
    let healthy = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let failing = Receiver::start(Behaviour::Respond(500, "{}".into())).await;
    let endpoint = Receiver::start(Behaviour::Respond(200, r#"{"data":[]}"#.into())).await;
    for url in [&healthy.url, &failing.url] {
        let events = json!(["ticketOpened"]);
        app.destination(&ws.admin, url)
            .set("events", events)
            .create()
            .await;
    }
    let channel = app.create_channel(&ws.admin, "Billing").await;
    app.section(&ws.admin, &endpoint.url)
        .set("channel_ids", json!([channel]))
        .create()
        .await;
    let before = scrape(&app).await;

    for _ in 0..3 {
        app.ticket(&ws.agent).create().await;
    }
    let on_channel = app
        .ticket(&ws.agent)
        .set("channel_id", channel)
        .create_id()
        .await;
    let api = app.api(&ws.agent);
    for _ in 0..2 {
        let loads: serde_json::Value = api
            .get_json(&format!("/api/tickets/{on_channel}/sidebar"))
            .await;
        assert_eq!(loads[0]["status"], "ok");
    }
    // Each ticket: one delivery succeeds at once; one fails, is retried once, and fails.
    healthy.wait_for(4).await;
    eventually(
        "every delivery is settled",
        Duration::from_secs(20),
        || async {
            let pending: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'",
            )
            .fetch_one(&app.pool)
            .await
            .unwrap();
            (pending == 0).then_some(())
        },
    )
    .await;
    let after = eventually(
        "the last attempts are counted",
        Duration::from_secs(5),
        || async {
            let after = scrape(&app).await;
            let failed = after.get("therethere_webhook_deliveries_total{outcome=\"failed\"}");
            (failed == Some(&4.0)).then_some(after)
        },
    )
    .await;

    let moved = |series: &str| value(&after, series) - before.get(series).copied().unwrap_or(0.0);
    assert_eq!(
        moved("therethere_webhook_deliveries_total{outcome=\"succeeded\"}"),
        4.0
    );
    assert_eq!(
        moved("therethere_webhook_deliveries_total{outcome=\"retrying\"}"),
        4.0
    );
    assert_eq!(
        moved("therethere_webhook_deliveries_total{outcome=\"failed\"}"),
        4.0
    );
    assert_eq!(
        moved("therethere_webhook_attempt_duration_seconds_count"),
        12.0
    );
    assert_eq!(moved("therethere_sidebar_calls_total{outcome=\"ok\"}"), 1.0);
    assert_eq!(
        moved("therethere_sidebar_cache_total{result=\"miss\"}"),
        1.0
    );
    assert_eq!(moved("therethere_sidebar_cache_total{result=\"hit\"}"), 1.0);
    assert_eq!(
        moved(
            "therethere_http_requests_total{method=\"POST\",route=\"/api/tickets\",status=\"201\"}"
        ),
        4.0
    );
    assert_eq!(
        moved(
            "therethere_http_requests_total{method=\"GET\",route=\"/api/tickets/{id}/sidebar\",status=\"200\"}"
        ),
        2.0
    );
    assert_eq!(
        value(
            &after,
            "therethere_webhook_queue_deliveries{state=\"pending\"}"
        ),
        0.0
    );
    assert_eq!(value(&after, "therethere_webhook_fanout_lag_seconds"), 0.0);
    assert!(
        value(
            &after,
            "therethere_db_pool_connections{pool=\"web\",state=\"idle\"}"
        ) >= 0.0
    );
    assert!(
        value(
            &after,
            "therethere_db_pool_connections{pool=\"worker\",state=\"in_use\"}"
        ) >= 0.0
    );
    let tick = value(&after, "therethere_worker_last_tick_age_seconds");
    assert!((0.0..5.0).contains(&tick), "{tick}");
}

#[tokio::test]
async fn metrics_are_served_to_the_token_or_on_their_own_listener_only() {
    let with_token = spawn_app_with(&[("METRICS_TOKEN", TOKEN)]).await;
    let client = reqwest::Client::new();
    let get = |app: &TestApp, token: Option<&str>| {
        let request = client.get(app.url("/metrics"));
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(get(&with_token, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(&with_token, Some("metrics-token-but-wrong")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(get(&with_token, Some(TOKEN)).await, StatusCode::OK);
    let without = spawn_app().await;
    assert_eq!(get(&without, Some(TOKEN)).await, StatusCode::NOT_FOUND);

    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let _listening = spawn_app_with(&[("METRICS_ADDR", &addr)]).await;
    // The listener is bound as the app starts serving, a moment after it is spawned.
    let text = eventually(
        "the metrics listener answers",
        Duration::from_secs(10),
        || {
            let url = format!("http://{addr}/metrics");
            async move { reqwest::get(url).await.ok()?.text().await.ok() }
        },
    )
    .await;
    assert!(
        text.contains("# TYPE therethere_webhook_attempt_duration_seconds histogram"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"));
}
