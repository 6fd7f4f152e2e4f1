//! The webhook journey: a test notification sent, inspected in the log, and resent.

use std::time::Duration;

use fantoccini::Locator;

use super::*;
use crate::helpers::eventually;
use crate::receiver::{Behaviour, Receiver};

#[tokio::test]
async fn an_admin_sends_a_test_webhook_inspects_it_and_resends() {
    let (app, ws, _) = setup().await;
    let receiver = Receiver::start(Behaviour::Respond(200, r#"{"ok":true}"#.into())).await;
    let b = Browser::start(&app.address, "webhooks").await;
    b.log_in(&ws.admin).await;
    b.goto("/settings/workspace-notifications").await;
    b.screenshots("destinations-empty").await;
    b.client
        .find(Locator::Id("url"))
        .await
        .unwrap()
        .send_keys(&receiver.url)
        .await
        .unwrap();
    b.client
        .find(Locator::Id("name"))
        .await
        .unwrap()
        .send_keys("Team feed")
        .await
        .unwrap();
    b.click("input[name=events][value=ticketOpened]").await;
    b.click("form button.primary").await;
    b.client
        .wait()
        .for_element(Locator::Id("signing-secret"))
        .await
        .unwrap();
    b.screenshots("destination").await;
    b.click("form[action$='/test'] button").await;
    receiver.wait_for(1).await;
    // The log shows the attempt once the worker has recorded it.
    eventually(
        "the log shows the response code",
        Duration::from_secs(20),
        || async {
            b.client.refresh().await.unwrap();
            let shown = b
                .client
                .find(Locator::Css("table.deliveries"))
                .await
                .is_ok()
                && b.text("table.deliveries tbody").await.contains("200");
            shown.then_some(())
        },
    )
    .await;
    b.screenshots("deliveries").await;
    b.click("table.deliveries a").await;
    b.client
        .wait()
        .for_element(Locator::Id("payload"))
        .await
        .unwrap();
    assert!(
        b.text("#payload")
            .await
            .contains("This is a test webhook from There There.")
    );
    assert!(
        b.text(".attempt pre.raw")
            .await
            .contains("therethere-signature:")
    );
    b.screenshots("delivery-details").await;
    b.click("form[action$='/resend'] button").await;
    b.client
        .wait()
        .for_element(Locator::Css(".flash"))
        .await
        .unwrap();
    assert!(b.text(".flash").await.contains("Resent: HTTP 200"));
    assert_eq!(receiver.requests().len(), 2);
    b.close().await;
}

#[tokio::test]
async fn an_admin_rotates_with_grace_filters_the_log_and_resends_what_failed() {
    let app = crate::helpers::spawn_app_with(&crate::helpers::loopback_with(&[(
        "WEBHOOK_RETRY_DELAYS",
        "0,0",
    )]))
    .await;
    let ws = app.create_workspace("Acme").await;
    let mut steps = vec![(500, "{}".to_string()); 3];
    steps.push((200, "{}".into()));
    let receiver = Receiver::start(Behaviour::Sequence(steps)).await;
    let destination = app
        .destination(&ws.admin, &receiver.url)
        .set("scope", "workspace")
        .set("events", serde_json::json!(["ticketOpened"]))
        .create()
        .await;
    let id = destination["id"].as_i64().unwrap();
    app.ticket(&ws.owner).set("subject", "Down").create().await;
    receiver.wait_for(3).await;

    let b = Browser::start(&app.address, "webhooks-tools").await;
    b.log_in(&ws.admin).await;
    // Regenerate, keeping the old secret in webhook-signature for a day.
    b.goto(&format!("/settings/webhooks/{id}")).await;
    b.click("details.confirm summary").await;
    b.client
        .find(Locator::Css("select#grace_period_hours option[value='24']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.click("form[action$='/regenerate-secret'] button").await;
    b.client
        .wait()
        .for_element(Locator::Id("previous-secret-notice"))
        .await
        .unwrap();
    assert!(b.text(".flash").await.contains("keeps signing"));
    b.screenshots("secret-grace").await;
    b.assert_accessible("secret-grace").await;

    // The failed delivery, found by the status filter once the worker has recorded it.
    eventually(
        "the delivery has failed",
        Duration::from_secs(20),
        || async {
            b.goto(&format!("/settings/webhooks/{id}/deliveries")).await;
            b.text("table.deliveries")
                .await
                .contains("3 attempts")
                .then_some(())
        },
    )
    .await;
    b.client
        .find(Locator::Css("select#filter-status option[value='failed']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.click("#log-filter button").await;
    b.client
        .wait()
        .for_url(
            &url::Url::parse(&format!(
                "{}/settings/webhooks/{id}/deliveries?status=failed&type=&ulid=",
                app.address
            ))
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        b.client
            .find_all(Locator::Css("tbody.delivery"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        b.client
            .find_all(Locator::Css("tbody.delivery tr.attempt"))
            .await
            .unwrap()
            .len(),
        3,
        "its attempts are under it"
    );
    b.screenshots("deliveries-filtered").await;
    b.assert_accessible("deliveries-filtered").await;

    // Resend everything failed since the default moment (a day ago).
    b.click("details#replay summary").await;
    b.click("details#replay button").await;
    b.client
        .wait()
        .for_element(Locator::Css(".flash"))
        .await
        .unwrap();
    assert!(
        b.text(".flash")
            .await
            .contains("Resending 1 failed delivery"),
        "{}",
        b.text(".flash").await
    );
    receiver.wait_for(4).await;
    b.close().await;
}
