//! Builders for what tests set up through the API as a user would: channels, tickets,
//! sidebar sections and webhook destinations. Each starts from a valid default, takes the
//! fields a test cares about, and either `create`s (asserting success) or `send`s (for tests
//! of refusals).

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use super::{TestApp, TestUser};

/// Every webhook event type, as destinations subscribe to them.
pub const ALL_EVENT_TYPES: [&str; 5] = [
    "ticketOpened",
    "newReply",
    "assignedToMe",
    "mentionedInNote",
    "replyOnAssignedTicket",
];

/// A JSON body to POST as someone, with fields set one by one.
pub struct Builder<'a> {
    app: &'a TestApp,
    user: &'a TestUser,
    path: &'static str,
    body: Value,
}

impl Builder<'_> {
    /// Sets one field of the body (`null` included, for tests of refusals).
    pub fn set(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.body[field] = value.into();
        self
    }

    /// Sets every field of `fields`, a JSON object.
    pub fn merge(mut self, fields: Value) -> Self {
        for (field, value) in fields.as_object().expect("fields are an object") {
            self.body[field] = value.clone();
        }
        self
    }

    /// POSTs the body and returns the response as it is.
    pub async fn send(self) -> Response {
        self.app.api(self.user).post(self.path, &self.body).await
    }

    /// POSTs the body, asserts 201 Created, and returns what was created.
    pub async fn create(self) -> Value {
        let path = self.path;
        let response = self.send().await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "POST {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// As `create`, returning only the new id.
    pub async fn create_id(self) -> i64 {
        self.create().await["id"].as_i64().expect("an id")
    }
}

impl TestApp {
    fn builder<'a>(&'a self, user: &'a TestUser, path: &'static str, body: Value) -> Builder<'a> {
        Builder {
            app: self,
            user,
            path,
            body,
        }
    }

    /// A ticket ("Help", from Jane Doe <jane@example.com>, no channel) opened as `user`.
    pub fn ticket<'a>(&'a self, user: &'a TestUser) -> Builder<'a> {
        self.builder(
            user,
            "/api/tickets",
            ticket_body("Help", "jane@example.com"),
        )
    }

    /// A sidebar section "Billing Info" calling `endpoint_url`, on no channel until `channel_ids`
    /// is set, created as `admin`.
    pub fn section<'a>(&'a self, admin: &'a TestUser, endpoint_url: &str) -> Builder<'a> {
        let body =
            json!({"title": "Billing Info", "endpoint_url": endpoint_url, "channel_ids": []});
        self.builder(admin, "/api/sidebar-sections", body)
    }

    /// A workspace destination at `url` for every event type, created as `user`.
    pub fn destination<'a>(&'a self, user: &'a TestUser, url: &str) -> Builder<'a> {
        let body = json!({"scope": "workspace", "url": url, "events": ALL_EVENT_TYPES});
        self.builder(user, "/api/webhook-destinations", body)
    }

    /// Creates a channel through the API as `admin`, returning its id.
    pub async fn create_channel(&self, admin: &TestUser, name: &str) -> i64 {
        self.builder(admin, "/api/channels", json!({ "name": name }))
            .create_id()
            .await
    }

    /// Creates a ticket through the API as `user`, returning its JSON.
    pub async fn create_ticket(&self, user: &TestUser, body: Value) -> Value {
        self.builder(user, "/api/tickets", body).create().await
    }
}

/// A ticket's JSON body: `subject`, a short body, and Jane Doe at `email` as the contact.
pub fn ticket_body(subject: &str, email: &str) -> Value {
    json!({
        "subject": subject,
        "body": "Hello, I need help.",
        "contact": { "name": "Jane Doe", "email": email },
    })
}
