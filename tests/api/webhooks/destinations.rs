//! Destinations: scope and ownership, the outbound URL rules, disabling, and the settings
//! pages.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::helpers::{error_of, spawn_app};
use crate::receiver::{Behaviour, Receiver};

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
        let listed: Vec<Value> = api.get_json("/api/webhook-destinations").await;
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
    let mine: Vec<Value> = agent.get_json("/api/webhook-destinations").await;
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
    eventually("the retry is overdue", Duration::from_secs(10), || async {
        let (attempts, overdue): (i32, bool) = sqlx::query_as(
            "SELECT d.attempts, q.next_attempt_at < now() - interval '1 second'
             FROM webhook_deliveries d JOIN webhook_queue q ON q.delivery_id = d.id
             WHERE d.event_type = 'ticketOpened'",
        )
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
        assert_eq!(attempts, 1);
        overdue.then_some(())
    })
    .await;
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
    assert!(
        !browser
            .get_html(&page)
            .await
            .contains("id=\"previous-secret-notice\""),
        "no grace period unless chosen"
    );
    browser
        .submit(
            &format!("{page}/regenerate-secret"),
            &[("grace_period_hours", "24")],
        )
        .await;
    let html = browser.get_html(&page).await;
    assert!(
        html.contains("id=\"previous-secret-notice\"")
            && html.contains("The previous secret also signs"),
        "{html}"
    );
    browser
        .submit(&format!("{page}/retire-previous-secret"), &[])
        .await;
    assert!(
        !browser
            .get_html(&page)
            .await
            .contains("id=\"previous-secret-notice\"")
    );

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
