//! Logins under attack: throttled guessing (per account and per address, across instances),
//! password checks that refuse at once when full, only same-origin redirects after login,
//! cross-origin posts refused, and sessions that end when idle or outnumbered.

use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode};

use crate::helpers::{Browser, TestApp, eventually, spawn_app_with};

/// Posts the login form with extra headers (an `Origin`, a forwarded address).
async fn post_login(
    base: &str,
    email: &str,
    password: &str,
    next: &str,
    headers: &[(&str, &str)],
) -> Response {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut request = client.post(format!("{base}/login")).form(&[
        ("email", email),
        ("password", password),
        ("next", next),
    ]);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

fn retry_after(response: &Response) -> Option<u64> {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

async fn wrong_logins(app: &TestApp, email: &str, n: usize) {
    for _ in 0..n {
        let response = post_login(&app.address, email, "wrong-password", "", &[]).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn an_account_is_locked_after_five_failures_even_for_the_right_password_then_opens_again() {
    let app = spawn_app_with(&[]).await;
    let ws = app.create_workspace("Acme").await;
    wrong_logins(&app, &ws.agent.email, 5).await;

    let locked = post_login(&app.address, &ws.agent.email, &ws.agent.password, "", &[]).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&locked).expect("a lock-out says when to try again");
    assert!(
        (1..=2).contains(&wait),
        "the first lock-out is 1 s, said {wait}"
    );
    let page = locked.text().await.unwrap();
    assert!(
        page.contains("Too many failed attempts. Try again in"),
        "{page}"
    );

    // After the window (the real 1 s default), the right password works.
    eventually("the lock ends", Duration::from_secs(5), || async {
        let response = post_login(&app.address, &ws.agent.email, &ws.agent.password, "", &[]).await;
        if response.status() != StatusCode::SEE_OTHER {
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        }
        (response.status() == StatusCode::SEE_OTHER).then_some(())
    })
    .await;
    // A success forgives the account's failures: one more wrong guess is a plain 401.
    wrong_logins(&app, &ws.agent.email, 1).await;
}

#[tokio::test]
async fn every_refused_login_is_answered_after_the_real_half_second_pause() {
    let app = spawn_app_with(&[("LOGIN_REFUSAL_PAUSE_SECONDS", "0.5")]).await;
    let ws = app.create_workspace("Acme").await;
    let started = Instant::now();
    let refused = post_login(&app.address, &ws.agent.email, "wrong-password", "", &[]).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(started.elapsed() >= Duration::from_millis(500));
    // A right password is not held back.
    let started = Instant::now();
    let ok = post_login(&app.address, &ws.agent.email, &ws.agent.password, "", &[]).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[test]
fn the_default_refusal_pause_is_half_a_second() {
    let config = therethere::config::Config::from_lookup(|_| None).unwrap();
    assert_eq!(
        config.login_throttle.refusal_pause,
        Duration::from_millis(500)
    );
    assert_eq!(config.http.header_read_timeout, Duration::from_secs(30));
}

#[tokio::test]
async fn an_unknown_email_is_throttled_and_answered_exactly_like_a_known_one() {
    let app = spawn_app_with(&[]).await;
    let ws = app.create_workspace("Acme").await;
    let known = post_login(&app.address, &ws.agent.email, "wrong-password", "", &[]).await;
    let unknown = post_login(&app.address, "nobody@acme.test", "wrong-password", "", &[]).await;
    assert_eq!(known.status(), unknown.status());
    let (known, unknown) = (known.text().await.unwrap(), unknown.text().await.unwrap());
    assert_eq!(
        known.replace(&ws.agent.email, "EMAIL"),
        unknown.replace("nobody@acme.test", "EMAIL"),
        "the pages differ only by the email typed"
    );
    wrong_logins(&app, "nobody@acme.test", 4).await;
    let locked = post_login(&app.address, "nobody@acme.test", "whatever", "", &[]).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&locked).is_some());
}

#[tokio::test]
async fn one_address_guessing_many_accounts_is_throttled_on_every_instance() {
    let app = spawn_app_with(&[("LOGIN_THROTTLE_ADDRESS_FAILURES", "3")]).await;
    let ws = app.create_workspace("Acme").await;
    for n in 0..3 {
        let response = post_login(&app.address, &format!("guess{n}@acme.test"), "x", "", &[]).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let second = app
        .spawn_instance(&[("LOGIN_THROTTLE_ADDRESS_FAILURES", "3")])
        .await;
    let refused = post_login(
        &second.address,
        &ws.owner.email,
        &ws.owner.password,
        "",
        &[],
    )
    .await;
    assert_eq!(
        refused.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the other instance agrees"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_one_counted() {
    let app = spawn_app_with(&[
        ("LOGIN_THROTTLE_ADDRESS_FAILURES", "2"),
        ("TRUSTED_CLIENT_IP_HEADER", "X-Forwarded-For"),
    ])
    .await;
    let ws = app.create_workspace("Acme").await;
    let attacker = [("x-forwarded-for", "203.0.113.9")];
    for n in 0..2 {
        let response = post_login(
            &app.address,
            &format!("guess{n}@acme.test"),
            "x",
            "",
            &attacker,
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = post_login(&app.address, "guess9@acme.test", "x", "", &attacker).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    // A spoofed first entry does not help: the proxy's own (last) entry counts.
    let spoofed = [("x-forwarded-for", "198.51.100.1, 203.0.113.9")];
    let refused = post_login(&app.address, "guess9@acme.test", "x", "", &spoofed).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    // Someone else behind the same proxy logs in as usual.
    let colleague = [("x-forwarded-for", "198.51.100.2")];
    let ok = post_login(
        &app.address,
        &ws.agent.email,
        &ws.agent.password,
        "",
        &colleague,
    )
    .await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_full_password_queue_answers_503_at_once_and_nothing_else_waits() {
    let app = spawn_app_with(&[
        ("PASSWORD_THREADS", "1"),
        ("PASSWORD_QUEUE", "1"),
        ("TRUSTED_CLIENT_IP_HEADER", "X-Forwarded-For"),
    ])
    .await;
    let ws = app.create_workspace("Acme").await;
    let started = Instant::now();
    let attempts: Vec<_> = (0..40)
        .map(|n| {
            let base = app.address.clone();
            tokio::spawn(async move {
                let from = format!("198.18.0.{n}");
                let response = post_login(
                    &base,
                    &format!("guess{n}@acme.test"),
                    "x",
                    "",
                    &[("x-forwarded-for", from.as_str())],
                )
                .await;
                let wait = retry_after(&response);
                let status = response.status();
                let page = response.text().await.unwrap();
                (status, wait, page)
            })
        })
        .collect();
    // Meanwhile an authenticated request is served.
    let me = app.api(&ws.agent).get("/api/me").await;
    assert_eq!(me.status(), StatusCode::OK);
    let mut busy = 0;
    for attempt in attempts {
        let (status, wait, page) = attempt.await.unwrap();
        match status {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert_eq!(wait, Some(1));
                assert!(page.contains("Too many sign-ins at once"), "{page}");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        busy > 0,
        "40 logins at once never filled one thread and a queue of one"
    );
    // 40 hashes one after another would take far longer than refusing most of them.
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn next_only_ever_leads_to_a_path_of_this_site() {
    let app = spawn_app_with(&[]).await;
    let ws = app.create_workspace("Acme").await;
    let hostile = [
        "//evil.example",
        "/\t/evil.example",
        "/\\evil.example",
        "/%09/evil.example",
        "/%5c%5cevil.example",
        "/%2f%2fevil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "/\r\nSet-Cookie:x=1",
        "evil.example",
    ];
    for next in hostile {
        // The login page never echoes it back into its form.
        let query: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        let page = Browser::new(&app.address)
            .get_html(&format!("/login?next={query}"))
            .await;
        assert!(
            page.contains(r#"name="next" value="/tickets""#),
            "{next:?}: {page}"
        );
        // And a form posted with it lands on the tickets.
        let response =
            post_login(&app.address, &ws.agent.email, &ws.agent.password, next, &[]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(response.headers()["location"], "/tickets", "{next:?}");
    }
    let response = post_login(
        &app.address,
        &ws.agent.email,
        &ws.agent.password,
        "/tickets/7?x=1",
        &[],
    )
    .await;
    assert_eq!(response.headers()["location"], "/tickets/7?x=1");
}

#[tokio::test]
async fn a_login_posted_from_another_origin_is_refused() {
    let app = spawn_app_with(&[]).await;
    let ws = app.create_workspace("Acme").await;
    let (email, password) = (&ws.agent.email, &ws.agent.password);
    for origin in ["https://evil.example", "null"] {
        let response = post_login(&app.address, email, password, "", &[("origin", origin)]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{origin}");
    }
    let response = post_login(
        &app.address,
        email,
        password,
        "",
        &[("origin", app.address.as_str())],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_new_login_past_the_session_limit_ends_the_oldest() {
    let app = spawn_app_with(&[("MAX_SESSIONS_PER_USER", "2")]).await;
    let ws = app.create_workspace("Acme").await;
    let first = app.browser(&ws.agent).await;
    let second = app.browser(&ws.agent).await;
    assert_eq!(first.get("/tickets").await.status(), StatusCode::OK);
    let _third = app.browser(&ws.agent).await;
    let ended = first.get("/tickets").await;
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    assert_eq!(ended.headers()["location"], "/login");
    assert_eq!(second.get("/tickets").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_session_ends_when_idle_and_lives_on_while_used() {
    let app = spawn_app_with(&[("SESSION_IDLE_TIMEOUT_SECONDS", "2")]).await;
    let ws = app.create_workspace("Acme").await;
    let busy = app.browser(&ws.agent).await;
    let idle = app.browser(&ws.admin).await;
    // Used every quarter second for longer than the idle timeout: still logged in.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        assert_eq!(busy.get("/tickets").await.status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let ended = idle.get("/tickets").await;
    assert_eq!(
        ended.status(),
        StatusCode::SEE_OTHER,
        "unused for 3 s of a 2 s idle timeout"
    );
    assert_eq!(ended.headers()["location"], "/login");
}
