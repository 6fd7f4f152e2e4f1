//! Invitations: mailed single-use links, valid 7 days, stored hashed; who may invite whom.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{post_public, token_in};
use std::time::Duration;

use crate::helpers::{Browser, TestApp, error_of, eventually, spawn_app, spawn_app_with};
use crate::smtp::SmtpSink;

/// Accepts an invitation as the invitee would; the browser is then signed in.
async fn accept(app: &TestApp, token: &str, name: &str, handle: &str) -> (StatusCode, Browser) {
    let browser = Browser::new(&app.address);
    let response = post_public(
        &browser,
        app,
        "/invitations/accept",
        &[
            ("token", token),
            ("name", name),
            ("handle", handle),
            ("password", "the invitee's password"),
        ],
    )
    .await;
    (response.status(), browser)
}

#[tokio::test]
async fn an_invitation_is_mailed_accepted_once_and_signs_the_invitee_in() {
    let smtp = SmtpSink::start().await;
    let app = spawn_app_with(&[("SMTP_URL", &smtp.url)]).await;
    let ws = app.create_workspace("Acme").await;
    let response = app
        .api(&ws.admin)
        .post(
            "/api/invitations",
            &json!({"email": "new.agent@acme.test", "role": "agent"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["status"], "pending");
    assert!(
        created.get("invite_link").is_none(),
        "with mail set up, the link goes by mail only"
    );

    let mail = smtp.wait_for(1).await.remove(0);
    assert_eq!(mail.rcpt_to, ["new.agent@acme.test"]);
    assert!(
        mail.text().contains("Acme Admin invited you to join Acme"),
        "{}",
        mail.data
    );
    let token = token_in(&mail.text());
    let stored: (Vec<u8>, String) = eventually("the sent mail is recorded", Duration::from_secs(10), || async {
        sqlx::query_as("SELECT i.token_hash, m.body FROM invitations i, mail_outbox m WHERE m.sent_at IS NOT NULL")
            .fetch_optional(&app.pool)
            .await
            .unwrap()
    })
    .await;
    assert_ne!(stored.0, token.as_bytes(), "stored hashed");
    assert!(
        !stored.1.contains(&token),
        "a sent mail's link is erased from the outbox: {}",
        stored.1
    );

    let invitee = Browser::new(&app.address);
    let page = invitee
        .get_html(&format!("/invitations/accept?token={token}"))
        .await;
    assert!(page.contains("Join Acme") && page.contains("new.agent@acme.test"));
    let (status, browser) = accept(&app, &token, "Nia Agent", "nia").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let profile = browser.get_html("/settings/profile").await;
    assert!(
        profile.contains("Nia Agent") && profile.contains("agent"),
        "{profile}"
    );

    let (status, _) = accept(&app, &token, "Someone Else", "else").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "single use");
    let open: Value = app.api(&ws.owner).get_json("/api/invitations").await;
    assert_eq!(open, json!([]));
    let people: Value = app.api(&ws.agent).get_json("/api/users").await;
    let nia = people
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["handle"] == "nia")
        .unwrap();
    assert_eq!(
        (nia["role"].as_str(), nia["status"].as_str()),
        (Some("agent"), Some("active"))
    );
}

#[tokio::test]
async fn who_may_invite_whom_and_whom_not() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let invite = |user, email: &str, role: &str| {
        let body = json!({"email": email, "role": role});
        let api = app.api(user);
        async move { api.post("/api/invitations", &body).await }
    };
    let (status, code, _) = error_of(invite(&ws.admin, "boss@acme.test", "owner").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let (status, _, _) = error_of(invite(&ws.agent, "pal@acme.test", "agent").await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, code, field) = error_of(invite(&ws.owner, "AGENT@acme.test", "agent").await).await;
    assert_eq!(
        (status, code.as_str(), field.as_deref()),
        (StatusCode::CONFLICT, "conflict", Some("email"))
    );
    let (status, _, field) = error_of(invite(&ws.owner, "not an email", "agent").await).await;
    assert_eq!(
        (status, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("email"))
    );
    assert_eq!(
        invite(&ws.owner, "boss@acme.test", "owner").await.status(),
        StatusCode::CREATED
    );
    let (status, _, field) = error_of(invite(&ws.admin, "boss@acme.test", "owner").await).await;
    assert_eq!((status, field), (StatusCode::FORBIDDEN, None));
    let (status, _, field) = error_of(invite(&ws.owner, "Boss@acme.test", "admin").await).await;
    assert_eq!(
        (status, field.as_deref()),
        (StatusCode::CONFLICT, Some("email")),
        "one open invitation per address"
    );
}

#[tokio::test]
async fn without_mail_the_inviter_gets_the_link_and_resend_and_revoke_replace_it() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let created: Value = app
        .api(&ws.owner)
        .post(
            "/api/invitations",
            &json!({"email": "pat@acme.test", "role": "admin"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let first = token_in(
        created["invite_link"]
            .as_str()
            .expect("no SMTP_URL: the link is handed over"),
    );
    let id = created["id"].as_i64().unwrap();
    let resent: Value = app
        .api(&ws.owner)
        .post_empty(&format!("/api/invitations/{id}/resend"))
        .await
        .json()
        .await
        .unwrap();
    let second = token_in(resent["invite_link"].as_str().unwrap());
    assert_ne!(first, second);
    let browser = Browser::new(&app.address);
    assert_eq!(
        browser
            .get(&format!("/invitations/accept?token={first}"))
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a resent invitation's old link stops"
    );
    assert_eq!(
        browser
            .get(&format!("/invitations/accept?token={second}"))
            .await
            .status(),
        StatusCode::OK
    );
    // The mail kept for a missing SMTP_URL is not written to the log, and counted once.
    let mails: i64 = sqlx::query_scalar("SELECT count(*) FROM mail_outbox WHERE holds_secret")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(mails, 2);

    assert_eq!(
        app.api(&ws.owner)
            .delete(&format!("/api/invitations/{id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let (status, _) = accept(&app, &second, "Pat", "pat").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a revoked invitation's link stops"
    );
    assert_eq!(
        app.api(&ws.owner)
            .delete(&format!("/api/invitations/{id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_invitation_expires_after_seven_days_and_a_refused_choice_keeps_it() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let created: Value = app
        .api(&ws.owner)
        .post(
            "/api/invitations",
            &json!({"email": "sam@acme.test", "role": "agent"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let token = token_in(created["invite_link"].as_str().unwrap());
    let days: f64 = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM expires_at - sent_at)::float8 / 86400 FROM invitations",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!((days - 7.0).abs() < 0.001, "{days}");

    // A taken handle is refused on the form, and the link still works.
    let (status, _) = accept(&app, &token, "Sam", "acme-agent").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let browser = Browser::new(&app.address);
    assert_eq!(
        browser
            .get(&format!("/invitations/accept?token={token}"))
            .await
            .status(),
        StatusCode::OK
    );

    sqlx::query("UPDATE invitations SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, _) = accept(&app, &token, "Sam", "sam").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "expired");
    let listed: Value = app.api(&ws.owner).get_json("/api/invitations").await;
    assert_eq!(listed[0]["status"], "expired", "listed for resending");
}

#[tokio::test]
async fn invitations_are_rate_limited_per_workspace() {
    let app = spawn_app_with(&[("INVITATIONS_PER_HOUR", "2")]).await;
    let ws = app.create_workspace("Acme").await;
    let other = app.create_workspace("Other").await;
    for n in 0..2 {
        let response = app
            .api(&ws.admin)
            .post(
                "/api/invitations",
                &json!({"email": format!("p{n}@acme.test"), "role": "agent"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let response = app
        .api(&ws.owner)
        .post(
            "/api/invitations",
            &json!({"email": "p3@acme.test", "role": "agent"}),
        )
        .await;
    assert!(response.headers().contains_key("retry-after"));
    let (status, code, _) = error_of(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    let elsewhere = app
        .api(&other.owner)
        .post(
            "/api/invitations",
            &json!({"email": "p@other.test", "role": "agent"}),
        )
        .await;
    assert_eq!(
        elsewhere.status(),
        StatusCode::CREATED,
        "one workspace's limit is its own"
    );
}
