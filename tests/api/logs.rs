//! Logs as an operator reads them: `LOG_FORMAT=json` gives one JSON object per line, with the
//! request id and the caller's ids on a request's lines and the delivery's on an attempt's;
//! and no password, token, cookie or secret ever appears, even at debug level.

use std::process::Stdio;

use serde_json::{Value, json};

use std::time::Duration;

use crate::helpers::{Binary, eventually, owner_with_token, spawn_database};
use crate::receiver::{Behaviour, Receiver};
use crate::team::token_in;

const PASSWORD: &str = "correct-horse-battery-staple";
const SECTION_SECRET: &str = "sidebar-secret-never-logged";
const INVITEE_PASSWORD: &str = "an-invitees-own-password";

#[tokio::test]
async fn json_logs_carry_ids_and_never_a_secret() {
    let db = spawn_database().await;
    let (workspace, owner, token) = owner_with_token(&db, "owner@logs.test", PASSWORD).await;
    let receiver = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let endpoint = Receiver::start(Behaviour::Respond(200, r#"{"data":[]}"#.into())).await;

    let log_path =
        std::env::temp_dir().join(format!("therethere-logs-{}.jsonl", ulid::Ulid::new()));
    let log_file = std::fs::File::create(&log_path).unwrap();
    let env = [("LOG_FORMAT", "json"), ("RUST_LOG", "debug")];
    let mut binary = Binary::start(&db, &[], &env, Some(Stdio::from(log_file)));
    binary.ready().await;
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let url = |path: &str| format!("{}{path}", binary.base);

    let login = client
        .post(url("/login"))
        .form(&[("email", "owner@logs.test"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(login.status().is_success(), "{}", login.status());
    let post = |path: &str, body: Value| {
        client
            .post(url(path))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let destination: Value = post(
        "/api/webhook-destinations",
        json!({"scope": "workspace", "url": receiver.url, "events": ["ticketOpened"]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let destination_secret = destination["secret"].as_str().unwrap().to_string();
    let channel: Value = post("/api/channels", json!({"name": "Billing"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let section = post("/api/sidebar-sections", json!({"title": "CRM", "endpoint_url": endpoint.url, "secret": SECTION_SECRET, "channel_ids": [channel["id"]]}))
        .await
        .unwrap();
    assert_eq!(section.status(), 201);
    let ticket: Value = post("/api/tickets", json!({"subject": "Help", "body": "Hi", "contact": {"name": "Jane", "email": "jane@example.com"}, "channel_id": channel["id"]}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sidebar = client
        .get(url(&format!("/api/tickets/{}/sidebar", ticket["id"])))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(sidebar.status(), 200);
    receiver.wait_for(1).await;
    endpoint.wait_for(1).await;

    // Links that let someone in: an invitation (accepted with a password) and a reset.
    let invited: Value = post(
        "/api/invitations",
        json!({"email": "new@logs.test", "role": "agent"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let invitation_secret = token_in(invited["invite_link"].as_str().unwrap());
    let accepted = reqwest::Client::new()
        .post(url("/invitations/accept"))
        .form(&[
            ("token", invitation_secret.as_str()),
            ("name", "New Person"),
            ("handle", "new"),
            ("password", INVITEE_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert!(accepted.status().is_success(), "{}", accepted.status());
    let forgot = client
        .post(url("/password/forgot"))
        .form(&[("email", "owner@logs.test")])
        .send()
        .await
        .unwrap();
    assert!(forgot.status().is_success());
    // Without SMTP_URL both mails wait in the outbox, and the sender notes them in the log.
    let reset_mail: String = eventually(
        "the reset mail is noted",
        Duration::from_secs(20),
        || async {
            sqlx::query_scalar(
            "SELECT body FROM mail_outbox WHERE subject LIKE 'Reset%' AND logged_at IS NOT NULL",
        )
        .fetch_optional(&db.pool)
        .await
        .unwrap()
        },
    )
    .await;
    let reset_secret = token_in(&reset_mail);
    binary.stop();

    let logs = std::fs::read_to_string(&log_path).unwrap();
    std::fs::remove_file(&log_path).ok();
    let lines: Vec<Value> = logs
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(lines.len() > 10, "{} lines", lines.len());
    let shows = |needle: &str| logs.contains(needle);
    assert!(
        shows("\"request_id\""),
        "request lines carry the request id"
    );
    assert!(
        shows(&format!("\"user_id\":{}", owner.id))
            && shows(&format!("\"workspace_id\":{}", workspace.id)),
        "a request's lines name the caller"
    );
    assert!(
        shows("\"delivery.ulid\""),
        "an attempt's lines name the delivery"
    );
    assert!(
        shows("\"section.id\""),
        "a sidebar call's lines name the section"
    );
    let cookie = client_cookie(&logs);
    for secret in [
        PASSWORD,
        token.as_str(),
        destination_secret.as_str(),
        SECTION_SECRET,
        invitation_secret.as_str(),
        INVITEE_PASSWORD,
        reset_secret.as_str(),
    ] {
        assert!(!shows(secret), "a secret was logged: {secret}");
    }
    assert!(cookie.is_none(), "a session cookie was logged");
}

/// A session cookie's value, should one appear in the logs (`therethere_session=...`).
fn client_cookie(logs: &str) -> Option<&str> {
    let at = logs.find("therethere_session=")?;
    Some(&logs[at..(at + 40).min(logs.len())])
}
