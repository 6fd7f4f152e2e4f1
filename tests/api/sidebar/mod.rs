//! Custom sidebar sections through HTTP, with real endpoint servers and a real SMTP listener
//! on loopback: one test per promise of the spec. The call and its cache (`calls`),
//! failures, auto-disable and the Test button (`failures`), rendering (`rendering`), the
//! settings (`settings`), Test as typed (`draft`), loading on arrival (`warm_up`), and what agents and admins reach for next
//! (`extras`).

mod calls;
mod draft;
mod extras;
mod failures;
mod rendering;
mod settings;
mod warm_up;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestWorkspace, loopback_with};

const SPEC_EXAMPLE: &str = r#"{"data":[
  {"name":"Plan","value":"**Pro** plan","type":"markdown"},
  {"name":"MRR","value":1234567.5,"type":"numeric"},
  {"name":"Member since","value":"2025-06-15T00:00:00Z","type":"date"},
  {"name":"Active","value":true,"type":"boolean"},
  {"name":"Trial","value":false,"type":"boolean"},
  {"name":"Dashboard","value":"https://app.example.com/users/123","type":"url"}]}"#;

struct Setup {
    app: TestApp,
    ws: TestWorkspace,
    channel: i64,
    other_channel: i64,
}

async fn setup_with(env: &[(&str, &str)]) -> Setup {
    let app = crate::helpers::spawn_app_with(&loopback_with(env)).await;
    let ws = app.create_workspace("Acme").await;
    let channel = app.create_channel(&ws.admin, "Billing").await;
    let other_channel = app.create_channel(&ws.admin, "Support").await;
    Setup {
        app,
        ws,
        channel,
        other_channel,
    }
}

async fn setup() -> Setup {
    setup_with(&[]).await
}

impl Setup {
    /// A section on the Billing channel calling `url`, with `extra` fields.
    async fn section(&self, url: &str, extra: Value) -> Value {
        self.app
            .section(&self.ws.admin, url)
            .set("channel_ids", json!([self.channel]))
            .merge(extra)
            .create()
            .await
    }

    /// A ticket from `email` on `channel`, opened by the agent.
    async fn ticket(&self, email: &str, channel: Option<i64>) -> i64 {
        self.app
            .ticket(&self.ws.agent)
            .set("contact", json!({"name": "Jane", "email": email}))
            .set("channel_id", json!(channel))
            .create_id()
            .await
    }

    /// A ticket on the Billing channel from a contact of its own (`contact{i}@example.com`).
    async fn ticket_owned(&self, i: usize) -> i64 {
        self.ticket(&format!("contact{i}@example.com"), Some(self.channel))
            .await
    }

    async fn sidebar(&self, ticket: i64) -> Vec<Value> {
        let response = self
            .app
            .api(&self.ws.agent)
            .get(&format!("/api/tickets/{ticket}/sidebar"))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Vec<Value>>().await.unwrap()
    }

    async fn section_row(&self, id: i64) -> Value {
        self.app
            .api(&self.ws.admin)
            .get_json(&format!("/api/sidebar-sections/{id}"))
            .await
    }
}
