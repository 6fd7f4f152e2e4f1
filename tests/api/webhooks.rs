//! Webhook notifications through HTTP, with real receivers on loopback.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, TestUser, TestWorkspace, error_of, spawn_app, spawn_app_with};
use crate::receiver::{Behaviour, Captured, Receiver};

const LOOPBACK: &[(&str, &str)] = &[
    ("OUTBOUND_ALLOW_PRIVATE", "true"),
    ("OUTBOUND_ALLOW_HTTP", "true"),
];
const ALL: [&str; 5] = [
    "ticketOpened",
    "newReply",
    "assignedToMe",
    "mentionedInNote",
    "replyOnAssignedTicket",
];

struct Setup {
    app: TestApp,
    ws: TestWorkspace,
    channel: i64,
}

async fn setup_with(env: &[(&str, &str)]) -> Setup {
    let mut vars = LOOPBACK.to_vec();
    vars.extend_from_slice(env);
    let app = spawn_app_with(&vars).await;
    let ws = app.create_workspace("Acme").await;
    let channel = app
        .api(&ws.admin)
        .post("/api/channels", &json!({"name": "Support"}))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    Setup { app, ws, channel }
}

async fn setup() -> Setup {
    setup_with(&[]).await
}

impl Setup {
    async fn destination(&self, user: &TestUser, scope: &str, url: &str, events: &[&str]) -> Value {
        let response = self
            .app
            .api(user)
            .post(
                "/api/webhook-destinations",
                &json!({"scope": scope, "url": url, "events": events}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "{}",
            response.text().await.unwrap()
        );
        response.json().await.unwrap()
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

    async fn ticket(&self, user: &TestUser) -> Value {
        self.app
            .create_ticket(
                user,
                json!({"subject": "I can't log in", "body": "<p>Hello <b>there</b></p>", "contact": {"name": "Jane Doe", "email": "jane@example.com"}, "channel_id": self.channel}),
            )
            .await
    }
}

fn body_of(c: &Captured) -> Value {
    serde_json::from_slice(&c.body).unwrap()
}

/// Waits until no delivery is pending (bounded; polls the queue table).
async fn settle(pool: &PgPool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending')
                  + (SELECT count(*) FROM events WHERE NOT webhooks_fanned_out)",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if pending == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "deliveries did not settle");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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

#[tokio::test]
async fn ticket_opened_has_the_exact_payload_and_a_valid_signature() {
    let s = setup().await;
    let receiver = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let destination = s
        .destination(&s.ws.admin, "workspace", &receiver.url, &["ticketOpened"])
        .await;
    let ticket = s.ticket(&s.ws.agent).await;
    let got = receiver.wait_for(1).await.remove(0);
    let body = body_of(&got);
    assert_envelope(&body, &got.body, "ticketOpened");
    let mut expected =
        json!({"type": "ticketOpened", "sent_at": body["sent_at"], "ulid": body["ulid"]});
    expected["ticket"] = ticket_object(&s, &ticket);
    assert_eq!(body, expected);
    assert_eq!(got.headers["content-type"], "application/json");

    // The spec's own Node.js snippet verifies it, over the raw bytes received.
    let secret = destination["secret"].as_str().unwrap();
    let signature = got.headers["therethere-signature"].to_str().unwrap();
    let script = r#"
        const crypto = require('node:crypto');
        function isValid(rawBody, signature, signingSecret) {
            const expected = crypto.createHmac('sha256', signingSecret).update(rawBody).digest('hex');
            return crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(signature));
        }
        const raw = require('node:fs').readFileSync(0);
        process.exit(isValid(raw, process.argv[1], process.argv[2]) ? 0 : 1);
    "#;
    let verify = |sig: &str, key: &str| {
        let mut child = std::process::Command::new("node")
            .args(["-e", script, sig, key])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("node runs");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&got.body).unwrap();
        child.wait().unwrap().success()
    };
    assert!(verify(signature, secret), "node accepts the signature");
    assert!(
        !verify(signature, "whsec_not-the-secret"),
        "and rejects another secret"
    );
}

#[tokio::test]
async fn new_reply_and_reply_on_assigned_ticket_carry_the_message() {
    let s = setup().await;
    let team = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let mine = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    s.destination(&s.ws.admin, "workspace", &team.url, &["newReply"])
        .await;
    s.destination(
        &s.ws.agent,
        "personal",
        &mine.url,
        &["replyOnAssignedTicket"],
    )
    .await;
    let ticket = s.ticket(&s.ws.agent).await;
    let id = ticket["id"].as_i64().unwrap();
    let api = s.app.api(&s.ws.admin);
    api.put(
        &format!("/api/tickets/{id}/assignee"),
        &json!({"user_id": s.ws.agent.id}),
    )
    .await;
    let message: Value = api
        .post(
            &format!("/api/tickets/{id}/messages"),
            &json!({"from": "contact", "body": "<div>Thanks, <i>that</i> worked.</div>"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let message_object = json!({
        "id": message["id"], "ulid": message["ulid"],
        "created_at": chrono::DateTime::parse_from_rfc3339(message["created_at"].as_str().unwrap()).unwrap().with_timezone(&chrono::Utc).format("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
        "excerpt": "Thanks, that worked.",
    });
    let mut ticket_now = ticket_object(&s, &ticket);
    ticket_now["status"] = json!("open");

    let got = team.wait_for(1).await.remove(0);
    let body = body_of(&got);
    assert_envelope(&body, &got.body, "newReply");
    assert_eq!(
        body,
        json!({"type": "newReply", "sent_at": body["sent_at"], "ulid": body["ulid"], "ticket": ticket_now, "message": message_object})
    );

    let got = mine.wait_for(1).await.remove(0);
    let body = body_of(&got);
    assert_envelope(&body, &got.body, "replyOnAssignedTicket");
    assert_eq!(
        body,
        json!({"type": "replyOnAssignedTicket", "sent_at": body["sent_at"], "ulid": body["ulid"], "ticket": ticket_now,
               "message": message_object, "assigned_user": user_object(&s.ws.agent, "Acme Agent")})
    );
}

#[tokio::test]
async fn assigned_to_me_names_who_assigned_or_null_for_the_system() {
    let s = setup().await;
    let mine = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    s.destination(&s.ws.agent, "personal", &mine.url, &["assignedToMe"])
        .await;
    let ticket = s.ticket(&s.ws.owner).await;
    let id = ticket["id"].as_i64().unwrap();
    s.assign(&s.ws.admin, id, &s.ws.agent).await;
    let got = mine.wait_for(1).await.remove(0);
    let body = body_of(&got);
    assert_envelope(&body, &got.body, "assignedToMe");
    assert_eq!(
        body,
        json!({"type": "assignedToMe", "sent_at": body["sent_at"], "ulid": body["ulid"], "ticket": ticket_object(&s, &ticket),
               "assigned_user": user_object(&s.ws.agent, "Acme Agent"), "assigned_by": user_object(&s.ws.admin, "Acme Admin")})
    );
    assert!(
        std::str::from_utf8(&got.body)
            .unwrap()
            .contains(r#""assigned_by":{"#)
    );

    let second = s.ticket(&s.ws.owner).await;
    therethere::helpdesk::tickets::assign_ticket(
        &s.app.pool,
        s.ws.id,
        second["id"].as_i64().unwrap(),
        None,
        Some(s.ws.agent.id),
    )
    .await
    .unwrap();
    let got = mine.wait_for(2).await.remove(1);
    let body = body_of(&got);
    assert_eq!(body["assigned_by"], Value::Null);
    assert!(
        std::str::from_utf8(&got.body)
            .unwrap()
            .contains(r#""assigned_by":null"#),
        "null, not missing"
    );
}

#[tokio::test]
async fn a_ticket_without_a_channel_is_sent_with_channel_null() {
    let s = setup().await;
    let receiver = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    s.destination(&s.ws.agent, "personal", &receiver.url, &["ticketOpened"])
        .await;
    s.app
        .create_ticket(
            &s.ws.owner,
            json!({"subject": "No channel", "body": "Hi", "contact": {"name": "Jane Doe", "email": "jane@example.com"}}),
        )
        .await;
    let got = receiver.wait_for(1).await.remove(0);
    let raw = std::str::from_utf8(&got.body).unwrap();
    assert!(raw.contains(r#""channel":null,"contact""#), "{raw}");
}

#[tokio::test]
async fn mentioned_in_note_carries_the_note_and_both_users() {
    let s = setup().await;
    let mine = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    s.destination(&s.ws.agent, "personal", &mine.url, &["mentionedInNote"])
        .await;
    let ticket = s.ticket(&s.ws.owner).await;
    let id = ticket["id"].as_i64().unwrap();
    let note: Value = s
        .app
        .api(&s.ws.admin)
        .post(
            &format!("/api/tickets/{id}/notes"),
            &json!({"body": format!("@{} can you <b>check</b>?", s.ws.agent.handle)}),
        )
        .await
        .json()
        .await
        .unwrap();
    let got = mine.wait_for(1).await.remove(0);
    let body = body_of(&got);
    assert_envelope(&body, &got.body, "mentionedInNote");
    assert_eq!(body["ticket"], ticket_object(&s, &ticket));
    assert_eq!(body["note"]["id"], note["id"]);
    assert_eq!(body["note"]["ulid"], note["ulid"]);
    assert_eq!(
        body["note"]["excerpt"],
        format!("@{} can you check?", s.ws.agent.handle)
    );
    assert_eq!(
        body["mentioned_user"],
        user_object(&s.ws.agent, "Acme Agent")
    );
    assert_eq!(body["mentioned_by"], user_object(&s.ws.admin, "Acme Admin"));
    assert_eq!(body.as_object().unwrap().len(), 7);
}

#[tokio::test]
async fn your_own_actions_notify_you_as_their_triggers_say() {
    let s = setup().await;
    let agent_hook = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let admin_hook = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    s.destination(&s.ws.agent, "personal", &agent_hook.url, &ALL)
        .await;
    s.destination(&s.ws.admin, "personal", &admin_hook.url, &ALL)
        .await;
    let ticket = s.ticket(&s.ws.owner).await; // ticketOpened: both
    let id = ticket["id"].as_i64().unwrap();
    let agent = s.app.api(&s.ws.agent);
    agent
        .put(
            &format!("/api/tickets/{id}/assignee"),
            &json!({"user_id": s.ws.agent.id}),
        )
        .await; // self-assignment: assignedToMe, assigned by me
    agent
        .post(
            &format!("/api/tickets/{id}/notes"),
            &json!({"body": format!("note to self @{}", s.ws.agent.handle)}),
        )
        .await; // own note: not a teammate's; self-mention: not a mention
    agent
        .put(
            &format!("/api/tickets/{id}/status"),
            &json!({"status": "closed"}),
        )
        .await;
    agent
        .put(
            &format!("/api/tickets/{id}/status"),
            &json!({"status": "open"}),
        )
        .await; // own reopen: ticketOpened for both
    settle(&s.app.pool).await;
    let kinds = |r: &Receiver| {
        let mut kinds: Vec<String> = r
            .requests()
            .iter()
            .map(|c| body_of(c)["type"].as_str().unwrap().to_string())
            .collect();
        kinds.sort();
        kinds
    };
    assert_eq!(
        kinds(&agent_hook),
        ["assignedToMe", "ticketOpened", "ticketOpened"]
    );
    assert_eq!(kinds(&admin_hook), ["ticketOpened", "ticketOpened"]);
    let assigned = agent_hook
        .requests()
        .iter()
        .map(body_of)
        .find(|b| b["type"] == "assignedToMe")
        .unwrap();
    assert_eq!(assigned["assigned_by"], assigned["assigned_user"]);
    assert_eq!(assigned["assigned_by"]["id"], s.ws.agent.id);
}

#[tokio::test]
async fn one_action_sends_every_subscribed_type_whose_trigger_holds_each_with_its_own_ulid() {
    let s = setup().await;
    let mine = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    s.destination(&s.ws.agent, "personal", &mine.url, &ALL)
        .await;
    let ticket = s.ticket(&s.ws.owner).await;
    let id = ticket["id"].as_i64().unwrap();
    s.assign(&s.ws.owner, id, &s.ws.agent).await;
    // ticketOpened, assignedToMe so far.
    mine.wait_for(2).await;
    s.app
        .api(&s.ws.owner)
        .post(
            &format!("/api/tickets/{id}/messages"),
            &json!({"from": "contact", "body": "Any news?"}),
        )
        .await;
    s.app
        .api(&s.ws.admin)
        .post(
            &format!("/api/tickets/{id}/notes"),
            &json!({"body": format!("@{} please look", s.ws.agent.handle)}),
        )
        .await;
    let got: Vec<Value> = mine.wait_for(6).await.iter().map(body_of).collect();
    settle(&s.app.pool).await;
    assert_eq!(mine.requests().len(), 6, "nothing more than the triggers");
    let of_type = |t: &str| got.iter().filter(|b| b["type"] == t).collect::<Vec<_>>();
    assert_eq!(of_type("newReply").len(), 1);
    assert_eq!(of_type("mentionedInNote").len(), 1);
    let on_assigned = of_type("replyOnAssignedTicket");
    assert_eq!(
        on_assigned.len(),
        2,
        "the contact's reply and the teammate's note"
    );
    let reply = on_assigned
        .iter()
        .find(|b| b.get("message").is_some())
        .unwrap();
    assert_eq!(reply["message"]["excerpt"], "Any news?");
    let note = on_assigned
        .iter()
        .find(|b| b.get("note").is_some())
        .unwrap();
    assert!(
        note.get("message").is_none(),
        "a private note never looks like a customer message"
    );
    assert_eq!(note["note"], of_type("mentionedInNote")[0]["note"]);
    let mut ulids: Vec<&str> = got.iter().map(|b| b["ulid"].as_str().unwrap()).collect();
    ulids.sort();
    ulids.dedup();
    assert_eq!(ulids.len(), 6, "each notification has its own ulid");
}

#[tokio::test]
async fn the_test_notification_matches_the_spec() {
    let s = setup().await;
    let receiver = Receiver::start(Behaviour::Respond(204, String::new())).await;
    let destination = s
        .destination(&s.ws.agent, "personal", &receiver.url, &["newReply"])
        .await;
    let response = s
        .app
        .api(&s.ws.agent)
        .post(
            &format!("/api/webhook-destinations/{}/test", destination["id"]),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let got = receiver.wait_for(1).await.remove(0);
    let body = body_of(&got);
    assert_envelope(&body, &got.body, "test");
    assert_eq!(
        body,
        json!({"type": "test", "sent_at": body["sent_at"], "ulid": body["ulid"],
               "message": "This is a test webhook from There There.", "workspace": {"id": s.ws.id, "name": "Acme"}})
    );
}

#[tokio::test]
async fn failures_are_retried_three_times_in_all_waiting_as_configured() {
    let s = setup_with(&[("WEBHOOK_RETRY_DELAYS", "1,2")]).await;
    let receiver = Receiver::start(Behaviour::Respond(500, "nope".into())).await;
    let destination = s
        .destination(&s.ws.agent, "personal", &receiver.url, &["ticketOpened"])
        .await;
    s.ticket(&s.ws.owner).await;
    let started = Instant::now();
    let got = receiver.wait_for(3).await;
    let ulids: Vec<Value> = got.iter().map(|c| body_of(c)["ulid"].clone()).collect();
    assert!(
        ulids.iter().all(|u| *u == ulids[0]),
        "the ulid is stable across retries"
    );
    assert!(
        got.iter().all(|c| c.body == got[0].body),
        "every attempt sends the same bytes"
    );
    settle(&s.app.pool).await;
    let log: Vec<Value> = s
        .app
        .api(&s.ws.agent)
        .get(&format!(
            "/api/webhook-destinations/{}/deliveries",
            destination["id"]
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log[0]["status"], "failed");
    let attempts = log[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    let at = |i: usize| {
        chrono::DateTime::parse_from_rfc3339(attempts[i]["started_at"].as_str().unwrap()).unwrap()
    };
    let ms = |i: usize| attempts[i]["duration_ms"].as_i64().unwrap();
    let gap1 = (at(1) - at(0)).num_milliseconds() - ms(0);
    let gap2 = (at(2) - at(1)).num_milliseconds() - ms(1);
    assert!(
        (1000..2500).contains(&gap1),
        "waited {gap1} ms after the first failure"
    );
    assert!(
        (2000..3500).contains(&gap2),
        "waited {gap2} ms after the second failure"
    );
    assert!(attempts.iter().all(|a| a["response_status"] == 500));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(receiver.requests().len(), 3, "no fourth attempt");
}

#[tokio::test]
async fn a_receiver_slower_than_five_seconds_fails_and_does_not_hold_up_others() {
    let s = setup().await;
    let slow = Receiver::start(Behaviour::Sleep(Duration::from_secs(10))).await;
    let healthy = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let slow_destination = s
        .destination(&s.ws.admin, "workspace", &slow.url, &["ticketOpened"])
        .await;
    s.destination(&s.ws.admin, "workspace", &healthy.url, &["ticketOpened"])
        .await;
    let started = Instant::now();
    for _ in 0..5 {
        s.ticket(&s.ws.owner).await;
    }
    healthy.wait_for(5).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "healthy deliveries waited {:?}",
        started.elapsed()
    );
    // Wait for the slow destination's first attempts to be cut and recorded.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let recorded: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.destination_id = $1",
        )
        .bind(slow_destination["id"].as_i64().unwrap())
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
        if recorded >= 5 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slow attempts were not recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log: Vec<Value> = s
        .app
        .api(&s.ws.admin)
        .get(&format!(
            "/api/webhook-destinations/{}/deliveries",
            slow_destination["id"]
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log.len(), 5);
    for delivery in &log {
        let attempt = &delivery["attempts"][0];
        assert_eq!(attempt["error"], "timed out");
        let ms = attempt["duration_ms"].as_i64().unwrap();
        assert!((4900..5600).contains(&ms), "cut at {ms} ms");
    }
}

#[tokio::test]
async fn a_hanging_receiver_holds_only_its_share_of_attempts_however_long_its_backlog() {
    // 4 attempts at once in all, 2 per destination; a retry 2 s after a failure.
    let s = setup_with(&[
        ("WEBHOOK_CONCURRENCY", "4"),
        ("WEBHOOK_DESTINATION_CONCURRENCY", "2"),
        ("WEBHOOK_RETRY_DELAYS", "2"),
    ])
    .await;
    let hanging = Receiver::start(Behaviour::FailThenHang(8)).await;
    let healthy = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    s.destination(&s.ws.admin, "workspace", &hanging.url, &["ticketOpened"])
        .await;
    // 8 deliveries fail at once, so their retries fall due together: a backlog at the head
    // of the queue, of which the destination may take 2, not the 4 free slots.
    for _ in 0..8 {
        s.ticket(&s.ws.owner).await;
    }
    hanging.wait_for(8).await;
    s.destination(&s.ws.admin, "workspace", &healthy.url, &["ticketOpened"])
        .await;
    hanging.wait_for(8 + 2).await;
    let started = Instant::now();
    for _ in 0..3 {
        s.ticket(&s.ws.owner).await;
    }
    healthy.wait_for(3).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "healthy deliveries waited {:?} behind the hanging backlog",
        started.elapsed()
    );
    assert_eq!(
        hanging.requests().len(),
        8 + 2,
        "the hanging destination has exactly its 2 retries under way"
    );
}

#[tokio::test]
async fn regenerating_the_secret_invalidates_the_old_one_at_once() {
    let s = setup().await;
    let receiver = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let destination = s
        .destination(&s.ws.agent, "personal", &receiver.url, &["ticketOpened"])
        .await;
    let old = destination["secret"].as_str().unwrap().to_string();
    assert!(old.starts_with("whsec_") && old.len() == 50, "{old}");
    let rolled: Value = s
        .app
        .api(&s.ws.agent)
        .post(
            &format!(
                "/api/webhook-destinations/{}/regenerate-secret",
                destination["id"]
            ),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    let new = rolled["secret"].as_str().unwrap();
    assert_ne!(new, old);
    s.ticket(&s.ws.owner).await;
    let got = receiver.wait_for(1).await.remove(0);
    let signature = got.headers["therethere-signature"].to_str().unwrap();
    assert!(therethere::outbound::signature::verify_hex(
        new.as_bytes(),
        &got.body,
        signature
    ));
    assert!(!therethere::outbound::signature::verify_hex(
        old.as_bytes(),
        &got.body,
        signature
    ));
}

#[tokio::test]
async fn the_log_shows_details_and_resend_repeats_the_same_payload() {
    let s = setup().await;
    let receiver = Receiver::start(Behaviour::Respond(202, r#"{"received":true}"#.into())).await;
    let destination = s
        .destination(&s.ws.agent, "personal", &receiver.url, &["ticketOpened"])
        .await;
    s.ticket(&s.ws.owner).await;
    s.ticket(&s.ws.owner).await;
    receiver.wait_for(2).await;
    settle(&s.app.pool).await;
    let api = s.app.api(&s.ws.agent);
    let log: Vec<Value> = api
        .get(&format!(
            "/api/webhook-destinations/{}/deliveries",
            destination["id"]
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log.len(), 2);
    assert!(
        log[0]["id"].as_i64() > log[1]["id"].as_i64(),
        "newest first"
    );
    assert_eq!(log[0]["status"], "succeeded");
    assert_eq!(log[0]["event_type"], "ticketOpened");
    assert_eq!(log[0]["attempts"][0]["response_status"], 202);
    let page2: Vec<Value> = api
        .get(&format!(
            "/api/webhook-destinations/{}/deliveries?limit=1&before={}",
            destination["id"], log[0]["id"]
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page2.len(), 1);
    assert_eq!(page2[0]["id"], log[1]["id"]);

    let id = log[0]["id"].as_i64().unwrap();
    let detail: Value = api
        .get(&format!("/api/webhook-deliveries/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let attempt = &detail["attempts_detail"][0];
    let headers = attempt["request_headers"].as_array().unwrap();
    assert!(
        headers
            .iter()
            .any(|h| h[0] == "therethere-signature" && h[1].as_str().unwrap().len() == 64)
    );
    assert_eq!(attempt["response_body"], r#"{"received":true}"#);
    assert_eq!(
        body_of_str(detail["payload"].as_str().unwrap())["ulid"],
        detail["ulid"]
    );

    let original = receiver
        .requests()
        .into_iter()
        .find(|c| body_of(c)["ulid"] == detail["ulid"])
        .unwrap();
    let resent: Value = api
        .post(&format!("/api/webhook-deliveries/{id}/resend"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(resent["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(resent["attempts"][1]["trigger"], "resend");
    let again = receiver.wait_for(3).await.pop().unwrap();
    assert_eq!(again.body, original.body, "same body, same ulid");
}

fn body_of_str(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

#[tokio::test]
async fn old_log_entries_are_pruned() {
    let s = setup().await;
    let receiver = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    s.destination(&s.ws.agent, "personal", &receiver.url, &["ticketOpened"])
        .await;
    s.ticket(&s.ws.owner).await;
    s.ticket(&s.ws.owner).await;
    settle(&s.app.pool).await;
    sqlx::query("UPDATE webhook_deliveries SET created_at = now() - interval '31 days' WHERE id = (SELECT min(id) FROM webhook_deliveries)")
        .execute(&s.app.pool)
        .await
        .unwrap();
    let pruned =
        therethere::webhooks::deliveries::prune_log(&s.app.pool, Duration::from_secs(30 * 86_400))
            .await
            .unwrap();
    assert_eq!(pruned, 1);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries")
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
    assert_eq!(left, 1);
}

#[tokio::test]
async fn destinations_follow_the_rules_of_scope_and_ownership() {
    let s = setup().await;
    let url = "http://127.0.0.1:9/hook";
    let agent = s.app.api(&s.ws.agent);
    let (status, _, field) = error_of(
        agent
            .post(
                "/api/webhook-destinations",
                &json!({"scope": "workspace", "url": url, "events": ["ticketOpened"]}),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, field),
        (StatusCode::FORBIDDEN, None),
        "agents cannot add workspace destinations"
    );
    let (status, _, field) = error_of(
        s.app
            .api(&s.ws.admin)
            .post(
                "/api/webhook-destinations",
                &json!({"scope": "workspace", "url": url, "events": ["assignedToMe"]}),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("events"))
    );
    for (body, field) in [
        (json!({"url": url, "events": ["ticketOpened"]}), "scope"),
        (
            json!({"scope": "personal", "url": url, "events": []}),
            "events",
        ),
        (
            json!({"scope": "personal", "url": url, "events": ["ticketClosed"]}),
            "events",
        ),
        (json!({"scope": "personal", "events": ["newReply"]}), "url"),
        (
            json!({"scope": "personal", "url": url, "events": ["newReply"], "name": "x".repeat(101)}),
            "name",
        ),
    ] {
        let (status, _, named) =
            error_of(agent.post("/api/webhook-destinations", &body).await).await;
        assert_eq!(
            (status, named.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}"
        );
    }

    let personal = s.destination(&s.ws.agent, "personal", url, &ALL).await;
    let team = s
        .destination(&s.ws.admin, "workspace", url, &["ticketOpened", "newReply"])
        .await;
    for other in [&s.ws.admin, &s.ws.owner] {
        let api = s.app.api(other);
        assert_eq!(
            api.get(&format!("/api/webhook-destinations/{}", personal["id"]))
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            api.post(
                &format!(
                    "/api/webhook-destinations/{}/regenerate-secret",
                    personal["id"]
                ),
                &json!({})
            )
            .await
            .status(),
            StatusCode::NOT_FOUND
        );
        let listed: Vec<Value> = api
            .get("/api/webhook-destinations")
            .await
            .json()
            .await
            .unwrap();
        assert!(
            listed.iter().all(|d| d["id"] != personal["id"]),
            "another's personal destination is never listed"
        );
    }
    assert_eq!(
        agent
            .get(&format!("/api/webhook-destinations/{}", team["id"]))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let mine: Vec<Value> = agent
        .get("/api/webhook-destinations")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    let other_ws = s.app.create_workspace("Globex").await;
    assert_eq!(
        s.app
            .api(&other_ws.owner)
            .get(&format!("/api/webhook-destinations/{}", team["id"]))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    let patched = agent
        .client
        .patch(
            s.app
                .url(&format!("/api/webhook-destinations/{}", personal["id"])),
        )
        .bearer_auth(&s.ws.agent.token)
        .json(&json!({"events": ["newReply"], "enabled": false, "name": "Pager"}))
        .send()
        .await
        .unwrap();
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(
        (
            patched["events"].clone(),
            patched["enabled"].clone(),
            patched["name"].clone()
        ),
        (json!(["newReply"]), json!(false), json!("Pager"))
    );
}

#[tokio::test]
async fn destination_urls_follow_the_outbound_rules() {
    let app = spawn_app().await; // strict: no development switches
    let ws = app.create_workspace("Acme").await;
    let api = app.api(&ws.agent);
    for url in [
        "http://8.8.8.8/hook",
        "https://127.0.0.1/",
        "https://169.254.169.254/latest",
        "https://[::1]/",
        "https://10.0.0.1/",
        "https://user:pw@8.8.8.8/",
    ] {
        let (status, _, field) = error_of(
            api.post(
                "/api/webhook-destinations",
                &json!({"scope": "personal", "url": url, "events": ["newReply"]}),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, field.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("url")),
            "{url}"
        );
    }
    let created: Value = api
        .post(
            "/api/webhook-destinations",
            &json!({"scope": "personal", "url": "8.8.8.8/hook", "events": ["newReply"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["url"], "https://8.8.8.8/hook", "https:// is added");
}

#[tokio::test]
async fn disabled_destinations_receive_nothing_but_the_test_asked_for() {
    let s = setup().await;
    let receiver = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let destination = s
        .destination(&s.ws.agent, "personal", &receiver.url, &["ticketOpened"])
        .await;
    s.app
        .api(&s.ws.agent)
        .client
        .patch(
            s.app
                .url(&format!("/api/webhook-destinations/{}", destination["id"])),
        )
        .bearer_auth(&s.ws.agent.token)
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    s.ticket(&s.ws.owner).await;
    settle(&s.app.pool).await;
    assert!(receiver.requests().is_empty());
    // A test notification is an explicit request: it goes out at once.
    let response = s
        .app
        .api(&s.ws.agent)
        .post(
            &format!("/api/webhook-destinations/{}/test", destination["id"]),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let got = receiver.wait_for(1).await;
    assert_eq!(body_of(&got[0])["type"], "test");
    settle(&s.app.pool).await;
    assert_eq!(receiver.requests().len(), 1, "nothing but the test");
}

#[tokio::test]
async fn a_retry_queued_before_disabling_waits_while_a_test_goes_out() {
    let s = setup_with(&[("WEBHOOK_RETRY_DELAYS", "1,1")]).await;
    let receiver = Receiver::start(Behaviour::Sequence(vec![
        (500, "{}".into()),
        (200, "{}".into()),
    ]))
    .await;
    let destination = s
        .destination(&s.ws.agent, "personal", &receiver.url, &["ticketOpened"])
        .await;
    s.ticket(&s.ws.owner).await;
    receiver.wait_for(1).await;
    sqlx::query("UPDATE webhook_destinations SET enabled = false")
        .execute(&s.app.pool)
        .await
        .unwrap();
    s.app
        .api(&s.ws.agent)
        .post(
            &format!("/api/webhook-destinations/{}/test", destination["id"]),
            &json!({}),
        )
        .await;
    let got = receiver.wait_for(2).await;
    assert_eq!(body_of(&got[1])["type"], "test");
    // Well past the retry's due time it has still not been attempted again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (attempts, overdue): (i32, bool) = sqlx::query_as(
            "SELECT attempts, next_attempt_at < now() - interval '1 second'
             FROM webhook_deliveries WHERE event_type = 'ticketOpened'",
        )
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
        assert_eq!(attempts, 1);
        if overdue {
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(receiver.requests().len(), 2);
}

#[tokio::test]
async fn the_settings_pages_add_test_inspect_and_resend() {
    let s = setup().await;
    let receiver = Receiver::start(Behaviour::Respond(200, r#"{"ok":1}"#.into())).await;
    let browser = s.app.browser(&s.ws.admin).await;
    assert!(
        browser
            .get_html("/settings/workspace-notifications")
            .await
            .contains("No webhooks yet")
    );

    let response = browser
        .submit(
            "/settings/workspace-notifications",
            &[("url", "ftp://x"), ("events", "ticketOpened")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("The URL must be an http:// or https:// URL.")
            && html.contains("value=\"ftp://x\"")
    );
    assert!(
        !html.contains("assignedToMe"),
        "workspace destinations offer only the two team types"
    );

    let response = browser
        .submit(
            "/settings/workspace-notifications",
            &[
                ("url", &receiver.url),
                ("name", "Team feed"),
                ("events", "ticketOpened"),
                ("events", "newReply"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = response.headers()["location"].to_str().unwrap().to_string();
    let html = browser.get_html(&page).await;
    assert!(html.contains("whsec_") && html.contains("Regenerate"));

    let response = browser.submit(&format!("{page}/test"), &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    receiver.wait_for(1).await;
    settle(&s.app.pool).await;
    let log = browser.get_html(&format!("{page}/deliveries")).await;
    assert!(
        log.contains("<td>test</td>")
            && log.contains("<td>200</td>")
            && log.contains(r#"<span class="badge open">delivered</span>"#),
        "{log}"
    );
    let id: i64 = sqlx::query_scalar("SELECT id FROM webhook_deliveries")
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
    let details = browser
        .get_html(&format!("/settings/webhook-deliveries/{id}"))
        .await;
    assert!(
        details.contains("therethere-signature: ")
            && details.contains("This is a test webhook from There There.")
    );
    let response = browser
        .submit(&format!("/settings/webhook-deliveries/{id}/resend"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(receiver.requests().len(), 2);
    assert!(
        browser
            .get_html(&format!("/settings/webhook-deliveries/{id}"))
            .await
            .contains("Attempt 2 (resend)")
    );

    let html = browser.get_html(&page).await;
    assert!(
        html.contains("Latest delivery")
            && html.contains("webhook-signature: v1,")
            && html.contains("webhook-id: ")
    );
    let old_secret = sqlx::query_scalar::<_, String>("SELECT secret FROM webhook_destinations")
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
    browser
        .submit(&format!("{page}/regenerate-secret"), &[])
        .await;
    let new_secret = sqlx::query_scalar::<_, String>("SELECT secret FROM webhook_destinations")
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
    assert_ne!(old_secret, new_secret);

    let agent = s.app.browser(&s.ws.agent).await;
    assert_eq!(
        agent.get(&page).await.status(),
        StatusCode::NOT_FOUND,
        "agents cannot open workspace webhooks"
    );
    assert_eq!(
        agent
            .get("/settings/workspace-notifications")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        agent.get("/settings/notifications").await.status(),
        StatusCode::OK
    );
}
