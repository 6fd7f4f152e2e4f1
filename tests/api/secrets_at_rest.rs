//! Signing secrets at rest: sealed under the operator's key, so a dump signs nothing; the
//! service signs exactly as before across restarts; a wrong or missing key stops start-up
//! without touching what is stored; the key rotates with two instances running.

use std::process::Stdio;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{Binary, LOOPBACK, TestApp, owner_with_token, spawn_app_with, spawn_database};
use crate::receiver::{Behaviour, Receiver};

const KEY_ONE: &str = "b25lLWtleS1vbmUta2V5LW9uZS1rZXktb25lLWtleSE=";
const KEY_TWO: &str = "dHdvLWtleS10d28ta2V5LXR3by1rZXktdHdvLWtleSE=";
const PASSWORD: &str = "a-password-nobody-reads";

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A receiver's deliveries all carry a `ThereThere-Signature` made with `secret`.
fn signed_with(receiver: &Receiver, secret: &str) -> bool {
    let got = receiver.requests();
    !got.is_empty()
        && got.iter().all(|r| {
            r.headers
                .get("therethere-signature")
                .and_then(|v| v.to_str().ok())
                == Some(hmac_hex(secret, &r.body).as_str())
        })
}

async fn api(base: &str, token: &str, method: reqwest::Method, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_dump_of_the_database_holds_no_secret_token_or_password_in_readable_form() {
    let app = spawn_app_with(LOOPBACK).await;
    let ws = app.create_workspace("Acme").await;
    let receiver = Receiver::start(Behaviour::Respond(200, r#"{"data":[]}"#.into())).await;
    let destination: Value = app
        .api(&ws.admin)
        .post(
            "/api/webhook-destinations",
            &json!({"scope": "workspace", "url": receiver.url, "events": ["ticketOpened"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let regenerated: Value = app
        .api(&ws.admin)
        .post(
            &format!(
                "/api/webhook-destinations/{}/regenerate-secret",
                destination["id"]
            ),
            &json!({"grace_period_hours": 24}),
        )
        .await
        .json()
        .await
        .unwrap();
    let channel = app.create_channel(&ws.admin, "Support").await;
    let section: Value = app
        .api(&ws.admin)
        .post(
            "/api/sidebar-sections",
            &json!({"title": "CRM", "endpoint_url": receiver.url, "secret": "section-secret-in-the-clear", "channel_ids": [channel]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        section["secret"], "section-secret-in-the-clear",
        "admins still read it"
    );
    let dump = pg_dump(&app);
    for secret in [
        destination["secret"].as_str().unwrap(),
        regenerated["secret"].as_str().unwrap(),
        "section-secret-in-the-clear",
        ws.owner.token.as_str(),
        ws.owner.password.as_str(),
    ] {
        assert!(!dump.contains(secret), "readable in the dump: {secret}");
    }
    assert!(dump.contains("tt1:"), "the secrets are there, sealed");
    // And they still sign: a test notification carries the regenerated secret's signature.
    app.api(&ws.admin)
        .post(
            &format!("/api/webhook-destinations/{}/test", destination["id"]),
            &json!({}),
        )
        .await;
    receiver.wait_for(1).await;
    assert!(signed_with(
        &receiver,
        regenerated["secret"].as_str().unwrap()
    ));
}

fn pg_dump(app: &TestApp) -> String {
    let pg_dump = ["/usr/lib/postgresql/15/bin/pg_dump", "pg_dump"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("pg_dump");
    let out = std::process::Command::new(pg_dump)
        .arg("--dbname")
        .arg(app.database_url())
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `serve` with `key` (and `previous`), ready.
async fn serve(db: &TestApp, key: &str, previous: Option<&str>) -> Binary {
    let mut env = vec![("SECRETS_KEY", key)];
    env.extend(previous.map(|p| ("SECRETS_KEY_PREVIOUS", p)));
    let mut binary = Binary::start(db, &[], &env, None);
    binary.ready().await;
    binary
}

/// `serve` that must refuse to start; what it said.
fn refused(db: &TestApp, env: &[(&str, &str)]) -> String {
    let mut binary = Binary::start(db, &[], env, Some(Stdio::piped()));
    let status = binary.child.wait().unwrap();
    assert!(!status.success(), "start-up was refused");
    let mut said = String::new();
    use std::io::Read;
    binary
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut said)
        .unwrap();
    said
}

#[tokio::test]
async fn plaintext_secrets_are_sealed_at_start_and_a_wrong_or_missing_key_stops_start_up() {
    let db = spawn_database().await;
    let (workspace, _, token) = owner_with_token(&db, "owner@acme.test", PASSWORD).await;
    let receiver = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    // As a release before sealing stored it.
    sqlx::query(
        "INSERT INTO webhook_destinations (workspace_id, name, url, events, secret)
         VALUES ($1, 'old', $2, ARRAY['ticketOpened'], 'whsec_plaintext-from-before')",
    )
    .bind(workspace.id)
    .bind(&receiver.url)
    .execute(&db.pool)
    .await
    .unwrap();
    let binary = serve(&db, KEY_ONE, None).await;
    let stored: String = sqlx::query_scalar("SELECT secret FROM webhook_destinations")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(
        stored.starts_with("tt1:") && !stored.contains("plaintext"),
        "{stored}"
    );
    api(
        &binary.base,
        &token,
        reqwest::Method::POST,
        "/api/tickets",
        crate::helpers::ticket_body("Hi", "jane@example.com"),
    )
    .await;
    receiver.wait_for(1).await;
    assert!(
        signed_with(&receiver, "whsec_plaintext-from-before"),
        "it signs as before"
    );
    binary.stop();

    let said = refused(&db, &[("SECRETS_KEY", KEY_TWO)]);
    assert!(
        said.contains("neither SECRETS_KEY nor SECRETS_KEY_PREVIOUS"),
        "{said}"
    );
    let said = {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_therethere"));
        cmd.arg("serve")
            .env("DATABASE_URL", db.database_url())
            .env_remove("SECRETS_KEY");
        String::from_utf8_lossy(&cmd.output().unwrap().stderr).into_owned()
    };
    assert!(said.contains("SECRETS_KEY: is not set"), "{said}");
    let unchanged: String = sqlx::query_scalar("SELECT secret FROM webhook_destinations")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(unchanged, stored, "a refused start writes nothing");
    // The same key after a restart: still signs.
    let again = serve(&db, KEY_ONE, None).await;
    api(
        &again.base,
        &token,
        reqwest::Method::POST,
        "/api/tickets",
        crate::helpers::ticket_body("Again", "joe@example.com"),
    )
    .await;
    receiver.wait_for(2).await;
    assert!(signed_with(&receiver, "whsec_plaintext-from-before"));
    again.stop();
}

async fn sidebar_ok(base: &str, token: &str, ticket: &Value) {
    let loads = api(
        base,
        token,
        reqwest::Method::GET,
        &format!("/api/tickets/{}/sidebar", ticket["id"]),
        Value::Null,
    )
    .await;
    assert_eq!(loads[0]["status"], "ok", "{loads}");
}

#[tokio::test]
async fn the_key_rotates_with_two_instances_running_and_nothing_fails() {
    let db = spawn_database().await;
    let (_, _, token) = owner_with_token(&db, "owner@acme.test", PASSWORD).await;
    let receiver = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let endpoint = Receiver::start(Behaviour::Respond(
        200,
        r#"{"data":[{"name":"Plan","value":"Pro","type":"markdown"}]}"#.into(),
    ))
    .await;
    let old = serve(&db, KEY_ONE, None).await;
    let destination = api(
        &old.base,
        &token,
        reqwest::Method::POST,
        "/api/webhook-destinations",
        json!({"scope": "workspace", "url": receiver.url, "events": ["ticketOpened"]}),
    )
    .await;
    let channel = api(
        &old.base,
        &token,
        reqwest::Method::POST,
        "/api/channels",
        json!({"name": "Support"}),
    )
    .await;
    api(&old.base, &token, reqwest::Method::POST, "/api/sidebar-sections",
        json!({"title": "CRM", "endpoint_url": endpoint.url, "secret": "section-secret", "channel_ids": [channel["id"]]})).await;
    // Step 1: both instances open both keys; the new one seals with the new key.
    let both = serve(&db, KEY_TWO, Some(KEY_ONE)).await;
    old.stop();
    let old = serve(&db, KEY_ONE, Some(KEY_TWO)).await;
    let mut sent = 0;
    for base in [&old.base, &both.base] {
        let ticket = api(base, &token, reqwest::Method::POST, "/api/tickets",
            json!({"subject": "Hi", "body": "Hi", "contact": {"name": "Jane", "email": format!("jane{sent}@example.com")}, "channel_id": channel["id"]})).await;
        sidebar_ok(base, &token, &ticket).await;
        sent += 1;
    }
    // Step 2: re-seal everything under the new key while both run.
    let out = tokio::task::spawn_blocking({
        let url = db.database_url();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_therethere"))
                .arg("rotate-secrets-key")
                .env("DATABASE_URL", url)
                .env("SECRETS_KEY", KEY_TWO)
                .env("SECRETS_KEY_PREVIOUS", KEY_ONE)
                .env("RUST_LOG", "warn")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Re-sealed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let new_id = therethere::secrets::keys::KeySettings {
        key: Some(KEY_TWO.into()),
        ..Default::default()
    }
    .load()
    .unwrap()
    .current
    .id()
    .to_string();
    let under_new: Vec<bool> = sqlx::query_scalar(
        "SELECT secret LIKE 'tt1:' || $1 || ':%' FROM webhook_destinations
         UNION ALL SELECT secret LIKE 'tt1:' || $1 || ':%' FROM sidebar_sections",
    )
    .bind(&new_id)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(under_new.iter().all(|b| *b), "{under_new:?}");
    for base in [&old.base, &both.base] {
        let ticket = api(base, &token, reqwest::Method::POST, "/api/tickets",
            json!({"subject": "Hi", "body": "Hi", "contact": {"name": "Jane", "email": format!("jane{sent}@example.com")}, "channel_id": channel["id"]})).await;
        sidebar_ok(base, &token, &ticket).await;
        sent += 1;
    }
    receiver.wait_for(sent).await;
    assert!(
        signed_with(&receiver, destination["secret"].as_str().unwrap()),
        "every delivery signed right"
    );
    let failed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_attempts WHERE NOT succeeded")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(failed, 0);
    // Step 3: the previous key can go.
    old.stop();
    both.stop();
    let alone = serve(&db, KEY_TWO, None).await;
    let ticket = api(&alone.base, &token, reqwest::Method::POST, "/api/tickets",
        json!({"subject": "Hi", "body": "Hi", "contact": {"name": "Jane", "email": "last@example.com"}, "channel_id": channel["id"]})).await;
    sidebar_ok(&alone.base, &token, &ticket).await;
    alone.stop();
}
