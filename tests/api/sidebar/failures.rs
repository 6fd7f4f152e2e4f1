//! Failures: never cached, counted to auto-disable with one email to the owner, reset by a
//! success or by re-enabling; and the Test button that touches nothing.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::helpers::eventually;
use crate::receiver::{Behaviour, Receiver};
use crate::smtp::SmtpSink;

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
    eventually(
        "the mail is marked sent",
        Duration::from_secs(10),
        || async {
            let sent: i64 =
                sqlx::query_scalar("SELECT count(*) FROM mail_outbox WHERE sent_at IS NOT NULL")
                    .fetch_one(&s.app.pool)
                    .await
                    .unwrap();
            (sent == 1).then_some(())
        },
    )
    .await;
    assert_eq!(smtp.mails().len(), 1);
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
async fn a_passing_test_re_enables_a_disabled_section_in_one_step() {
    let s = setup().await;
    let endpoint = Receiver::start(Behaviour::Sequence(vec![
        (500, "still down".into()),
        (200, SPEC_EXAMPLE.into()),
        (200, SPEC_EXAMPLE.into()),
    ]))
    .await;
    let id = s.section(&endpoint.url, json!({})).await["id"]
        .as_i64()
        .unwrap();
    let admin = s.app.api(&s.ws.admin);
    admin
        .post(&format!("/api/sidebar-sections/{id}/disable"), &json!({}))
        .await;
    let path = format!("/api/sidebar-sections/{id}/test-and-enable");
    // An agent may not.
    let refused = s.app.api(&s.ws.agent).post(&path, &json!({})).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    // The endpoint still fails: the section stays disabled, and the report says why.
    let failed: Value = admin.post(&path, &json!({})).await.json().await.unwrap();
    assert_eq!(failed["enabled"], false);
    assert_eq!(failed["section"]["enabled"], false);
    assert_eq!(failed["report"]["error"], "the endpoint answered HTTP 500");
    // Fixed: enabled again, counter reset, in the same step.
    let passed: Value = admin.post(&path, &json!({})).await.json().await.unwrap();
    assert_eq!(passed["enabled"], true);
    assert_eq!(passed["section"]["enabled"], true);
    assert_eq!(passed["section"]["consecutive_failures"], 0);
    assert_eq!(passed["report"]["ok"], true);

    // The page offers it only while the section is disabled.
    admin
        .post(&format!("/api/sidebar-sections/{id}/disable"), &json!({}))
        .await;
    let browser = s.app.browser(&s.ws.admin).await;
    let page = browser
        .get_html(&format!("/settings/sidebar-sections/{id}"))
        .await;
    assert!(page.contains("Test and re-enable"));
    let done = browser
        .submit(
            &format!("/settings/sidebar-sections/{id}/test-and-enable"),
            &[],
        )
        .await;
    let html = done.text().await.unwrap();
    assert!(
        html.contains("Test passed: the section is enabled again"),
        "{html}"
    );
    assert!(!html.contains("Test and re-enable"));
    assert_eq!(s.section_row(id).await["enabled"], true);
}
