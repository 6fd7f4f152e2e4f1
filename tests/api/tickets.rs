//! Every ticket action through the API, and the event each one records.

use reqwest::StatusCode;
use serde_json::{Value, json};
use therethere::helpdesk::intake::{Arrival, NewContact, NewTicket, TicketIntake, receive_tickets};
use therethere::helpdesk::tickets::assign_ticket;

use crate::helpers::{TestWorkspace, spawn_app, ticket_body};

#[tokio::test]
async fn receiving_a_ticket_creates_it_with_its_first_message_and_records_ticket_opened() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let channel: Value = app
        .api(&ws.admin)
        .post("/api/channels", &json!({"name": "Support"}))
        .await
        .json()
        .await
        .unwrap();
    let mut body = ticket_body("I can't log in", "jane@example.com");
    body["channel_id"] = channel["id"].clone();
    let ticket = app.create_ticket(&ws.agent, body).await;

    assert_eq!(ticket["number"], 1);
    assert_eq!(ticket["status"], "open");
    assert_eq!(ticket["subject"], "I can't log in");
    assert_eq!(
        ticket["channel"],
        json!({"id": channel["id"], "name": "Support"})
    );
    assert_eq!(ticket["contact"]["email"], "jane@example.com");
    assert_eq!(ticket["assignee"], Value::Null);
    let ulid = ticket["ulid"].as_str().unwrap();
    assert_eq!(ulid.len(), 26);
    assert_eq!(ulid, ulid.to_ascii_lowercase());

    let id = ticket["id"].as_i64().unwrap();
    let detail: Value = app
        .api(&ws.agent)
        .get_json(&format!("/api/tickets/{id}"))
        .await;
    assert_eq!(detail["messages"][0]["from"], "contact");
    assert_eq!(detail["messages"][0]["body"], "Hello, I need help.");

    let events = app.events(id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "ticket_opened");
    assert_eq!(events[0].1, None, "the contact acted, not a user");
    assert_eq!(events[0].2["message_id"], detail["messages"][0]["id"]);
}

#[tokio::test]
async fn a_ticket_without_a_channel_has_a_null_channel() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let ticket = app
        .create_ticket(&ws.agent, ticket_body("Hi", "a@example.com"))
        .await;
    assert_eq!(ticket["channel"], Value::Null);
}

#[tokio::test]
async fn ticket_numbers_count_per_workspace_and_stay_unique_under_concurrency() {
    let app = spawn_app().await;
    let a = app.create_workspace("Acme").await;
    let b = app.create_workspace("Globex").await;
    let creations = (0..10).map(|i| {
        let app = &app;
        let agent = a.agent.clone();
        async move {
            app.create_ticket(&agent, ticket_body(&format!("T{i}"), "c@example.com"))
                .await
        }
    });
    let tickets = futures::future::join_all(creations).await;
    let mut numbers: Vec<i64> = tickets
        .iter()
        .map(|t| t["number"].as_i64().unwrap())
        .collect();
    numbers.sort();
    assert_eq!(numbers, (1..=10).collect::<Vec<_>>());
    let other = app
        .create_ticket(&b.agent, ticket_body("First", "c@example.com"))
        .await;
    assert_eq!(other["number"], 1);
}

#[tokio::test]
async fn every_workspace_has_its_own_ticket_number_sequence_from_creation_to_deletion() {
    let app = spawn_app().await;
    // Even a workspace written by SQL alone (not by the service) gets its sequence.
    let id: i64 = sqlx::query_scalar("INSERT INTO workspaces (name) VALUES ('Bare') RETURNING id")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let sequence = |sql: &'static str| sqlx::query_scalar::<_, Option<i64>>(sql).bind(id);
    let first = sequence("SELECT nextval(format('ticket_numbers.w%s', $1::bigint)::regclass)")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(first, Some(1));
    sqlx::query("DELETE FROM workspaces WHERE id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    let left =
        sequence("SELECT to_regclass(format('ticket_numbers.w%s', $1::bigint))::oid::bigint")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(left, None, "the sequence goes with its workspace");
}

/// Tickets that arrive together share one statement (`helpdesk::intake`); each still gets its
/// own answer, in order: a refused one is refused alone and takes no number, one contact
/// written twice in a batch is one contact (named as its latest arrival says), and
/// workspaces keep their own contacts and numbers.
#[tokio::test]
async fn tickets_received_in_one_batch_each_get_their_own_answer() {
    let app = spawn_app().await;
    let a = app.create_workspace("Acme").await;
    let b = app.create_workspace("Globex").await;
    let channel = |ws: &TestWorkspace| {
        let api = app.api(&ws.admin);
        async move {
            let channel: Value = api
                .post("/api/channels", &json!({"name": "Support"}))
                .await
                .json()
                .await
                .unwrap();
            channel["id"].as_i64().unwrap()
        }
    };
    let (a_channel, b_channel) = (channel(&a).await, channel(&b).await);
    let jane = app
        .create_ticket(&a.agent, ticket_body("Earlier", "jane@example.com"))
        .await;
    let arrival = |ws: &TestWorkspace, subject: &str, name: &str, email: &str, channel| {
        Arrival::check(
            ws.id,
            NewTicket {
                subject: subject.into(),
                body: format!("About {subject}"),
                contact: NewContact {
                    name: name.into(),
                    email: email.into(),
                },
                channel_id: channel,
            },
        )
        .unwrap()
    };
    let arrivals = [
        arrival(&a, "One", "Jane Doe", "jane@example.com", Some(a_channel)),
        arrival(&a, "Two", "Jane D.", "JANE@example.com", None),
        arrival(&a, "Three", "Bob", "bob@example.com", Some(b_channel)),
        arrival(&b, "Four", "Jane", "jane@example.com", Some(b_channel)),
        arrival(&a, "Five", "Ann", "ann@example.com", Some(a_channel)),
        arrival(&a, "Six", "Ann", "ann@example.com", None),
    ];
    let tickets = receive_tickets(&app.pool, &arrivals).await.unwrap();

    assert_eq!(tickets.len(), 6);
    assert!(
        tickets[2].is_none(),
        "another workspace's channel is refused"
    );
    let got = |i: usize| &tickets[i].as_ref().unwrap().ticket;
    for (i, subject) in [(0, "One"), (1, "Two"), (3, "Four"), (4, "Five"), (5, "Six")] {
        assert_eq!(got(i).subject, subject, "each answer is its own arrival's");
    }
    let mut numbers: Vec<i32> = [0, 1, 4, 5].iter().map(|&i| got(i).number).collect();
    numbers.sort();
    assert_eq!(numbers, [2, 3, 4, 5], "no number for the refused one");
    assert_eq!(got(3).number, 1, "the other workspace counts its own");
    assert_eq!(got(0).contact.id, jane["contact"]["id"].as_i64().unwrap());
    assert_eq!(
        got(1).contact.id,
        got(0).contact.id,
        "one contact per address"
    );
    assert_eq!(
        got(1).contact.name,
        "Jane D.",
        "named as the latest arrival says"
    );
    assert_eq!(
        got(1).contact.email,
        "jane@example.com",
        "its spelling is kept"
    );
    assert_eq!(got(4).contact.id, got(5).contact.id);
    assert_ne!(
        got(3).contact.id,
        got(0).contact.id,
        "workspaces keep their own contacts"
    );
    assert_eq!(got(0).channel.as_ref().map(|c| c.id), Some(a_channel));
    let (contacts, messages, events): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM contacts WHERE workspace_id = $1),
                (SELECT count(*) FROM messages WHERE workspace_id = $1),
                (SELECT count(*) FROM events WHERE workspace_id = $1 AND kind = 'ticket_opened')",
    )
    .bind(a.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (contacts, messages, events),
        (2, 5, 5),
        "Bob was never written"
    );
    for i in [0, 1, 3, 4, 5] {
        let detail: Value = app
            .api(if i == 3 { &b.agent } else { &a.agent })
            .get_json(&format!("/api/tickets/{}", got(i).id))
            .await;
        assert_eq!(
            detail["messages"][0]["body"],
            format!("About {}", got(i).subject)
        );
    }
}

/// A batch that fails as a whole (here: one of its tickets names a workspace that does not
/// exist) is received again one ticket at a time, so the error reaches only its own request.
/// Both requests are in the intake before its task first runs (the test's runtime has one
/// thread), so they share a batch.
#[tokio::test]
async fn a_ticket_that_fails_in_a_batch_fails_alone() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let intake = TicketIntake::spawn(app.pool.clone(), app.doorbell(), None);
    let new = |subject: &str| NewTicket {
        subject: subject.into(),
        body: "Help".into(),
        contact: NewContact {
            name: "Jane".into(),
            email: "jane@example.com".into(),
        },
        channel_id: None,
    };
    let (good, bad) = tokio::join!(
        intake.receive(ws.id, new("Good")),
        intake.receive(i64::MAX, new("Bad"))
    );
    assert_eq!(good.unwrap().subject, "Good");
    assert!(bad.is_err());
    let tickets: i64 = sqlx::query_scalar("SELECT count(*) FROM tickets")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(tickets, 1);
}

#[tokio::test]
async fn a_returning_contact_is_the_same_contact() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let first = app
        .create_ticket(&ws.agent, ticket_body("One", "Jane@Example.com"))
        .await;
    let second = app
        .create_ticket(&ws.agent, ticket_body("Two", "jane@example.com"))
        .await;
    assert_eq!(first["contact"]["id"], second["contact"]["id"]);
}

#[tokio::test]
async fn a_contact_reply_records_contact_replied_with_the_assignee_at_the_time() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let id = app
        .create_ticket(&ws.agent, ticket_body("Help", "j@example.com"))
        .await["id"]
        .as_i64()
        .unwrap();
    let api = app.api(&ws.admin);
    api.put(
        &format!("/api/tickets/{id}/assignee"),
        &json!({"user_id": ws.agent.id}),
    )
    .await;
    let response = api
        .post(
            &format!("/api/tickets/{id}/messages"),
            &json!({"from": "contact", "body": "Any news?"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["from"], "contact");
    assert_eq!(message["author"], Value::Null);

    let events = app.events(id).await;
    let (kind, actor, data) = events.last().unwrap();
    assert_eq!(kind, "contact_replied");
    assert_eq!(*actor, None);
    assert_eq!(data["message_id"], message["id"]);
    assert_eq!(data["assignee_id"], ws.agent.id);
}

#[tokio::test]
async fn a_contact_reply_to_a_closed_ticket_reopens_it() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let id = app
        .create_ticket(&ws.agent, ticket_body("Help", "j@example.com"))
        .await["id"]
        .as_i64()
        .unwrap();
    let api = app.api(&ws.agent);
    api.put(
        &format!("/api/tickets/{id}/status"),
        &json!({"status": "closed"}),
    )
    .await;
    api.post(
        &format!("/api/tickets/{id}/messages"),
        &json!({"from": "contact", "body": "It broke again"}),
    )
    .await;
    let detail: Value = api.get_json(&format!("/api/tickets/{id}")).await;
    assert_eq!(detail["status"], "open");
    assert_eq!(
        app.event_kinds(id).await,
        [
            "ticket_opened",
            "ticket_closed",
            "ticket_reopened",
            "contact_replied"
        ]
    );
}

#[tokio::test]
async fn an_agent_reply_is_authored_by_the_agent_and_records_agent_replied() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let id = app
        .create_ticket(&ws.agent, ticket_body("Help", "j@example.com"))
        .await["id"]
        .as_i64()
        .unwrap();
    let response = app
        .api(&ws.agent)
        .post(
            &format!("/api/tickets/{id}/messages"),
            &json!({"from": "agent", "body": "On it!"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["from"], "agent");
    assert_eq!(message["author"]["id"], ws.agent.id);
    let events = app.events(id).await;
    assert_eq!(events[1].0, "agent_replied");
    assert_eq!(events[1].1, Some(ws.agent.id));
}

#[tokio::test]
async fn a_note_resolves_mentions_by_handle_and_email_within_the_workspace() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let other = app.create_workspace("Globex").await;
    let id = app
        .create_ticket(&ws.agent, ticket_body("Help", "j@example.com"))
        .await["id"]
        .as_i64()
        .unwrap();
    let body = format!(
        "@{} please look, and cc @{}. Not @{} (other workspace), nor @nobody, nor mail@{}",
        ws.admin.handle, ws.owner.email, other.admin.handle, "example.com"
    );
    let response = app
        .api(&ws.agent)
        .post(&format!("/api/tickets/{id}/notes"), &json!({"body": body}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let note: Value = response.json().await.unwrap();
    let mut mentioned: Vec<i64> = note["mentions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    mentioned.sort();
    let mut expected = vec![ws.owner.id, ws.admin.id];
    expected.sort();
    assert_eq!(mentioned, expected);
    assert_eq!(note["author"]["id"], ws.agent.id);

    let events = app.events(id).await;
    let (kind, actor, data) = events.last().unwrap();
    assert_eq!(kind, "note_added");
    assert_eq!(*actor, Some(ws.agent.id));
    assert_eq!(data["note_id"], note["id"]);
    let mut in_event: Vec<i64> = data["mentioned_user_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    in_event.sort();
    assert_eq!(in_event, expected);
}

#[tokio::test]
async fn assigning_records_who_assigned_whom_and_repeating_it_records_nothing() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let id = app
        .create_ticket(&ws.agent, ticket_body("Help", "j@example.com"))
        .await["id"]
        .as_i64()
        .unwrap();
    let api = app.api(&ws.admin);
    let response = api
        .put(
            &format!("/api/tickets/{id}/assignee"),
            &json!({"user_id": ws.agent.id}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let ticket: Value = response.json().await.unwrap();
    assert_eq!(ticket["assignee"]["id"], ws.agent.id);
    api.put(
        &format!("/api/tickets/{id}/assignee"),
        &json!({"user_id": ws.agent.id}),
    )
    .await;
    let response = api
        .put(
            &format!("/api/tickets/{id}/assignee"),
            &json!({"user_id": null}),
        )
        .await;
    assert_eq!(
        response.json::<Value>().await.unwrap()["assignee"],
        Value::Null
    );

    let events = app.events(id).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        kinds,
        ["ticket_opened", "ticket_assigned", "ticket_unassigned"]
    );
    assert_eq!(events[1].1, Some(ws.admin.id));
    assert_eq!(events[1].2["assignee_id"], ws.agent.id);
    assert_eq!(events[1].2["previous_assignee_id"], Value::Null);
    assert_eq!(events[2].2["previous_assignee_id"], ws.agent.id);
}

#[tokio::test]
async fn the_system_can_assign_with_no_user_as_actor() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let id = app
        .create_ticket(&ws.agent, ticket_body("Help", "j@example.com"))
        .await["id"]
        .as_i64()
        .unwrap();
    assign_ticket(
        &app.pool,
        &app.doorbell(),
        ws.id,
        id,
        None,
        Some(ws.agent.id),
    )
    .await
    .unwrap();
    let events = app.events(id).await;
    assert_eq!(events[1].0, "ticket_assigned");
    assert_eq!(events[1].1, None);
}

#[tokio::test]
async fn closing_and_reopening_record_their_events_once() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let id = app
        .create_ticket(&ws.agent, ticket_body("Help", "j@example.com"))
        .await["id"]
        .as_i64()
        .unwrap();
    let api = app.api(&ws.agent);
    for status in ["closed", "closed", "open", "open"] {
        let response = api
            .put(
                &format!("/api/tickets/{id}/status"),
                &json!({"status": status}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.json::<Value>().await.unwrap()["status"], status);
    }
    let events = app.events(id).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(kinds, ["ticket_opened", "ticket_closed", "ticket_reopened"]);
    assert_eq!(events[2].1, Some(ws.agent.id));
}

#[tokio::test]
async fn the_events_endpoint_lists_a_tickets_activity() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let id = app
        .create_ticket(&ws.agent, ticket_body("Help", "j@example.com"))
        .await["id"]
        .as_i64()
        .unwrap();
    app.api(&ws.agent)
        .put(
            &format!("/api/tickets/{id}/status"),
            &json!({"status": "closed"}),
        )
        .await;
    let events: Value = app
        .api(&ws.agent)
        .get_json(&format!("/api/tickets/{id}/events"))
        .await;
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ticket_opened", "ticket_closed"]);
}

#[tokio::test]
async fn listing_tickets_filters_by_status() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let a = app
        .create_ticket(&ws.agent, ticket_body("A", "j@example.com"))
        .await["id"]
        .as_i64()
        .unwrap();
    app.create_ticket(&ws.agent, ticket_body("B", "j@example.com"))
        .await;
    app.api(&ws.agent)
        .put(
            &format!("/api/tickets/{a}/status"),
            &json!({"status": "closed"}),
        )
        .await;
    let count = |v: Value| v.as_array().unwrap().len();
    let api = app.api(&ws.agent);
    assert_eq!(count(api.get_json("/api/tickets").await), 1);
    assert_eq!(count(api.get_json("/api/tickets?status=closed").await), 1);
    assert_eq!(count(api.get_json("/api/tickets?status=all").await), 2);
}

#[tokio::test]
async fn a_failed_action_leaves_neither_change_nor_event() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let mut body = ticket_body("Help", "new-contact@example.com");
    body["channel_id"] = json!(999_999);
    let response = app.api(&ws.agent).post("/api/tickets", &body).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    for table in ["tickets", "contacts", "messages", "events"] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&app.pool)
            .await
            .unwrap();
        assert_eq!(n, 0, "{table} is untouched");
    }
    let last: Option<i64> = sqlx::query_scalar(
        "SELECT pg_sequence_last_value(format('ticket_numbers.w%s', $1::bigint)::regclass)",
    )
    .bind(ws.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(last, None, "no ticket number was used up");
}

/// The event consumers (webhook fan-out, sidebar warm-ups) of every instance hear of a new
/// event by a NOTIFY sent after its commit (not from inside its transaction, where PostgreSQL
/// makes notifying commits wait for each other): when it arrives, the event is there.
#[tokio::test]
async fn every_action_that_records_an_event_wakes_the_consumers_after_its_commit() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&app.pool)
        .await
        .unwrap();
    listener
        .listen(therethere::helpdesk::events::NOTIFY_CHANNEL)
        .await
        .unwrap();
    let events = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };

    let ticket = app
        .create_ticket(&ws.agent, ticket_body("Help", "j@example.com"))
        .await;
    heard(&mut listener).await;
    assert_eq!(
        events().await,
        1,
        "ticket_opened is visible when the NOTIFY arrives"
    );

    let id = ticket["id"].as_i64().unwrap();
    let api = app.api(&ws.agent);
    let note = api
        .post(
            &format!("/api/tickets/{id}/notes"),
            &json!({"body": "Looking into it"}),
        )
        .await;
    assert_eq!(note.status(), StatusCode::CREATED);
    heard(&mut listener).await;
    assert_eq!(
        events().await,
        2,
        "note_added is visible when the NOTIFY arrives"
    );
}

async fn heard(listener: &mut sqlx::postgres::PgListener) {
    tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv())
        .await
        .expect("a NOTIFY within 10 s")
        .unwrap();
}
