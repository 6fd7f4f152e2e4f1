//! API tokens with limits: a scope, an expiry, their last use; pages are for sessions only.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{TestApp, TestUser, error_of, spawn_app};

/// Creates a token on the API tokens page as `user`; returns the secret shown once.
async fn create_token(
    app: &TestApp,
    user: &TestUser,
    scope: &str,
    expires_in_days: &str,
) -> String {
    let browser = app.browser(user).await;
    let response = browser
        .submit(
            "/settings/api-tokens",
            &[
                ("name", "script"),
                ("scope", scope),
                ("expires_in_days", expires_in_days),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    let start = html.find("value=\"tt_").expect("the new token is shown") + "value=\"".len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

#[tokio::test]
async fn a_read_token_is_refused_on_every_operation_that_changes_something() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let token = create_token(&app, &ws.owner, "read", "30").await;
    let client = reqwest::Client::new();
    let me = client
        .get(app.url("/api/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK, "reading works");

    let openapi: Value = app.anonymous().get_json("/api/openapi.json").await;
    let mut checked = 0;
    for (path, item) in openapi["paths"].as_object().unwrap() {
        for method in ["post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            // Every path parameter is a number or a name; 1 and ticketOpened fit all of them.
            let concrete = path.replace("{type}", "ticketOpened");
            let concrete = regex_free_fill(&concrete);
            let response = client
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    app.url(&concrete),
                )
                .bearer_auth(&token)
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap();
            let (status, code, _) = error_of(response).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::FORBIDDEN, "forbidden"),
                "{method} {path}"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 30,
        "every unsafe operation of the document: {checked}"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM channels")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0, "nothing was written");
}

/// `/api/x/{id}/y` → `/api/x/1/y`.
fn regex_free_fill(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => in_param = true,
            '}' => {
                in_param = false;
                out.push('1');
            }
            _ if in_param => {}
            c => out.push(c),
        }
    }
    out
}

#[tokio::test]
async fn a_token_stops_at_its_expiry_and_records_its_last_use() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let token = create_token(&app, &ws.agent, "write", "7").await;
    let client = reqwest::Client::new();
    let ok = client
        .get(app.url("/api/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let (days, from): (f64, Option<String>) = sqlx::query_as(
        "SELECT EXTRACT(EPOCH FROM expires_at - created_at)::float8 / 86400, last_used_from
         FROM api_tokens WHERE scope = 'write' AND expires_at IS NOT NULL",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!((days - 7.0).abs() < 0.001);
    assert_eq!(from.as_deref(), Some("127.0.0.1"));
    let page = app
        .browser(&ws.agent)
        .await
        .get_html("/settings/api-tokens")
        .await;
    assert!(
        page.contains("from 127.0.0.1"),
        "the page shows where it was used"
    );

    sqlx::query("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE expires_at IS NOT NULL")
        .execute(&app.pool)
        .await
        .unwrap();
    let expired = client
        .get(app.url("/api/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    let page = app
        .browser(&ws.agent)
        .await
        .get_html("/settings/api-tokens")
        .await;
    assert!(page.contains("expired"));
}

#[tokio::test]
async fn pages_refuse_bearer_tokens_so_a_token_cannot_mint_another() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/tickets",
        "/settings/profile",
        "/settings/api-tokens",
        "/settings/team",
    ] {
        let response = client
            .get(app.url(path))
            .bearer_auth(&ws.owner.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let minted = client
        .post(app.url("/settings/api-tokens"))
        .bearer_auth(&ws.owner.token)
        .form(&[
            ("name", "sneaky"),
            ("scope", "write"),
            ("expires_in_days", "never"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(minted.status(), StatusCode::FORBIDDEN);
    let tokens: i64 = sqlx::query_scalar("SELECT count(*) FROM api_tokens WHERE user_id = $1")
        .bind(ws.owner.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(tokens, 1, "no token was made");
    let bad = app
        .browser(&ws.owner)
        .await
        .submit(
            "/settings/api-tokens",
            &[("name", "x"), ("scope", "admin"), ("expires_in_days", "7")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
