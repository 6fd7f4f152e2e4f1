//! Durable delivery: timeouts, retries, fairness between receivers, secrets, the log with
//! Details and Resend, and pruning.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::receiver::{Behaviour, Receiver};
use therethere::helpdesk::intake::{Arrival, NewContact, NewTicket, receive_tickets};

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
    let log = s.log(&s.ws.agent, &destination).await;
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
    let slow_id = slow_destination["id"].as_i64().unwrap();
    eventually("the slow attempts are recorded", Duration::from_secs(20), || async {
        let recorded: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.destination_id = $1",
        )
        .bind(slow_id)
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
        (recorded >= 5).then_some(())
    })
    .await;
    let log = s.log(&s.ws.admin, &slow_destination).await;
    assert_eq!(log.len(), 5);
    for delivery in &log {
        let attempt = &delivery["attempts"][0];
        assert_eq!(attempt["error"], "timed out");
        let ms = attempt["duration_ms"].as_i64().unwrap();
        assert!((4900..5600).contains(&ms), "cut at {ms} ms");
    }
}

#[tokio::test]
async fn a_delivery_held_for_a_slow_receiver_starts_only_while_its_lease_outlasts_the_attempt() {
    // One attempt at a time to the destination, 4 s each, and a 6 s lease (an attempt may
    // take 5 s: a delivery may wait 1 s for room). A claim holds up to two: the second would
    // wait 4 s and start with 2 s of lease left, so another claim could take it again during
    // its attempt. It is given back instead, and claimed afresh: each is attempted once.
    let s = setup_with(&[
        ("WEBHOOK_LEASE_SECONDS", "6"),
        ("WEBHOOK_DESTINATION_CONCURRENCY", "1"),
    ])
    .await;
    let slow = Receiver::start(Behaviour::Sleep(Duration::from_secs(4))).await;
    s.destination(&s.ws.admin, "workspace", &slow.url, &["ticketOpened"])
        .await;
    for _ in 0..2 {
        s.ticket(&s.ws.owner).await;
    }
    slow.wait_for(2).await;
    settle(&s.app.pool).await;
    let ulids: Vec<Value> = slow
        .requests()
        .iter()
        .map(|c| body_of(c)["ulid"].clone())
        .collect();
    let unique: std::collections::HashSet<String> = ulids.iter().map(Value::to_string).collect();
    assert_eq!(
        (ulids.len(), unique.len()),
        (2, 2),
        "each delivery attempted once: {ulids:?}"
    );
    let attempts: Vec<(String, i32)> =
        sqlx::query_as("SELECT status, attempts FROM webhook_deliveries ORDER BY id")
            .fetch_all(&s.app.pool)
            .await
            .unwrap();
    assert_eq!(attempts, vec![("succeeded".to_string(), 1); 2]);
}

#[tokio::test]
async fn a_hanging_receiver_holds_only_its_share_of_attempts_however_long_its_backlog() {
    // 4 attempts at once in all (all for one workspace), 2 per destination; a retry 2 s
    // after a failure.
    let s = setup_with(&[
        ("WEBHOOK_CONCURRENCY", "4"),
        ("WEBHOOK_DESTINATION_CONCURRENCY", "2"),
        ("WEBHOOK_WORKSPACE_CONCURRENCY", "4"),
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
    assert!(spec_signed_by(&got, new));
    assert!(!spec_signed_by(&got, &old));
}

/// Whether the request's `ThereThere-Signature` is `secret`'s.
fn spec_signed_by(got: &crate::receiver::Captured, secret: &str) -> bool {
    let signature = got.headers["therethere-signature"].to_str().unwrap();
    therethere::outbound::signature::verify_hex(secret.as_bytes(), &got.body, signature)
}

/// Which of `secrets` sign the request's `webhook-signature` (each checked alone).
fn standard_signers(got: &crate::receiver::Captured, secrets: &[&str]) -> Vec<bool> {
    let header = |name: &str| got.headers[name].to_str().unwrap().to_string();
    let now = chrono::Utc::now().timestamp();
    secrets
        .iter()
        .map(|secret| {
            therethere::outbound::signature::verify_standard(
                secret,
                &header("webhook-id"),
                &header("webhook-timestamp"),
                &header("webhook-signature"),
                &got.body,
                now,
            )
            .is_ok()
        })
        .collect()
}

#[tokio::test]
async fn a_grace_period_keeps_the_old_secret_in_webhook_signature_until_it_ends() {
    let s = setup().await;
    let receiver = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let destination = s
        .destination(&s.ws.agent, "personal", &receiver.url, &["ticketOpened"])
        .await;
    let id = destination["id"].clone();
    let first = destination["secret"].as_str().unwrap().to_string();
    assert_eq!(destination["previous_secret_until"], Value::Null);
    let api = s.app.api(&s.ws.agent);
    let regenerate = |body: Value| {
        let api = s.app.api(&s.ws.agent);
        let path = format!("/api/webhook-destinations/{id}/regenerate-secret");
        async move { api.post(&path, &body).await }
    };

    for (bad, why) in [
        (json!({"grace_period_hours": -1}), "negative"),
        (json!({"grace_period_hours": 169}), "past a week"),
        (json!({"grace_period_hours": "a day"}), "not a number"),
        (json!({"grace_hours": 24}), "unknown field"),
    ] {
        let response = regenerate(bad).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{why}");
    }
    let unchanged: Value = api
        .get_json(&format!("/api/webhook-destinations/{id}"))
        .await;
    assert_eq!(
        unchanged["secret"],
        first.as_str(),
        "a refused regenerate changes nothing"
    );

    let rolled: Value = regenerate(json!({"grace_period_hours": 24}))
        .await
        .json()
        .await
        .unwrap();
    let second = rolled["secret"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    let until =
        chrono::DateTime::parse_from_rfc3339(rolled["previous_secret_until"].as_str().unwrap())
            .unwrap();
    let hours =
        (until.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!((23.9..=24.0).contains(&hours), "{hours}");
    assert!(
        rolled.get("previous_secret").is_none(),
        "the old secret is never returned"
    );

    s.ticket(&s.ws.owner).await;
    let got = receiver.wait_for(1).await.remove(0);
    let signature = got.headers["webhook-signature"].to_str().unwrap();
    assert_eq!(signature.split(' ').count(), 2, "{signature}");
    assert!(signature.split(' ').all(|entry| entry.starts_with("v1,")));
    assert_eq!(standard_signers(&got, &[&second, &first]), [true, true]);
    assert!(spec_signed_by(&got, &second));
    assert!(!spec_signed_by(&got, &first));

    // Regenerating again within the grace period keeps only the secret it replaces.
    let rolled: Value = regenerate(json!({"grace_period_hours": 1}))
        .await
        .json()
        .await
        .unwrap();
    let third = rolled["secret"].as_str().unwrap().to_string();
    s.ticket(&s.ws.owner).await;
    let got = receiver.wait_for(2).await.remove(1);
    assert_eq!(
        standard_signers(&got, &[&third, &second, &first]),
        [true, true, false]
    );

    // Once the grace period is over, the old secret signs nothing.
    sqlx::query(
        "UPDATE webhook_destinations SET previous_secret_until = now() - interval '1 second'",
    )
    .execute(&s.app.pool)
    .await
    .unwrap();
    let shown: Value = api
        .get_json(&format!("/api/webhook-destinations/{id}"))
        .await;
    assert_eq!(shown["previous_secret_until"], Value::Null);
    s.ticket(&s.ws.owner).await;
    let got = receiver.wait_for(3).await.remove(2);
    assert_eq!(
        got.headers["webhook-signature"]
            .to_str()
            .unwrap()
            .split(' ')
            .count(),
        1
    );
    assert_eq!(standard_signers(&got, &[&third, &second]), [true, false]);

    // Ending a grace period early, and a regenerate with no body at all (none).
    let rolled: Value = regenerate(json!({"grace_period_hours": 168}))
        .await
        .json()
        .await
        .unwrap();
    assert!(rolled["previous_secret_until"].is_string());
    let retired: Value = api
        .delete(&format!("/api/webhook-destinations/{id}/previous-secret"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(retired["previous_secret_until"], Value::Null);
    let fourth = retired["secret"].as_str().unwrap().to_string();
    s.ticket(&s.ws.owner).await;
    let got = receiver.wait_for(4).await.remove(3);
    assert_eq!(standard_signers(&got, &[&fourth, &third]), [true, false]);
    let bare = api
        .post_empty(&format!("/api/webhook-destinations/{id}/regenerate-secret"))
        .await;
    assert_eq!(bare.status(), StatusCode::OK);
    let bare: Value = bare.json().await.unwrap();
    assert_ne!(bare["secret"], fourth.as_str());
    assert_eq!(
        bare["previous_secret_until"],
        Value::Null,
        "no grace unless asked"
    );
}

#[tokio::test]
async fn the_log_filters_by_status_and_type_and_finds_one_by_ulid() {
    let s = setup_with(&[("WEBHOOK_RETRY_DELAYS", "0,0")]).await;
    let receiver = Receiver::start(Behaviour::Sequence(vec![
        (200, "{}".into()),
        (200, "{}".into()),
        (500, "{}".into()),
    ]))
    .await;
    let destination = s
        .destination(&s.ws.agent, "personal", &receiver.url, &["ticketOpened"])
        .await;
    let id = destination["id"].as_i64().unwrap();
    let api = s.app.api(&s.ws.agent);
    // Two delivered ticketOpened, then a test notification that fails all three attempts.
    s.ticket(&s.ws.owner).await;
    receiver.wait_for(1).await;
    s.ticket(&s.ws.owner).await;
    receiver.wait_for(2).await;
    api.post(&format!("/api/webhook-destinations/{id}/test"), &json!({}))
        .await;
    receiver.wait_for(5).await;
    settle(&s.app.pool).await;
    // And one waiting for its next attempt: the receiver asked for ten minutes' rest.
    let busy = Receiver::start(Behaviour::TooManyRequests("600".into())).await;
    api.patch(
        &format!("/api/webhook-destinations/{id}"),
        &json!({"url": busy.url}),
    )
    .await;
    s.ticket(&s.ws.owner).await;
    busy.wait_for(1).await;
    eventually(
        "the waiting delivery is in the log",
        Duration::from_secs(10),
        || async {
            let log = s.log(&s.ws.agent, &destination).await;
            (log.len() == 4 && log[0]["attempts"].as_array().unwrap().len() == 1).then_some(())
        },
    )
    .await;

    let listed = |query: &str| {
        let api = s.app.api(&s.ws.agent);
        let path = format!("/api/webhook-destinations/{id}/deliveries?{query}");
        async move {
            let response = api.get(&path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let page: Vec<Value> = response.json().await.unwrap();
            page
        }
    };
    let kinds_and_statuses = |page: &[Value]| -> Vec<(String, String)> {
        page.iter()
            .map(|d| {
                (
                    d["event_type"].as_str().unwrap().to_string(),
                    d["status"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let pair = |kind: &str, status: &str| (kind.to_string(), status.to_string());

    let delivered = listed("status=succeeded").await;
    assert_eq!(
        kinds_and_statuses(&delivered),
        [
            pair("ticketOpened", "succeeded"),
            pair("ticketOpened", "succeeded")
        ]
    );
    let failed = listed("status=failed").await;
    assert_eq!(kinds_and_statuses(&failed), [pair("test", "failed")]);
    assert_eq!(
        failed[0]["attempts"].as_array().unwrap().len(),
        3,
        "its attempts come inline"
    );
    assert_eq!(
        kinds_and_statuses(&listed("status=pending").await),
        [pair("ticketOpened", "pending")]
    );
    assert_eq!(listed("type=test").await.len(), 1);
    assert_eq!(listed("type=ticketOpened").await.len(), 3);
    assert_eq!(
        kinds_and_statuses(&listed("type=ticketOpened&status=pending").await),
        [pair("ticketOpened", "pending")]
    );
    assert!(listed("type=newReply").await.is_empty());
    assert_eq!(listed("status=&type=&ulid=").await.len(), 4, "blank is any");

    // Pages of a filtered log: `before` carries on within the filter.
    let first = listed("type=ticketOpened&limit=2").await;
    let rest = listed(&format!(
        "type=ticketOpened&limit=2&before={}",
        first[1]["id"]
    ))
    .await;
    assert_eq!(first.len() + rest.len(), 3);
    assert!(rest.iter().all(|d| d["event_type"] == "ticketOpened"));

    // A ulid, as a receiver logged it (ULIDs are case-insensitive).
    let wanted = &delivered[1];
    let ulid = wanted["ulid"].as_str().unwrap();
    let found = listed(&format!("ulid={}", ulid.to_ascii_uppercase())).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], wanted["id"]);
    assert!(listed("ulid=01jab8z9r2pm3kc4td5ef6gh7j").await.is_empty());

    // Another destination's delivery is not found through this one, nor by another user.
    let other = s
        .destination(&s.ws.admin, "workspace", &receiver.url, &["ticketOpened"])
        .await;
    let outsider = s
        .app
        .api(&s.ws.admin)
        .get(&format!(
            "/api/webhook-destinations/{}/deliveries?ulid={ulid}",
            other["id"]
        ))
        .await;
    assert_eq!(outsider.status(), StatusCode::OK);
    let outsider: Vec<Value> = outsider.json().await.unwrap();
    assert!(outsider.is_empty());
    let stranger = s
        .app
        .api(&s.ws.admin)
        .get(&format!(
            "/api/webhook-destinations/{id}/deliveries?ulid={ulid}"
        ))
        .await;
    assert_eq!(stranger.status(), StatusCode::NOT_FOUND);

    for (query, field) in [
        ("status=done", "status"),
        ("type=ticketClosed", "type"),
        ("ulid=abc", "ulid"),
        ("ulid=01jab8z9r2pm3kc4td5ef6gh7!", "ulid"),
    ] {
        let (status, code, named) = crate::helpers::error_of(
            api.get(&format!(
                "/api/webhook-destinations/{id}/deliveries?{query}"
            ))
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(code, "validation_failed", "{query}");
        assert_eq!(named.as_deref(), Some(field), "{query}");
    }

    // The page: the same filters as a form, each delivery with its attempts under it.
    let browser = s.app.browser(&s.ws.agent).await;
    let page = format!("/settings/webhooks/{id}/deliveries");
    let html = browser.get_html(&format!("{page}?status=failed")).await;
    assert!(
        html.contains(&format!("id=\"delivery-{}\"", failed[0]["id"])),
        "{html}"
    );
    assert!(html.contains("3 attempts"));
    assert_eq!(html.matches("class=\"attempt\"").count(), 3);
    assert!(!html.contains(&format!("id=\"delivery-{}\"", wanted["id"])));
    assert!(html.contains("<option value=\"failed\" selected>"));
    let html = browser.get_html(&format!("{page}?ulid={ulid}")).await;
    assert!(html.contains(&format!("id=\"delivery-{}\"", wanted["id"])));
    assert_eq!(html.matches("class=\"delivery\"").count(), 1);
    let html = browser.get_html(&format!("{page}?type=newReply")).await;
    assert!(html.contains("id=\"no-match\""));
    let html = browser.get_html(&format!("{page}?ulid=not-a-ulid")).await;
    assert!(html.contains("id=\"filter-error\"") && html.contains("A ulid is 26 characters"));
    assert!(
        html.contains("value=\"not-a-ulid\""),
        "the form keeps what was typed"
    );
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
        .get_json(&format!(
            "/api/webhook-destinations/{}/deliveries",
            destination["id"]
        ))
        .await;
    assert_eq!(log.len(), 2);
    assert!(
        log[0]["id"].as_i64() > log[1]["id"].as_i64(),
        "newest first"
    );
    assert_eq!(log[0]["status"], "succeeded");
    assert_eq!(log[0]["event_type"], "ticketOpened");
    assert_eq!(log[0]["attempts"][0]["response_status"], 202);
    let page2: Vec<Value> = api
        .get_json(&format!(
            "/api/webhook-destinations/{}/deliveries?limit=1&before={}",
            destination["id"], log[0]["id"]
        ))
        .await;
    assert_eq!(page2.len(), 1);
    assert_eq!(page2[0]["id"], log[1]["id"]);

    let id = log[0]["id"].as_i64().unwrap();
    let detail: Value = api.get_json(&format!("/api/webhook-deliveries/{id}")).await;
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

    // A day's thousands go in several batches, their attempts with them; an old delivery
    // still pending stays.
    let destination: i64 = sqlx::query_scalar("SELECT id FROM webhook_destinations")
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
    // Written finished (the pending one due tomorrow) so the worker leaves them alone.
    sqlx::query(
        "WITH backlog AS (
             INSERT INTO webhook_deliveries (ulid, workspace_id, destination_id, event_type, payload,
                                             status, created_at)
             SELECT 'backlog' || n, d.workspace_id, d.id, 'ticketOpened', '{}',
                    CASE WHEN n = 12001 THEN 'pending' ELSE 'succeeded' END, now() - interval '40 days'
             FROM webhook_destinations d, generate_series(1, 12001) AS n WHERE d.id = $1
             RETURNING id, destination_id, status)
         INSERT INTO webhook_queue (delivery_id, destination_id, test, next_attempt_at)
         SELECT id, destination_id, false, now() + interval '1 day' FROM backlog WHERE status = 'pending'",
    )
    .bind(destination)
    .execute(&s.app.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, trigger, started_at, duration_ms, url, request_headers, succeeded)
         SELECT id, 'automatic', now(), 1, 'http://x', '{}', true FROM webhook_deliveries WHERE ulid LIKE 'backlog%'",
    )
    .execute(&s.app.pool)
    .await
    .unwrap();
    let pruned =
        therethere::webhooks::deliveries::prune_log(&s.app.pool, Duration::from_secs(30 * 86_400))
            .await
            .unwrap();
    assert_eq!(pruned, 12_000);
    let (deliveries, attempts): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM webhook_deliveries WHERE ulid LIKE 'backlog%'),
                (SELECT count(*) FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
                 WHERE d.ulid LIKE 'backlog%')",
    )
    .fetch_one(&s.app.pool)
    .await
    .unwrap();
    assert_eq!((deliveries, attempts), (1, 1), "the pending one stays");
    let orphaned: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_attempts a
         WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.id = a.delivery_id)",
    )
    .fetch_one(&s.app.pool)
    .await
    .unwrap();
    assert_eq!(
        orphaned, 0,
        "the pruned deliveries' attempts went with them"
    );
}

/// Queues `count` deliveries due now to `destination` straight into the table, as a burst
/// fanned out long ago would have left them.
async fn queue_backlog(pool: &sqlx::PgPool, destination: i64, count: usize) {
    sqlx::query(
        "WITH backlog AS (
             INSERT INTO webhook_deliveries (ulid, workspace_id, destination_id, event_type, payload)
             SELECT 'backlog' || d.id || '-' || n, d.workspace_id, d.id, 'ticketOpened', $3
             FROM webhook_destinations d, generate_series(1, $2) AS n WHERE d.id = $1
             RETURNING id, destination_id)
         INSERT INTO webhook_queue (delivery_id, destination_id, test)
         SELECT id, destination_id, false FROM backlog",
    )
    .bind(destination)
    .bind(count as i32)
    // A real payload, as receivers check every webhook against its schema.
    .bind(crate::payload_schemas::example("ticketOpened").to_string())
    .execute(pool)
    .await
    .unwrap();
}

async fn pending_for(pool: &sqlx::PgPool, destination: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM webhook_deliveries WHERE destination_id = $1 AND status = 'pending'",
    )
    .bind(destination)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn another_workspaces_backlog_delays_a_notification_by_one_attempt_not_by_the_backlog() {
    // Four slots, all of which the busy workspace's destination may take.
    let s = setup_with(&[
        ("WEBHOOK_CONCURRENCY", "4"),
        ("WEBHOOK_DESTINATION_CONCURRENCY", "4"),
        ("WEBHOOK_WORKSPACE_CONCURRENCY", "4"),
    ])
    .await;
    let busy = Receiver::start(Behaviour::Sleep(Duration::from_millis(40))).await;
    let busy_destination = s
        .destination(&s.ws.admin, "workspace", &busy.url, &["ticketOpened"])
        .await["id"]
        .as_i64()
        .unwrap();
    let other = s.app.create_workspace("Other").await;
    let other_channel = s.app.create_channel(&other.admin, "Help").await;
    let quiet = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    s.destination(&other.admin, "workspace", &quiet.url, &["ticketOpened"])
        .await;
    // 300 deliveries at 40 ms each, 4 at a time: 3 s of backlog, every one older than the
    // other workspace's ticket.
    queue_backlog(&s.app.pool, busy_destination, 300).await;
    busy.wait_for(8).await;
    s.app
        .ticket(&other.owner)
        .set("channel_id", other_channel)
        .create()
        .await;
    quiet.wait_for(1).await;
    let left = pending_for(&s.app.pool, busy_destination).await;
    assert!(
        left > 200,
        "the other workspace's notification waited for the backlog: {left} of 300 left"
    );
}

#[tokio::test]
async fn a_workspace_whose_receivers_hang_holds_at_most_its_share_of_the_slots() {
    // Four slots, each destination may take all of them, a workspace half.
    let s = setup_with(&[
        ("WEBHOOK_CONCURRENCY", "4"),
        ("WEBHOOK_DESTINATION_CONCURRENCY", "4"),
        ("WEBHOOK_WORKSPACE_CONCURRENCY", "2"),
    ])
    .await;
    let hanging = Receiver::start(Behaviour::Sleep(Duration::from_secs(10))).await;
    for _ in 0..2 {
        let destination = s
            .destination(&s.ws.admin, "workspace", &hanging.url, &["ticketOpened"])
            .await["id"]
            .as_i64()
            .unwrap();
        queue_backlog(&s.app.pool, destination, 10).await;
    }
    hanging.wait_for(2).await;
    let other = s.app.create_workspace("Other").await;
    let other_channel = s.app.create_channel(&other.admin, "Help").await;
    let healthy = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    s.destination(&other.admin, "workspace", &healthy.url, &["ticketOpened"])
        .await;
    let started = Instant::now();
    for _ in 0..3 {
        s.app
            .ticket(&other.owner)
            .set("channel_id", other_channel)
            .create()
            .await;
    }
    healthy.wait_for(3).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the other workspace waited {:?} behind hanging receivers",
        started.elapsed()
    );
    assert_eq!(
        hanging.requests().len(),
        2,
        "the hanging workspace has exactly its 2 slots under way"
    );
}

#[tokio::test]
async fn fan_out_takes_another_workspaces_event_before_a_burst_queued_earlier() {
    let s = setup().await;
    let busy = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    s.destination(&s.ws.admin, "workspace", &busy.url, &["ticketOpened"])
        .await;
    let ticket = s.ticket(&s.ws.owner).await;
    busy.wait_for(1).await;
    let other = s.app.create_workspace("Other").await;
    let other_channel = s.app.create_channel(&other.admin, "Help").await;
    let quiet = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let quiet_destination = s
        .destination(&other.admin, "workspace", &quiet.url, &["ticketOpened"])
        .await["id"]
        .as_i64()
        .unwrap();
    // A burst of 5,000 events (ten fan-out batches), all older than the other's ticket.
    sqlx::query(
        "INSERT INTO events (workspace_id, ticket_id, kind)
         SELECT $1, $2, 'ticket_reopened' FROM generate_series(1, 5000)",
    )
    .bind(s.ws.id)
    .bind(ticket["id"].as_i64().unwrap())
    .execute(&s.app.pool)
    .await
    .unwrap();
    s.app
        .ticket(&other.owner)
        .set("channel_id", other_channel)
        .create()
        .await;
    quiet.wait_for(1).await;
    settle(&s.app.pool).await;
    // Each fan-out batch queues its deliveries in a transaction of its own (`created_at`).
    let (queued_in_batch, later_batches): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(DISTINCT created_at) FROM webhook_deliveries
                 WHERE destination_id <> $1 AND created_at <= q.created_at),
                (SELECT count(DISTINCT created_at) FROM webhook_deliveries
                 WHERE destination_id <> $1 AND created_at > q.created_at)
         FROM webhook_deliveries q WHERE q.destination_id = $1",
    )
    .bind(quiet_destination)
    .fetch_one(&s.app.pool)
    .await
    .unwrap();
    assert!(
        later_batches >= 8,
        "the other workspace's event was fanned out in batch {queued_in_batch} of {}",
        queued_in_batch + later_batches
    );
}

/// A fan-out transaction queues at most 2,000 deliveries (an event's own together), so the
/// intake's after-batch step never holds up the next batch for long: 150 events heard by 20
/// destinations each (3,000 deliveries, arriving unannounced so the worker's poll takes them
/// at once) are queued in two transactions or more, each delivery once.
#[tokio::test]
async fn one_fan_out_transaction_queues_at_most_two_thousand_deliveries() {
    let s = setup().await;
    let receiver = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    for _ in 0..20 {
        s.destination(&s.ws.admin, "workspace", &receiver.url, &["ticketOpened"])
            .await;
    }
    let arrivals: Vec<Arrival> = (0..150)
        .map(|i| {
            let new = NewTicket {
                subject: format!("Ticket {i}"),
                body: "Help".into(),
                contact: NewContact {
                    name: "Jane".into(),
                    email: "jane@example.com".into(),
                },
                channel_id: None,
            };
            Arrival::check(s.ws.id, new).unwrap()
        })
        .collect();
    receive_tickets(&s.app.pool, &arrivals).await.unwrap();
    settle(&s.app.pool).await;
    let (deliveries, pairs, transactions, largest): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT sum(n)::bigint, (SELECT count(DISTINCT (event_id, destination_id)) FROM webhook_deliveries),
                count(*), max(n)
         FROM (SELECT created_at, count(*) AS n FROM webhook_deliveries GROUP BY created_at) t",
    )
    .fetch_one(&s.app.pool)
    .await
    .unwrap();
    assert_eq!(
        (deliveries, pairs),
        (3000, 3000),
        "each event to each destination once"
    );
    assert!(
        largest <= 2000 && transactions >= 2,
        "{transactions} fan-out transactions, the largest {largest} deliveries"
    );
}

/// The wait between a receiver's first and second request.
async fn wait_between_first_two(receiver: &Receiver) -> Duration {
    receiver.wait_for(1).await;
    let first = Instant::now();
    receiver.wait_for(2).await;
    first.elapsed()
}

#[tokio::test]
async fn a_429s_retry_after_delays_the_next_attempt_within_the_same_three() {
    // Retries 0.2 s apart, unless the receiver asks for longer.
    let s = setup_with(&[("WEBHOOK_RETRY_DELAYS", "0.2,0.2")]).await;
    let receiver = Receiver::start(Behaviour::Throttle("2".into())).await;
    let destination = s
        .destination(&s.ws.admin, "workspace", &receiver.url, &["ticketOpened"])
        .await;
    s.ticket(&s.ws.owner).await;
    let waited = wait_between_first_two(&receiver).await;
    assert!(
        (Duration::from_millis(1800)..Duration::from_secs(4)).contains(&waited),
        "asked for 2 s, waited {waited:?}"
    );
    settle(&s.app.pool).await;
    let log = s.log(&s.ws.admin, &destination).await;
    assert_eq!(log[0]["status"], "succeeded");
    let statuses: Vec<&Value> = log[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["response_status"])
        .collect();
    assert_eq!(statuses, [&json!(429), &json!(200)]);
}

#[tokio::test]
async fn retry_after_is_capped_and_read_as_an_http_date_too() {
    let s = setup_with(&[
        ("WEBHOOK_RETRY_DELAYS", "0.2,0.2"),
        ("WEBHOOK_RETRY_AFTER_CAP", "1"),
    ])
    .await;
    let in_an_hour =
        httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3_600));
    let receiver = Receiver::start(Behaviour::Throttle(in_an_hour)).await;
    s.destination(&s.ws.admin, "workspace", &receiver.url, &["ticketOpened"])
        .await;
    s.ticket(&s.ws.owner).await;
    let waited = wait_between_first_two(&receiver).await;
    assert!(
        (Duration::from_millis(800)..Duration::from_millis(2500)).contains(&waited),
        "asked for an hour, capped at 1 s, waited {waited:?}"
    );
}

#[tokio::test]
async fn a_410_disables_the_destination_at_once_with_notice_to_whoever_manages_it() {
    let smtp = crate::smtp::SmtpSink::start().await;
    let s = setup_with(&[("SMTP_URL", &smtp.url), ("WEBHOOK_RETRY_DELAYS", "0.2,0.2")]).await;
    let gone = Receiver::start(Behaviour::Respond(410, "{}".into())).await;
    let personal = s
        .destination(&s.ws.agent, "personal", &gone.url, &["ticketOpened"])
        .await;
    s.ticket(&s.ws.owner).await;
    let api = s.app.api(&s.ws.agent);
    let path = format!("/api/webhook-destinations/{}", personal["id"]);
    let disabled = eventually(
        "the destination disabled",
        Duration::from_secs(10),
        || async {
            let d: Value = api.get_json(&path).await;
            (d["enabled"] == false).then_some(d)
        },
    )
    .await;
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410 Gone"),
        "{disabled}"
    );
    assert!(disabled["disabled_at"].is_string());
    // One mail, to the personal destination's owner alone, naming it, why and where.
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].rcpt_to, vec![s.ws.agent.email.clone()]);
    assert!(mails[0].data.contains("410 Gone"), "{}", mails[0].data);
    assert!(
        mails[0]
            .data
            .contains(&format!("/settings/webhooks/{}", personal["id"])),
        "{}",
        mails[0].data
    );
    // No retry of a gone receiver, and nothing more sent while disabled.
    s.ticket(&s.ws.owner).await;
    settle(&s.app.pool).await;
    assert_eq!(gone.requests().len(), 1);
    // Its page says when and why.
    let page = s
        .app
        .browser(&s.ws.agent)
        .await
        .get_html(&format!("/settings/webhooks/{}", personal["id"]))
        .await;
    assert!(page.contains("Disabled automatically on"), "{page}");
    assert!(page.contains("410 Gone"));
    // Enabling it again clears the notice.
    let enabled: Value = api
        .patch(&path, &json!({"enabled": true}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(enabled["enabled"], true);
    assert_eq!(enabled["disabled_reason"], Value::Null);
    assert_eq!(smtp.mails().len(), 1, "one mail in all");
}

#[tokio::test]
async fn a_gone_workspace_destination_is_announced_to_the_owner_and_admins() {
    let smtp = crate::smtp::SmtpSink::start().await;
    let s = setup_with(&[("SMTP_URL", &smtp.url)]).await;
    let gone = Receiver::start(Behaviour::Respond(410, "{}".into())).await;
    s.destination(&s.ws.admin, "workspace", &gone.url, &["ticketOpened"])
        .await;
    s.ticket(&s.ws.owner).await;
    let mails = smtp.wait_for(2).await;
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    to.sort();
    let mut expected = vec![s.ws.owner.email.clone(), s.ws.admin.email.clone()];
    expected.sort();
    assert_eq!(to, expected, "the owner and the admin, not the agent");
}

#[tokio::test]
async fn a_destination_that_keeps_failing_is_warned_at_half_then_disabled_with_notice() {
    let smtp = crate::smtp::SmtpSink::start().await;
    // Three attempts 50 ms apart; disabled after 4 failed deliveries, however quickly.
    let s = setup_with(&[
        ("SMTP_URL", &smtp.url),
        ("WEBHOOK_RETRY_DELAYS", "0.05,0.05"),
        ("WEBHOOK_DISABLE_AFTER_FAILURES", "4"),
        ("WEBHOOK_DISABLE_AFTER_HOURS", "0"),
    ])
    .await;
    let failing = Receiver::start(Behaviour::Respond(500, "down".into())).await;
    let destination = s
        .destination(&s.ws.admin, "workspace", &failing.url, &["ticketOpened"])
        .await;
    let api = s.app.api(&s.ws.admin);
    let path = format!("/api/webhook-destinations/{}", destination["id"]);
    let page_path = format!("/settings/webhooks/{}", destination["id"]);
    let failed_so_far = |n: i64| {
        let (api, path) = (&api, &path);
        async move {
            eventually("the failures counted", Duration::from_secs(10), || async {
                let d: Value = api.get_json(path).await;
                (d["failed_deliveries"] == n).then_some(d)
            })
            .await
        }
    };
    for _ in 0..2 {
        s.ticket(&s.ws.owner).await;
    }
    failed_so_far(2).await;
    // Warned once at half, by email to the workspace's owner and admins, and on the page.
    let warnings = smtp.wait_for(2).await;
    assert!(warnings.iter().all(
        |m| m.data.contains("failed every attempt") && m.data.contains("Last error: HTTP 500")
    ));
    let page = s.app.browser(&s.ws.admin).await.get_html(&page_path).await;
    assert!(
        page.contains("The last 2 deliveries failed every attempt"),
        "{page}"
    );
    s.ticket(&s.ws.owner).await;
    failed_so_far(3).await;
    assert_eq!(smtp.mails().len(), 2, "warned once");
    s.ticket(&s.ws.owner).await;
    let disabled = eventually("disabled", Duration::from_secs(10), || async {
        let d: Value = api.get_json(&path).await;
        (d["enabled"] == false).then_some(d)
    })
    .await;
    let reason = disabled["disabled_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("4 deliveries in a row failed every attempt"),
        "{reason}"
    );
    let mails = smtp.wait_for(4).await;
    assert!(mails[2..].iter().all(|m| m.data.contains("was disabled:")));
    let page = s.app.browser(&s.ws.admin).await.get_html(&page_path).await;
    assert!(page.contains("Disabled automatically on"), "{page}");
    // Enabled again: the count starts over.
    let enabled: Value = api
        .patch(&path, &json!({"enabled": true}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            enabled["failed_deliveries"].clone(),
            enabled["disabled_reason"].clone()
        ),
        (json!(0), Value::Null)
    );
}

#[tokio::test]
async fn a_delivered_notification_ends_the_streak_and_a_short_streak_disables_nothing() {
    // Four failures, but they must span a day: nothing is disabled in a test's seconds.
    let s = setup_with(&[
        ("WEBHOOK_RETRY_DELAYS", "0.05,0.05"),
        ("WEBHOOK_DISABLE_AFTER_FAILURES", "4"),
    ])
    .await;
    // Two deliveries fail all three attempts, the third is delivered, then all fail.
    let mut steps = vec![(500, "{}".to_string()); 6];
    steps.push((200, "{}".into()));
    steps.push((500, "{}".into()));
    let receiver = Receiver::start(Behaviour::Sequence(steps)).await;
    let destination = s
        .destination(&s.ws.admin, "workspace", &receiver.url, &["ticketOpened"])
        .await;
    let api = s.app.api(&s.ws.admin);
    let path = format!("/api/webhook-destinations/{}", destination["id"]);
    // The count is written just after each delivery's outcome: wait for each step's.
    for expected in [1, 2, 0, 1, 2, 3, 4, 5] {
        s.ticket(&s.ws.owner).await;
        settle(&s.app.pool).await;
        let d = eventually("the streak counted", Duration::from_secs(10), || async {
            let d: Value = api.get_json(&path).await;
            (d["failed_deliveries"] == expected).then_some(d)
        })
        .await;
        assert_eq!(d["enabled"], true);
    }
}

/// A delivery waiting for its retry that a resend delivers leaves the queue: no automatic
/// attempt follows, and the log says succeeded.
#[tokio::test]
async fn a_successful_resend_ends_a_delivery_waiting_for_its_retry() {
    let s = setup_with(&[("WEBHOOK_RETRY_DELAYS", "3600,3600")]).await;
    let failing = Receiver::start(Behaviour::Respond(500, "{}".into())).await;
    let destination = s
        .destination(&s.ws.agent, "personal", &failing.url, &["ticketOpened"])
        .await;
    s.ticket(&s.ws.owner).await;
    failing.wait_for(1).await;
    let api = s.app.api(&s.ws.agent);
    let id = destination["id"].as_i64().unwrap();
    let delivery: i64 = eventually(
        "the failure is recorded",
        Duration::from_secs(10),
        || async {
            sqlx::query_scalar(
                "SELECT d.id FROM webhook_deliveries d JOIN webhook_queue q ON q.delivery_id = d.id
             WHERE d.attempts = 1 AND q.next_attempt_at > now() + interval '1 minute'",
            )
            .fetch_optional(&s.app.pool)
            .await
            .unwrap()
        },
    )
    .await;
    let healthy = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let patched = api
        .patch(
            &format!("/api/webhook-destinations/{id}"),
            &json!({"url": healthy.url}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let resent: Value = api
        .post(
            &format!("/api/webhook-deliveries/{delivery}/resend"),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(resent["status"], "succeeded");
    assert_eq!(resent["next_attempt_at"], Value::Null);
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_queue")
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
    assert_eq!(queued, 0, "the delivery left the queue");
    assert_eq!(healthy.requests().len(), 1);
}

/// A destination's deliveries, their attempts and queue rows go with it, whether the
/// destination is deleted or its workspace is (statement triggers since migration 0022, where
/// foreign keys cascaded); nobody else's are touched.
#[tokio::test]
async fn deleting_a_destination_takes_its_log_and_queue_with_it() {
    let s = setup().await;
    let receiver = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let gone = s
        .destination(&s.ws.admin, "workspace", &receiver.url, &["ticketOpened"])
        .await;
    let kept = s
        .destination(&s.ws.admin, "workspace", &receiver.url, &["ticketOpened"])
        .await;
    let (gone, kept) = (gone["id"].as_i64().unwrap(), kept["id"].as_i64().unwrap());
    s.ticket(&s.ws.agent).await;
    s.ticket(&s.ws.agent).await;
    settle(&s.app.pool).await;
    // Each has a backlog waiting too (due tomorrow, so the worker leaves it alone).
    for destination in [gone, kept] {
        queue_backlog(&s.app.pool, destination, 3).await;
    }
    sqlx::query("UPDATE webhook_queue SET next_attempt_at = now() + interval '1 day'")
        .execute(&s.app.pool)
        .await
        .unwrap();
    let counts = |destination: i64| {
        let pool = s.app.pool.clone();
        async move {
            sqlx::query_as::<_, (i64, i64, i64)>(
                "SELECT (SELECT count(*) FROM webhook_deliveries WHERE destination_id = $1),
                        (SELECT count(*) FROM webhook_attempts a WHERE a.delivery_id IN
                            (SELECT id FROM webhook_deliveries WHERE destination_id = $1)),
                        (SELECT count(*) FROM webhook_queue WHERE destination_id = $1)",
            )
            .bind(destination)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let orphans = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT (SELECT count(*) FROM webhook_attempts a
                     WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.id = a.delivery_id))
                  + (SELECT count(*) FROM webhook_queue q
                     WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.id = q.delivery_id))
                  + (SELECT count(*) FROM webhook_deliveries d
                     WHERE NOT EXISTS (SELECT 1 FROM webhook_destinations w WHERE w.id = d.destination_id))",
        )
        .fetch_one(&s.app.pool)
        .await
        .unwrap()
    };
    assert_eq!(counts(gone).await, (5, 2, 3));
    assert_eq!(counts(kept).await, (5, 2, 3));

    let deleted = s
        .app
        .api(&s.ws.admin)
        .delete(&format!("/api/webhook-destinations/{gone}"))
        .await;
    assert!(deleted.status().is_success(), "{}", deleted.status());
    assert_eq!(counts(gone).await, (0, 0, 0));
    assert_eq!(
        counts(kept).await,
        (5, 2, 3),
        "another destination's log stays"
    );
    assert_eq!(orphans().await, 0);

    sqlx::query("DELETE FROM workspaces WHERE id = (SELECT workspace_id FROM webhook_destinations WHERE id = $1)")
        .bind(kept)
        .execute(&s.app.pool)
        .await
        .unwrap();
    assert_eq!(
        counts(kept).await,
        (0, 0, 0),
        "a deleted workspace's log goes too"
    );
    assert_eq!(orphans().await, 0);
}

/// The queue's NOTIFY names the instance that sent it: a worker answers its own instance's at
/// once, and pauses briefly for another's after a claim that found nothing (the race for new
/// deliveries every instance's worker hears of).
#[tokio::test]
async fn the_queue_notify_names_the_instance_that_sent_it() {
    use therethere::db::notifications::{Notifications, Signal};
    use therethere::webhooks::queue;
    let s = setup().await;
    let mut heard = Notifications::new(&s.app.pool, &[queue::NOTIFY_CHANNEL]);
    assert_eq!(heard.next().await, Signal::Listening);
    let mut tx = s.app.pool.begin().await.unwrap();
    queue::wake_workers(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    let signal = tokio::time::timeout(Duration::from_secs(10), heard.next())
        .await
        .expect("the NOTIFY arrives");
    assert_eq!(signal, Signal::Notified(queue::THIS_INSTANCE.clone()));
    assert!(!heard.take_buffered(), "one NOTIFY, one signal");
}
