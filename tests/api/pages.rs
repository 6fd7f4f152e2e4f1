//! The pages, through HTTP as a browser without JavaScript would use them.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, ticket_body};

#[tokio::test]
async fn pages_need_a_login() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/tickets",
        "/tickets/1",
        "/settings/profile",
        "/settings/api-tokens",
    ] {
        let response = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(response.headers()["location"], "/login");
    }
    assert_eq!(
        client.get(app.url("/login")).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_ticket_list_shows_open_tickets_and_an_empty_state() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let browser = app.browser(&ws.agent).await;
    assert!(
        browser
            .get_html("/tickets")
            .await
            .contains("No open tickets")
    );
    app.create_ticket(&ws.agent, ticket_body("Printer <on> fire", "j@example.com"))
        .await;
    let html = browser.get_html("/tickets").await;
    assert!(
        html.contains("Printer &#60;on&#62; fire"),
        "subjects are escaped"
    );
}

#[tokio::test]
async fn the_ticket_view_works_the_ticket_end_to_end() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let id = app
        .create_ticket(&ws.agent, ticket_body("Help", "j@example.com"))
        .await["id"]
        .as_i64()
        .unwrap();
    let browser = app.browser(&ws.agent).await;
    let page = format!("/tickets/{id}");
    let html = browser.get_html(&page).await;
    assert!(html.contains("Hello, I need help.") && html.contains("custom-sections"));

    let response = browser
        .submit(&format!("{page}/reply"), &[("body", "<b>We're on it</b>")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = browser
        .submit(
            &format!("{page}/notes"),
            &[("body", &format!("@{} FYI", ws.admin.handle))],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = browser
        .submit(
            &format!("{page}/assignee"),
            &[("user_id", &ws.agent.id.to_string())],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = browser
        .submit(&format!("{page}/status"), &[("status", "closed")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let html = browser.get_html(&page).await;
    assert!(
        html.contains("&#60;b&#62;We&#39;re on it&#60;/b&#62;"),
        "replies are escaped"
    );
    assert!(html.contains("FYI"));
    assert!(html.contains("Reopen ticket"));
    assert!(
        html.contains("Ticket closed."),
        "the flash message shows once"
    );
    assert!(
        !browser.get_html(&page).await.contains("Ticket closed."),
        "and only once"
    );
    assert_eq!(
        app.event_kinds(id).await,
        [
            "ticket_opened",
            "agent_replied",
            "note_added",
            "ticket_assigned",
            "ticket_closed"
        ]
    );
}

#[tokio::test]
async fn api_tokens_are_created_shown_once_used_and_revoked_from_settings() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let browser = app.browser(&ws.agent).await;
    let response = browser
        .submit("/settings/api-tokens", &[("name", "CRM sync")])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    let start = html.find("value=\"tt_").expect("the new token is shown") + 7;
    let token = &html[start..start + 43];
    let me = reqwest::Client::new()
        .get(app.url("/api/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert!(
        !browser
            .get_html("/settings/api-tokens")
            .await
            .contains(token),
        "shown only once"
    );

    let token_id: i64 = sqlx::query_scalar("SELECT id FROM api_tokens WHERE name = 'CRM sync'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let response = browser
        .submit(&format!("/settings/api-tokens/{token_id}/delete"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let me = reqwest::Client::new()
        .get(app.url("/api/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn someone_elses_token_cannot_be_revoked() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let admin_token: i64 = sqlx::query_scalar("SELECT id FROM api_tokens WHERE user_id = $1")
        .bind(ws.admin.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let browser = app.browser(&ws.agent).await;
    let response = browser
        .submit(&format!("/settings/api-tokens/{admin_token}/delete"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.api(&ws.admin).get("/api/me").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn admins_add_channels_from_settings() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let browser = app.browser(&ws.admin).await;
    let response = browser
        .submit("/settings/channels", &[("name", "Billing")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        browser
            .get_html("/settings/channels")
            .await
            .contains("Billing")
    );
    let response = browser
        .submit("/settings/channels", &[("name", "billing")])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let channels: serde_json::Value = app.api(&ws.agent).get_json("/api/channels").await;
    assert_eq!(
        channels,
        json!([{"id": channels[0]["id"], "name": "Billing"}])
    );
}

/// A malformed id, query or form on a page shows our error page, not axum's plain text.
#[tokio::test]
async fn malformed_ids_queries_and_forms_show_the_error_page() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let browser = app.browser(&ws.admin).await;
    for path in [
        "/tickets/abc",
        "/settings/webhooks/1x",
        "/settings/sidebar-sections/%20",
    ] {
        let response = browser.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains("<h1>Not found</h1>"), "{path}: {html}");
    }
    let ticket = app
        .create_ticket(
            &ws.agent,
            crate::helpers::ticket_body("Hi", "jane@example.com"),
        )
        .await;
    let response = browser
        .get(&format!("/tickets/{}?messages_before=soon", ticket["id"]))
        .await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("messages_before"));
    let response = browser
        .submit(
            &format!("/tickets/{}/assignee", ticket["id"]),
            &[("user_id", "someone")],
        )
        .await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("<h1>That didn"));
}
