//! Replay: "resend every failed delivery since ...", by API and page, once however often it is
//! asked, rate-limited, and offered when a destination that was failing is enabled again.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::helpers::error_of;
use crate::receiver::{Behaviour, Receiver};

/// A receiver that fails the first `n` requests, then accepts every one.
fn failing_first(n: usize) -> Behaviour {
    let mut steps = vec![(500, "{}".to_string()); n];
    steps.push((200, "{}".into()));
    Behaviour::Sequence(steps)
}

fn attempts_of(delivery: &Value) -> Vec<(String, bool)> {
    delivery["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["trigger"].as_str().unwrap().to_string(),
                a["succeeded"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_replay_resends_each_failed_delivery_since_once_as_a_resend() {
    let s = setup_with(&[("WEBHOOK_RETRY_DELAYS", "0,0"), ("REPLAYS_PER_HOUR", "2")]).await;
    let receiver = Receiver::start(failing_first(9)).await;
    let destination = s
        .destination(&s.ws.agent, "personal", &receiver.url, &["ticketOpened"])
        .await;
    let id = destination["id"].as_i64().unwrap();
    // Three deliveries fail all three attempts, one after another.
    for n in 1..=3 {
        s.ticket(&s.ws.owner).await;
        receiver.wait_for(3 * n).await;
    }
    settle(&s.app.pool).await;
    let log = s.log(&s.ws.agent, &destination).await;
    assert!(log.iter().all(|d| d["status"] == "failed"));
    let (oldest, middle) = (&log[2], &log[1]);
    let since = middle["created_at"].as_str().unwrap().to_string();
    let api = s.app.api(&s.ws.agent);
    let replay = |since: &str| {
        let api = s.app.api(&s.ws.agent);
        let path = format!("/api/webhook-destinations/{id}/replay");
        let body = json!({ "since": since });
        async move { api.post(&path, &body).await }
    };

    let first = replay(&since).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await.unwrap();
    assert_eq!(
        first["deliveries"], 2,
        "the two created since; not the oldest"
    );
    assert_eq!(first["repeated"], false);
    let got = receiver.wait_for(11).await;
    settle(&s.app.pool).await;

    // Each went once more, with the bytes it had, and is logged as a resend.
    let log = s.log(&s.ws.agent, &destination).await;
    for delivery in &log[..2] {
        assert_eq!(delivery["status"], "succeeded");
        assert_eq!(
            attempts_of(delivery),
            [
                ("automatic".to_string(), false),
                ("automatic".to_string(), false),
                ("automatic".to_string(), false),
                ("resend".to_string(), true)
            ]
        );
        let sent: Vec<&crate::receiver::Captured> = got
            .iter()
            .filter(|c| body_of(c)["ulid"] == delivery["ulid"])
            .collect();
        assert_eq!(sent.len(), 4);
        assert!(sent.iter().all(|c| c.body == sent[0].body), "the same body");
    }
    assert_eq!(log[2]["id"], oldest["id"]);
    assert_eq!(
        log[2]["status"], "failed",
        "created before since: left alone"
    );

    // Asked again for the same moment: the same replay, nothing sent twice, no limit used.
    let again = replay(&since).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        (again["id"].clone(), again["repeated"].clone()),
        (first["id"].clone(), json!(true))
    );
    assert_eq!(again["remaining"], 0);
    settle(&s.app.pool).await;
    assert_eq!(receiver.requests().len(), 11);
    let latest: Value = api
        .get_json(&format!("/api/webhook-destinations/{id}/replay"))
        .await;
    assert_eq!(latest["id"], first["id"]);

    // A second moment is a second replay: the oldest goes; the limit (2 an hour) is then used up.
    let second = replay(oldest["created_at"].as_str().unwrap()).await;
    assert_eq!(second.status(), StatusCode::ACCEPTED);
    let second: Value = second.json().await.unwrap();
    assert_eq!(second["deliveries"], 1, "only what is still failed");
    receiver.wait_for(12).await;
    let third = replay("2020-01-01T00:00:00Z").await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(third.headers().contains_key("retry-after"));
    let (_, code, _) = error_of(third).await;
    assert_eq!(code, "rate_limited");

    // Bad input, a disabled destination, and someone else's destination.
    for (body, field) in [
        (json!({}), None),
        (json!({"since": "yesterday"}), Some("since")),
        (json!({"since": "2999-01-01T00:00:00Z"}), Some("since")),
    ] {
        let (status, _, named) = error_of(
            api.post(&format!("/api/webhook-destinations/{id}/replay"), &body)
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        if field.is_some() {
            assert_eq!(named.as_deref(), field, "{body}");
        }
    }
    api.patch(
        &format!("/api/webhook-destinations/{id}"),
        &json!({"enabled": false}),
    )
    .await;
    let (status, code, _) = error_of(replay("2026-01-01T00:00:00Z").await).await;
    assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "conflict"));
    let stranger = s
        .app
        .api(&s.ws.admin)
        .post(
            &format!("/api/webhook-destinations/{id}/replay"),
            &json!({"since": "2026-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(stranger.status(), StatusCode::NOT_FOUND);

    // Replays are forgotten with the log they replayed.
    let prune =
        |retention: Duration| therethere::webhooks::replay::prune_replays(&s.app.pool, retention);
    assert_eq!(prune(Duration::from_secs(30 * 86_400)).await.unwrap(), 0);
    assert_eq!(prune(Duration::ZERO).await.unwrap(), 2);
}

#[tokio::test]
async fn enabling_a_destination_that_failed_offers_to_resend_what_failed_meanwhile() {
    let s = setup_with(&[
        ("WEBHOOK_RETRY_DELAYS", "0,0"),
        ("WEBHOOK_DISABLE_AFTER_FAILURES", "2"),
        ("WEBHOOK_DISABLE_AFTER_HOURS", "0"),
    ])
    .await;
    let receiver = Receiver::start(failing_first(6)).await;
    let destination = s
        .destination(&s.ws.admin, "workspace", &receiver.url, &["ticketOpened"])
        .await;
    let id = destination["id"].as_i64().unwrap();
    s.ticket(&s.ws.owner).await;
    receiver.wait_for(3).await;
    s.ticket(&s.ws.owner).await;
    receiver.wait_for(6).await;
    let api = s.app.api(&s.ws.admin);
    eventually(
        "the failing destination is disabled",
        Duration::from_secs(10),
        || async {
            let shown: Value = api
                .get_json(&format!("/api/webhook-destinations/{id}"))
                .await;
            (shown["enabled"] == false).then_some(())
        },
    )
    .await;

    // The API's answer to enabling carries the offer; a plain change does not.
    let enabled: Value = api
        .patch(
            &format!("/api/webhook-destinations/{id}"),
            &json!({"enabled": true}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(enabled["replay_offer"]["failed_deliveries"], 2, "{enabled}");
    let since = enabled["replay_offer"]["since"]
        .as_str()
        .unwrap()
        .to_string();
    let renamed: Value = api
        .patch(
            &format!("/api/webhook-destinations/{id}"),
            &json!({"name": "Pager"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(renamed.get("replay_offer").is_none());

    // The page shows the offer after enabling, and its button resends both.
    let browser = s.app.browser(&s.ws.admin).await;
    let page = format!("/settings/webhooks/{id}");
    let html = browser
        .get_html(&format!(
            "{page}?replay_since={}",
            since.replace('+', "%2B")
        ))
        .await;
    assert!(
        html.contains("id=\"replay-offer\"") && html.contains("2 deliveries failed"),
        "{html}"
    );
    let response = browser
        .submit(&format!("{page}/replay"), &[("since", &since)])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    receiver.wait_for(8).await;
    settle(&s.app.pool).await;
    let log = s.log(&s.ws.admin, &destination).await;
    assert!(log.iter().all(|d| d["status"] == "succeeded"), "{log:?}");
    assert!(log.iter().all(|d| d["attempts"][3]["trigger"] == "resend"));
    let html = browser.get_html(&format!("{page}/deliveries")).await;
    assert!(html.contains("Resending 2 failed deliveries"), "{html}");
    assert!(
        html.contains("id=\"replay\""),
        "the form to replay from any moment"
    );
}
