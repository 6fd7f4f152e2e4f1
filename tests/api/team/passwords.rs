//! Changing one's password, and resetting a forgotten one through a mailed single-use link.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::{choose_password, log_in, post_public, token_in};
use crate::helpers::{Browser, spawn_app, spawn_app_with};
use crate::smtp::SmtpSink;

#[tokio::test]
async fn changing_ones_password_needs_the_current_one_and_ends_the_other_sessions() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let here = app.browser(&ws.agent).await;
    let elsewhere = app.browser(&ws.agent).await;
    let wrong = here
        .submit(
            "/settings/security/password",
            &[
                ("current_password", "not it"),
                ("new_password", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("not your current password")
    );
    let short = here
        .submit(
            "/settings/security/password",
            &[
                ("current_password", &ws.agent.password),
                ("new_password", "short"),
            ],
        )
        .await;
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let changed = here
        .submit(
            "/settings/security/password",
            &[
                ("current_password", &ws.agent.password),
                ("new_password", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        here.get("/tickets").await.status(),
        StatusCode::OK,
        "this session goes on"
    );
    assert_eq!(
        elsewhere.get("/tickets").await.status(),
        StatusCode::SEE_OTHER,
        "the others end"
    );
    assert_eq!(
        log_in(&app, &ws.agent.email, &ws.agent.password).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        log_in(&app, &ws.agent.email, "a brand new password")
            .await
            .0,
        StatusCode::SEE_OTHER
    );
    // An API token cannot change a password (pages refuse tokens).
    let by_token = reqwest::Client::new()
        .post(app.url("/settings/security/password"))
        .bearer_auth(&ws.agent.token)
        .form(&[
            ("current_password", "a brand new password"),
            ("new_password", "the token's choice"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(by_token.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_reset_link_is_mailed_works_once_within_the_hour_and_ends_every_session() {
    let smtp = SmtpSink::start().await;
    let app = spawn_app_with(&[("SMTP_URL", &smtp.url)]).await;
    let ws = app.create_workspace("Acme").await;
    let signed_in = app.browser(&ws.agent).await;
    let browser = Browser::new(&app.address);
    let asked = post_public(
        &browser,
        &app,
        "/password/forgot",
        &[("email", "AGENT@acme.test")],
    )
    .await;
    assert_eq!(asked.status(), StatusCode::OK);
    let mail = smtp.wait_for(1).await.remove(0);
    assert_eq!(mail.rcpt_to, std::slice::from_ref(&ws.agent.email));
    let token = token_in(&mail.text());
    let minutes: f64 = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM expires_at - created_at)::float8 / 60 FROM password_links",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!((minutes - 60.0).abs() < 0.01, "{minutes}");

    let _new = choose_password(&app, &token, "reset to this one").await;
    assert_eq!(
        signed_in.get("/tickets").await.status(),
        StatusCode::SEE_OTHER,
        "other sessions end"
    );
    assert_eq!(
        log_in(&app, &ws.agent.email, "reset to this one").await.0,
        StatusCode::SEE_OTHER
    );
    let reuse = post_public(
        &browser,
        &app,
        "/password/choose",
        &[("token", &token), ("password", "and again this")],
    )
    .await;
    assert_eq!(
        reuse.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "single use"
    );

    // A second request: its link expires after the hour.
    post_public(
        &browser,
        &app,
        "/password/forgot",
        &[("email", &ws.agent.email)],
    )
    .await;
    let token = token_in(&smtp.wait_for(2).await[1].text());
    sqlx::query("UPDATE password_links SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let late = post_public(
        &browser,
        &app,
        "/password/choose",
        &[("token", &token), ("password", "too late for this")],
    )
    .await;
    assert_eq!(late.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// What a reset request answers, and how long it takes.
async fn ask(app: &crate::helpers::TestApp, email: &str) -> (StatusCode, String, Duration) {
    let browser = Browser::new(&app.address);
    let started = Instant::now();
    let response = post_public(&browser, app, "/password/forgot", &[("email", email)]).await;
    let status = response.status();
    let body = response.text().await.unwrap().replace(email, "EMAIL");
    (status, body, started.elapsed())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::test]
async fn a_reset_request_answers_the_same_whether_or_not_the_email_has_an_account() {
    let smtp = SmtpSink::start().await;
    let app = spawn_app_with(&[
        ("SMTP_URL", &smtp.url),
        ("PASSWORD_RESETS_PER_HOUR_PER_ADDRESS", "100"),
    ])
    .await;
    let ws = app.create_workspace("Acme").await;
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    let mut bodies = std::collections::HashSet::new();
    for round in 0..3 {
        let (status, body, took) = ask(&app, &ws.agent.email).await;
        assert_eq!(status, StatusCode::OK);
        bodies.insert(body);
        known.push(took);
        let (status, body, took) = ask(&app, &format!("nobody{round}@acme.test")).await;
        assert_eq!(status, StatusCode::OK);
        bodies.insert(body);
        unknown.push(took);
    }
    assert_eq!(bodies.len(), 1, "the same page either way");
    let (known, unknown) = (median(known), median(unknown));
    let gap = known.abs_diff(unknown);
    assert!(
        gap < Duration::from_millis(25).max(known.min(unknown) / 2),
        "known {known:?} vs unknown {unknown:?}"
    );
    assert_eq!(smtp.wait_for(3).await.len(), 3, "only the account's mails");
}

#[tokio::test]
async fn reset_requests_are_throttled_per_email_and_per_address() {
    let app = spawn_app_with(&[
        ("PASSWORD_RESETS_PER_HOUR", "2"),
        ("PASSWORD_RESETS_PER_HOUR_PER_ADDRESS", "4"),
    ])
    .await;
    for _ in 0..2 {
        assert_eq!(ask(&app, "someone@acme.test").await.0, StatusCode::OK);
    }
    let (status, body, _) = ask(&app, "Someone@acme.test").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // Per address: the fifth request from here is refused whatever the email.
    assert_eq!(ask(&app, "a@acme.test").await.0, StatusCode::OK);
    assert_eq!(
        ask(&app, "b@acme.test").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}
