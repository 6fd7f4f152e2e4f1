//! The exact payload of every event type and of the test notification, and who gets which.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::receiver::{Behaviour, Receiver};

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
    s.assign(&s.ws.admin, id, &s.ws.agent).await;
    let api = s.app.api(&s.ws.admin);
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

/// With no `newReply` or `mentionedInNote` listener in the workspace, the assignee's
/// notifications still carry the message and the note: fan-out loads each object for the
/// payloads that show it.
#[tokio::test]
async fn reply_on_assigned_ticket_alone_carries_the_message_or_the_note() {
    let s = setup().await;
    let mine = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    s.destination(
        &s.ws.agent,
        "personal",
        &mine.url,
        &["replyOnAssignedTicket"],
    )
    .await;
    let ticket = s.ticket(&s.ws.agent).await;
    let id = ticket["id"].as_i64().unwrap();
    s.assign(&s.ws.admin, id, &s.ws.agent).await;
    let api = s.app.api(&s.ws.admin);
    let message: Value = api
        .post(
            &format!("/api/tickets/{id}/messages"),
            &json!({"from": "contact", "body": "Still broken."}),
        )
        .await
        .json()
        .await
        .unwrap();
    let got = mine.wait_for(1).await.remove(0);
    let body = body_of(&got);
    assert_envelope(&body, &got.body, "replyOnAssignedTicket");
    assert_eq!(body["message"]["id"], message["id"]);
    assert_eq!(body["message"]["excerpt"], "Still broken.");

    // And a colleague's note on it: the same type, carrying the note.
    let note: Value = api
        .post(
            &format!("/api/tickets/{id}/notes"),
            &json!({"body": "Escalating this one."}),
        )
        .await
        .json()
        .await
        .unwrap();
    let got = mine.wait_for(2).await.remove(1);
    let body = body_of(&got);
    assert_envelope(&body, &got.body, "replyOnAssignedTicket");
    assert_eq!(body["note"]["id"], note["id"]);
    assert_eq!(body["note"]["excerpt"], "Escalating this one.");
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
        &s.app.doorbell(),
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
