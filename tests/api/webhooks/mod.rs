//! Webhook notifications through HTTP, with real receivers on loopback: the payloads the
//! spec fixes (`payloads`), durable delivery, retries and the log (`delivery`), and who may
//! keep which destination (`destinations`).

mod bounds;
mod catalog;
mod delivery;
mod destinations;
mod listening;
mod payloads;
mod replay;

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{
    ALL_EVENT_TYPES as ALL, TestApp, TestUser, TestWorkspace, eventually, loopback_with,
};
use crate::receiver::Captured;

struct Setup {
    app: TestApp,
    ws: TestWorkspace,
    channel: i64,
}

async fn setup_with(env: &[(&str, &str)]) -> Setup {
    let app = crate::helpers::spawn_app_with(&loopback_with(env)).await;
    let ws = app.create_workspace("Acme").await;
    let channel = app.create_channel(&ws.admin, "Support").await;
    Setup { app, ws, channel }
}

async fn setup() -> Setup {
    setup_with(&[]).await
}

impl Setup {
    async fn destination(&self, user: &TestUser, scope: &str, url: &str, events: &[&str]) -> Value {
        self.app
            .destination(user, url)
            .set("scope", scope)
            .set("events", json!(events))
            .create()
            .await
    }

    /// Assigns ticket `id` to `to`, acting as `by`.
    async fn assign(&self, by: &TestUser, id: i64, to: &TestUser) {
        self.app
            .api(by)
            .put(
                &format!("/api/tickets/{id}/assignee"),
                &json!({"user_id": to.id}),
            )
            .await;
    }

    /// `destination`'s delivery log, as `user` reads it.
    async fn log(&self, user: &TestUser, destination: &Value) -> Vec<Value> {
        self.app
            .api(user)
            .get_json(&format!(
                "/api/webhook-destinations/{}/deliveries",
                destination["id"]
            ))
            .await
    }

    async fn ticket(&self, user: &TestUser) -> Value {
        self.app
            .ticket(user)
            .set("subject", "I can't log in")
            .set("body", "<p>Hello <b>there</b></p>")
            .set("channel_id", self.channel)
            .create()
            .await
    }
}

fn body_of(c: &Captured) -> Value {
    serde_json::from_slice(&c.body).unwrap()
}

/// Waits until no delivery is pending and every event is fanned out.
async fn settle(pool: &PgPool) {
    eventually("deliveries settle", Duration::from_secs(30), || async {
        let pending: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending')
                  + (SELECT count(*) FROM events WHERE NOT webhooks_fanned_out)",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        (pending == 0).then_some(())
    })
    .await
}

fn assert_envelope(body: &Value, raw: &[u8], kind: &str) {
    assert_eq!(body["type"], kind);
    let ulid = body["ulid"].as_str().unwrap();
    assert_eq!(ulid.len(), 26);
    assert_eq!(ulid, ulid.to_ascii_lowercase());
    let sent_at = body["sent_at"].as_str().unwrap();
    assert!(
        sent_at.ends_with("+00:00") && sent_at.len() == 25,
        "{sent_at}"
    );
    let raw = std::str::from_utf8(raw).unwrap();
    assert!(
        raw.starts_with(&format!(r#"{{"type":"{kind}","sent_at":""#)),
        "envelope order: {raw}"
    );
    let ulid_at = raw.find(r#""ulid":"#).unwrap();
    assert!(
        ulid_at < raw.find(r#""sent_at":"#).unwrap() + 40,
        "ulid follows sent_at: {raw}"
    );
}

fn ticket_object(s: &Setup, ticket: &Value) -> Value {
    json!({
        "id": ticket["id"],
        "ulid": ticket["ulid"],
        "number": ticket["number"],
        "subject": "I can't log in",
        "status": "open",
        "url": format!("{}/tickets/{}", s.app.address, ticket["id"]),
        "channel": {"id": s.channel, "name": "Support"},
        "contact": {"name": "Jane Doe", "email": "jane@example.com"},
    })
}

fn user_object(u: &TestUser, name: &str) -> Value {
    json!({"id": u.id, "name": name, "email": u.email})
}
