//! What a receiver sends and what a user asks for cannot grow the log without bound.

use serde_json::{Value, json};

use super::{settle, setup, setup_with};
use crate::helpers::error_of;
use crate::receiver::{Behaviour, Receiver};

#[tokio::test]
async fn a_hostile_receivers_answer_is_stored_bounded() {
    let s = setup().await;
    let receiver = Receiver::start(Behaviour::Hostile).await;
    s.destination(&s.ws.admin, "workspace", &receiver.url, &["ticketOpened"])
        .await;
    s.ticket(&s.ws.owner).await;
    receiver.wait_for(1).await;
    settle(&s.app.pool).await;
    let (headers, body, row): (i32, i32, i32) = sqlx::query_as(
        "SELECT octet_length(response_headers::text), octet_length(response_body),
                octet_length(a::text) FROM webhook_attempts a",
    )
    .fetch_one(&s.app.pool)
    .await
    .unwrap();
    assert!(headers < 10 * 1024, "headers kept: {headers} bytes");
    assert!(body <= 64 * 1024, "body kept: {body} bytes");
    assert!(row < 80 * 1024, "the attempt's row: {row} bytes");
    let stored: Value = sqlx::query_scalar("SELECT response_headers FROM webhook_attempts")
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
    let pairs = stored.as_array().unwrap();
    assert!(
        pairs
            .iter()
            .any(|p| p[1].as_str().unwrap().ends_with("…[cut]")),
        "cut values are marked"
    );
}

#[tokio::test]
async fn resends_stop_at_the_limit_and_attempts_come_a_page_at_a_time() {
    let s = setup_with(&[("WEBHOOK_MAX_RESENDS", "2")]).await;
    let receiver = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let destination = s
        .destination(&s.ws.admin, "workspace", &receiver.url, &["ticketOpened"])
        .await;
    s.ticket(&s.ws.owner).await;
    receiver.wait_for(1).await;
    settle(&s.app.pool).await;
    let api = s.app.api(&s.ws.admin);
    let log: Vec<Value> = api
        .get_json(&format!(
            "/api/webhook-destinations/{}/deliveries",
            destination["id"]
        ))
        .await;
    let id = log[0]["id"].as_i64().unwrap();
    let (path, empty) = (format!("/api/webhook-deliveries/{id}/resend"), json!({}));
    let resend = || api.post(&path, &empty);
    assert_eq!(resend().await.status(), 200);
    assert_eq!(resend().await.status(), 200);
    let (status, code, _) = error_of(resend().await).await;
    assert_eq!((status.as_u16(), code.as_str()), (409, "conflict"));
    assert_eq!(
        receiver.requests().len(),
        3,
        "the refused resend sent nothing"
    );

    let newest: Value = api
        .get_json(&format!("/api/webhook-deliveries/{id}?attempts_limit=2"))
        .await;
    let attempts = newest["attempts_detail"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1]["trigger"], "resend");
    let before = newest["earlier_attempts_before"]
        .as_i64()
        .expect("older attempts exist");
    let older: Value = api
        .get_json(&format!(
            "/api/webhook-deliveries/{id}?attempts_limit=2&attempts_before={before}"
        ))
        .await;
    assert_eq!(older["attempts_detail"].as_array().unwrap().len(), 1);
    assert_eq!(older["attempts_detail"][0]["trigger"], "automatic");
    assert_eq!(older["earlier_attempts_before"], Value::Null);
    let (status, _, field) = error_of(
        api.get(&format!("/api/webhook-deliveries/{id}?attempts_limit=500"))
            .await,
    )
    .await;
    assert_eq!(
        (status.as_u16(), field.as_deref()),
        (422, Some("attempts_limit"))
    );
}
