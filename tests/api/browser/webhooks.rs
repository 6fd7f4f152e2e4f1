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
