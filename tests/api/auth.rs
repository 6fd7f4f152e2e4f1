use reqwest::StatusCode;
use serde_json::json;

use std::time::Duration;

use crate::helpers::{Browser, TestApp, error_of, eventually, spawn_app};

#[tokio::test]
async fn the_api_refuses_requests_without_credentials() {
    let app = spawn_app().await;
    let (status, code, _) = error_of(app.anonymous().get("/api/me").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
}

#[tokio::test]
async fn the_api_refuses_unknown_and_malformed_tokens() {
    let app = spawn_app().await;
    for header in [
        "Bearer tt_0000000000000000000000000000000000000000",
        "Bearer nonsense",
        "Basic abc",
        "Bearer",
    ] {
        let response = reqwest::Client::new()
            .get(app.url("/api/me"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header}");
    }
}

#[tokio::test]
async fn an_api_token_acts_as_its_user_and_records_its_use() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let me: serde_json::Value = app.api(&ws.agent).get_json("/api/me").await;
    assert_eq!(me["user"]["email"], ws.agent.email);
    assert_eq!(me["user"]["role"], "agent");
    assert_eq!(me["workspace"]["name"], "Acme");
    let used: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT last_used_at FROM api_tokens WHERE user_id = $1")
            .bind(ws.agent.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(used.is_some());
}

#[tokio::test]
async fn api_tokens_are_stored_hashed() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT token_hash FROM api_tokens WHERE user_id = $1")
            .bind(ws.agent.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_ne!(stored, ws.agent.token.as_bytes());
    assert_eq!(stored.len(), 32);
}

#[tokio::test]
async fn login_with_a_wrong_password_shows_an_error_and_keeps_the_email() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let browser = Browser::new(&app.address);
    let response = browser
        .client
        .post(app.url("/login"))
        .form(&[
            ("email", ws.agent.email.as_str()),
            ("password", "wrong-password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("don&#39;t match an account") || html.contains("don't match an account"),
        "{html}"
    );
    assert!(html.contains(&format!("value=\"{}\"", ws.agent.email)));
    assert_eq!(
        browser.get("/tickets").await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn login_sets_a_protected_session_cookie_and_logout_ends_the_session() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/login"))
        .form(&[
            ("email", ws.agent.email.as_str()),
            ("password", ws.agent.password.as_str()),
            ("next", "//evil.example"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        "/tickets",
        "an off-site next is ignored"
    );
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );

    let browser = app.browser(&ws.agent).await;
    assert_eq!(browser.get("/tickets").await.status(), StatusCode::OK);
    let response = browser.submit("/logout", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        browser.get("/tickets").await.status(),
        StatusCode::SEE_OTHER
    );
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(sessions, 1, "only the first client's session is left");
}

#[tokio::test]
async fn a_login_posted_from_another_site_is_refused() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let response = reqwest::Client::new()
        .post(app.url("/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[
            ("email", ws.agent.email.as_str()),
            ("password", ws.agent.password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_form_without_the_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let browser = app.browser(&ws.admin).await;
    let response = browser
        .submit_without_token("/settings/channels", &[("name", "Sneaky")])
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = browser
        .submit_without_token(
            "/settings/channels",
            &[("name", "Sneaky"), ("csrf_token", "forged")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let channels: i64 = sqlx::query_scalar("SELECT count(*) FROM channels")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(channels, 0);

    let response = browser
        .submit("/settings/channels", &[("name", "Billing")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_api_with_a_session_cookie_needs_the_csrf_header_to_change_anything() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let browser = app.browser(&ws.admin).await;
    let me = browser.get("/api/me").await;
    assert_eq!(
        me.status(),
        StatusCode::OK,
        "reading with a session needs no token"
    );

    let without = browser
        .client
        .post(app.url("/api/channels"))
        .json(&json!({"name": "X"}))
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_of(without).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "csrf_failed")
    );

    let token = browser.csrf_token().await;
    let with = browser
        .client
        .post(app.url("/api/channels"))
        .header("x-csrf-token", token)
        .json(&json!({"name": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), StatusCode::CREATED);
}

/// Waits (a bounded while) until both instances listen for credential changes, so the
/// requests below are answered from their caches.
async fn until_both_instances_listen(app: &TestApp) {
    eventually("both instances listen", Duration::from_secs(10), || async {
        let listening: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE 'LISTEN%credentials_changed%'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        (listening >= 2).then_some(())
    })
    .await
}

#[tokio::test]
async fn a_revoked_token_stops_working_on_every_instance() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let second = app.spawn_instance(&[]).await;
    until_both_instances_listen(&app).await;
    let me = |base: String| {
        let token = ws.agent.token.clone();
        async move {
            reqwest::Client::new()
                .get(format!("{base}/api/me"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Both instances verify the token, and remember it.
    for _ in 0..2 {
        assert_eq!(me(app.address.clone()).await, StatusCode::OK);
        assert_eq!(me(second.address.clone()).await, StatusCode::OK);
    }
    let token_id: i64 = sqlx::query_scalar("SELECT id FROM api_tokens WHERE user_id = $1")
        .bind(ws.agent.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let browser = app.browser(&ws.agent).await;
    let response = browser
        .submit(&format!("/settings/api-tokens/{token_id}/delete"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        me(app.address.clone()).await,
        StatusCode::UNAUTHORIZED,
        "refused at once where it was revoked"
    );
    eventually(
        "the other instance refuses the revoked token",
        Duration::from_secs(5),
        || async { (me(second.address.clone()).await == StatusCode::UNAUTHORIZED).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn a_session_ended_or_a_token_deleted_by_hand_stops_working_on_every_instance() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let second = app.spawn_instance(&[]).await;
    until_both_instances_listen(&app).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = client
        .post(app.url("/login"))
        .form(&[
            ("email", ws.admin.email.as_str()),
            ("password", ws.admin.password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let session = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = |base: String| {
        let (client, session) = (client.clone(), session.clone());
        async move {
            client
                .get(format!("{base}/tickets"))
                .header("cookie", session)
                .send()
                .await
                .unwrap()
        }
    };
    let me_on_second = || async {
        client
            .get(format!("{}/api/me", second.address))
            .bearer_auth(&ws.agent.token)
            .send()
            .await
            .unwrap()
            .status()
    };
    for _ in 0..2 {
        assert_eq!(page(second.address.clone()).await.status(), StatusCode::OK);
        assert_eq!(me_on_second().await, StatusCode::OK);
    }
    // An operator removes a token in psql: no instance code runs, the trigger tells them.
    sqlx::query("DELETE FROM api_tokens WHERE user_id = $1")
        .bind(ws.agent.id)
        .execute(&app.pool)
        .await
        .unwrap();
    eventually(
        "the second instance refuses the deleted token",
        Duration::from_secs(5),
        || async { (me_on_second().await == StatusCode::UNAUTHORIZED).then_some(()) },
    )
    .await;
    // Logging out on the first instance ends the session on the second.
    let html = page(app.address.clone()).await.text().await.unwrap();
    let marker = "name=\"csrf-token\" content=\"";
    let at = html.find(marker).unwrap() + marker.len();
    let csrf = &html[at..at + html[at..].find('"').unwrap()];
    let logout = client
        .post(app.url("/logout"))
        .header("cookie", &session)
        .form(&[("csrf_token", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    eventually(
        "the second instance refuses the ended session",
        Duration::from_secs(5),
        || async {
            (page(second.address.clone()).await.status() == StatusCode::SEE_OTHER).then_some(())
        },
    )
    .await;
}
