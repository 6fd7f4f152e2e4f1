//! "Load when a ticket arrives": a section that asks for it is called in the background when a
//! ticket of its channel is opened, reopened or assigned, so the agent's first open is warm;
//! never when it is off (the default), disabled, fresh, or already tried this cache period.
//!
//! Proving that a call did *not* happen needs a point after which it would have: warm-ups
//! run one at a time here (`SIDEBAR_WARMUP_CONCURRENCY=1`) in the order tickets arrived, so
//! once a marker ticket's own warm-up has reached its endpoint, every earlier one is done.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Setup, setup_with};
use crate::helpers::eventually;
use crate::receiver::{Behaviour, Receiver};
use crate::smtp::SmtpSink;

const DATA: &str = r#"{"data":[{"name":"Plan","value":"Pro","type":"markdown"}]}"#;

/// The sidebar set-up, plus a channel of its own whose one section marks that earlier
/// warm-ups are done.
struct Warm {
    s: Setup,
    marker_channel: i64,
    marker: Receiver,
    markers_sent: usize,
}

async fn warm_setup(env: &[(&str, &str)]) -> Warm {
    let mut env = env.to_vec();
    env.push(("SIDEBAR_WARMUP_CONCURRENCY", "1"));
    let s = setup_with(&env).await;
    let marker_channel = s.app.create_channel(&s.ws.admin, "Marker").await;
    let marker = Receiver::start(Behaviour::Respond(200, DATA.into())).await;
    s.app
        .section(&s.ws.admin, &marker.url)
        .set("channel_ids", json!([marker_channel]))
        .set("load_on_arrival", true)
        .create()
        .await;
    Warm {
        s,
        marker_channel,
        marker,
        markers_sent: 0,
    }
}

impl Warm {
    /// Returns once every warm-up of what happened before has finished.
    async fn settle(&mut self) {
        // The events before are all taken (so the marker's cannot overtake them)...
        eventually("earlier arrivals taken for warm-up", WITHIN, || async {
            let pending: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM events WHERE NOT sidebar_warmed
                 AND kind IN ('ticket_opened', 'ticket_reopened', 'ticket_assigned')",
            )
            .fetch_one(&self.s.app.pool)
            .await
            .unwrap();
            (pending == 0).then_some(())
        })
        .await;
        // ...and the marker's warm-up, which waits for them, has reached its endpoint.
        self.markers_sent += 1;
        let email = format!("marker{}@example.com", self.markers_sent);
        self.s.ticket(&email, Some(self.marker_channel)).await;
        self.marker.wait_for(self.markers_sent).await;
    }

    /// Every cached answer and warm-up mark made older than any cache period.
    async fn expire(&self) {
        self.expire_warm_up_marks().await;
        sqlx::query("UPDATE sidebar_cache SET fetched_at = now() - interval '2 days'")
            .execute(&self.s.app.pool)
            .await
            .unwrap();
    }

    /// Only the marks of when each section was last warmed for each contact.
    async fn expire_warm_up_marks(&self) {
        sqlx::query("UPDATE sidebar_warmups SET warmed_at = now() - interval '2 days'")
            .execute(&self.s.app.pool)
            .await
            .unwrap();
    }

    async fn cached_answers(&self, section: i64) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM sidebar_cache WHERE section_id = $1")
            .bind(section)
            .fetch_one(&self.s.app.pool)
            .await
            .unwrap()
    }
}

const WITHIN: Duration = Duration::from_secs(15);

#[tokio::test]
async fn a_section_that_loads_on_arrival_is_warm_before_the_agent_opens_the_ticket() {
    let w = warm_setup(&[]).await;
    let endpoint = Receiver::start(Behaviour::Respond(200, DATA.into())).await;
    let section =
        w.s.section(&endpoint.url, json!({"load_on_arrival": true}))
            .await;
    assert_eq!(section["load_on_arrival"], true);
    let section_id = section["id"].as_i64().unwrap();

    let ticket = w.s.ticket("jane@example.com", Some(w.s.channel)).await;
    let calls = endpoint.wait_for(1).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&calls[0].body).unwrap(),
        json!({"email": "jane@example.com"})
    );
    assert!(
        calls[0].headers.contains_key("x-there-there-signature"),
        "a warm-up is signed like any call"
    );
    eventually("the answer cached", WITHIN, || async {
        (w.cached_answers(section_id).await == 1).then_some(())
    })
    .await;

    let loads = w.s.sidebar(ticket).await;
    assert_eq!(loads[0]["status"], "ok");
    assert_eq!(loads[0]["cached"], true, "the first open is served warm");
    assert_eq!(
        loads[0]["items"],
        serde_json::from_str::<Value>(DATA).unwrap()["data"]
    );
    assert_eq!(
        endpoint.requests().len(),
        1,
        "the agent's open made no call"
    );
}

#[tokio::test]
async fn loading_on_arrival_is_off_by_default_and_can_be_turned_on() {
    let mut w = warm_setup(&[]).await;
    let endpoint = Receiver::start(Behaviour::Respond(200, DATA.into())).await;
    let section = w.s.section(&endpoint.url, json!({})).await;
    assert_eq!(section["load_on_arrival"], false);
    let id = section["id"].as_i64().unwrap();

    w.s.ticket("first@example.com", Some(w.s.channel)).await;
    w.settle().await;
    assert_eq!(
        endpoint.requests().len(),
        0,
        "the spec calls when an agent opens a ticket, not before"
    );

    let response =
        w.s.app
            .api(&w.s.ws.admin)
            .patch(
                &format!("/api/sidebar-sections/{id}"),
                &json!({"load_on_arrival": true}),
            )
            .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["load_on_arrival"],
        true
    );
    w.s.ticket("second@example.com", Some(w.s.channel)).await;
    let calls = endpoint.wait_for(1).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&calls[0].body).unwrap()["email"],
        "second@example.com"
    );
    // Tickets of other channels never call it.
    w.s.ticket("third@example.com", Some(w.s.other_channel))
        .await;
    w.settle().await;
    assert_eq!(endpoint.requests().len(), 1);
}

#[tokio::test]
async fn assigning_and_reopening_warm_again_and_replies_do_not() {
    let mut w = warm_setup(&[]).await;
    let endpoint = Receiver::start(Behaviour::Respond(200, DATA.into())).await;
    w.s.section(&endpoint.url, json!({"load_on_arrival": true}))
        .await;
    let ticket = w.s.ticket("jane@example.com", Some(w.s.channel)).await;
    endpoint.wait_for(1).await;
    w.settle().await;
    let agent = w.s.app.api(&w.s.ws.agent);

    w.expire().await;
    let assigned = agent
        .put(
            &format!("/api/tickets/{ticket}/assignee"),
            &json!({"user_id": w.s.ws.agent.id}),
        )
        .await;
    assert_eq!(assigned.status(), 200);
    endpoint.wait_for(2).await;
    w.settle().await;

    w.expire().await;
    agent
        .post(
            &format!("/api/tickets/{ticket}/messages"),
            &json!({"body": "We are on it"}),
        )
        .await;
    agent
        .put(
            &format!("/api/tickets/{ticket}/status"),
            &json!({"status": "closed"}),
        )
        .await;
    w.settle().await;
    assert_eq!(
        endpoint.requests().len(),
        2,
        "a reply or a close warms nothing"
    );

    agent
        .post(
            &format!("/api/tickets/{ticket}/messages"),
            &json!({"from": "contact", "body": "It broke again"}),
        )
        .await;
    let calls = endpoint.wait_for(3).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&calls[2].body).unwrap()["email"],
        "jane@example.com",
        "the reopened ticket's contact"
    );
}

#[tokio::test]
async fn no_warm_up_for_a_disabled_section_a_fresh_answer_or_a_second_try_within_the_period() {
    let mut w = warm_setup(&[]).await;
    let healthy = Receiver::start(Behaviour::Respond(200, DATA.into())).await;
    let failing = Receiver::start(Behaviour::Respond(500, "down".into())).await;
    let disabled = Receiver::start(Behaviour::Respond(200, DATA.into())).await;
    let on = json!({"load_on_arrival": true});
    w.s.section(&healthy.url, on.clone()).await;
    let failing_id = w.s.section(&failing.url, on.clone()).await["id"]
        .as_i64()
        .unwrap();
    let mut off = on.clone();
    off["enabled"] = json!(false);
    w.s.section(&disabled.url, off).await;

    w.s.ticket("jane@example.com", Some(w.s.channel)).await;
    w.settle().await;
    assert_eq!(healthy.requests().len(), 1);
    assert_eq!(failing.requests().len(), 1);
    assert_eq!(disabled.requests().len(), 0, "never a disabled section");
    assert_eq!(
        w.s.section_row(failing_id).await["consecutive_failures"],
        1,
        "a warm-up's failure counts like an agent's"
    );

    // Jane writes again: the healthy answer is fresh, the failing one was tried this period.
    w.s.ticket("jane@example.com", Some(w.s.channel)).await;
    w.settle().await;
    assert_eq!(healthy.requests().len(), 1);
    assert_eq!(
        failing.requests().len(),
        1,
        "at most once per contact per cache period, even after a failure"
    );

    // With the marks gone, the fresh answer alone still spares the healthy endpoint.
    w.expire_warm_up_marks().await;
    w.s.ticket("jane@example.com", Some(w.s.channel)).await;
    w.settle().await;
    assert_eq!(healthy.requests().len(), 1, "never when the cache is fresh");
    assert_eq!(failing.requests().len(), 2);

    // Past the cache period too, both are warmed again.
    w.expire().await;
    w.s.ticket("jane@example.com", Some(w.s.channel)).await;
    w.settle().await;
    assert_eq!(healthy.requests().len(), 2);
    assert_eq!(failing.requests().len(), 3);
    assert_eq!(disabled.requests().len(), 0);
}

#[tokio::test]
async fn warm_up_failures_disable_a_section_and_mail_the_owner_like_any_failures() {
    let smtp = SmtpSink::start().await;
    let w = warm_setup(&[("SMTP_URL", &smtp.url)]).await;
    let failing = Receiver::start(Behaviour::Respond(500, "down".into())).await;
    let id =
        w.s.section(&failing.url, json!({"load_on_arrival": true}))
            .await["id"]
            .as_i64()
            .unwrap();
    for i in 0..10 {
        w.s.ticket_owned(i).await;
    }
    let section = eventually("the section disabled", WITHIN, || async {
        let row = w.s.section_row(id).await;
        (row["enabled"] == false).then_some(row)
    })
    .await;
    assert_eq!(section["consecutive_failures"], 10);
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].rcpt_to, vec![w.s.ws.owner.email.clone()]);
    assert_eq!(failing.requests().len(), 10);
}

#[tokio::test]
async fn an_arrival_older_than_the_cache_period_is_not_warmed_when_warm_ups_resume() {
    // This instance runs no warm-ups: arrivals wait in the outbox.
    let s = setup_with(&[("SIDEBAR_WARMUP_CONCURRENCY", "0")]).await;
    let endpoint = Receiver::start(Behaviour::Respond(200, DATA.into())).await;
    s.section(&endpoint.url, json!({"load_on_arrival": true}))
        .await;
    s.ticket("old@example.com", Some(s.channel)).await;
    sqlx::query("UPDATE events SET created_at = now() - interval '1 hour'")
        .execute(&s.app.pool)
        .await
        .unwrap();
    s.ticket("new@example.com", Some(s.channel)).await;

    // An instance that warms comes up: the recent arrival is warmed, the old one only marked.
    let _warming = s
        .app
        .spawn_instance(&crate::helpers::loopback_with(&[(
            "SIDEBAR_WARMUP_CONCURRENCY",
            "1",
        )]))
        .await;
    let calls = endpoint.wait_for(1).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&calls[0].body).unwrap()["email"],
        "new@example.com"
    );
    eventually("every arrival looked at", WITHIN, || async {
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE NOT sidebar_warmed AND kind = 'ticket_opened'",
        )
        .fetch_one(&s.app.pool)
        .await
        .unwrap();
        (pending == 0).then_some(())
    })
    .await;
    assert_eq!(
        endpoint.requests().len(),
        1,
        "a ticket that arrived an hour ago is not warmed now"
    );
}
