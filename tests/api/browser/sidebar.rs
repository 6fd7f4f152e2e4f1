//! Sidebar journeys: an admin sets a section up and an agent sees it rendered, a hostile
//! endpoint stays inert, Refresh with stale data marked, empty answers, and a section loaded
//! when its ticket arrives.

use fantoccini::Locator;
use serde_json::{Value, json};

use super::*;
use crate::receiver::{Behaviour, Receiver};

#[tokio::test]
async fn an_admin_sets_up_a_section_and_an_agent_sees_it_rendered() {
    let (app, ws, channel) = setup().await;
    let endpoint = Receiver::start(Behaviour::Respond(200, SECTION_DATA.into())).await;
    let ticket = app
        .create_ticket(&ws.agent, json!({"subject": "Refund please", "body": "Hi", "contact": {"name": "Jane", "email": "jane@example.com"}, "channel_id": channel}))
        .await["id"]
        .as_i64()
        .unwrap();
    let b = Browser::start(&app.address, "sidebar").await;

    b.log_in(&ws.admin).await;
    b.goto("/settings/sidebar-sections").await;
    b.screenshots("sections-empty").await;
    b.click("a.button.primary").await;
    b.client
        .find(Locator::Id("title"))
        .await
        .unwrap()
        .send_keys("Billing Info")
        .await
        .unwrap();
    b.client
        .find(Locator::Id("endpoint_url"))
        .await
        .unwrap()
        .send_keys(&endpoint.url)
        .await
        .unwrap();
    b.click(&format!("input[name=channel_ids][value='{channel}']"))
        .await;
    b.screenshots("section-new").await;
    // Test as typed first: the report comes back with the form as it was.
    b.click("form.section-form button[formaction$='/test-draft']")
        .await;
    b.client
        .wait()
        .for_element(Locator::Id("raw-response"))
        .await
        .unwrap();
    assert!(b.text("#raw-response").await.starts_with("HTTP 200 OK"));
    b.screenshots("section-test-as-typed").await;
    b.click("form.section-form button.primary").await;
    b.client
        .wait()
        .for_element(Locator::Css("form[action$='/test'] button"))
        .await
        .unwrap();
    b.click("form[action$='/test'] button").await;
    b.client
        .wait()
        .for_element(Locator::Id("raw-response"))
        .await
        .unwrap();
    let raw = b.text("#raw-response").await;
    assert!(raw.starts_with("HTTP 200 OK"), "{raw}");
    assert!(raw.contains("\"Member since\""));
    assert!(b.text(".custom-section-preview").await.contains("Pro"));
    b.screenshots("section-test").await;
    b.log_out().await;

    b.log_in(&ws.agent).await;
    b.goto(&format!("/tickets/{ticket}")).await;
    b.client
        .wait()
        .for_element(Locator::Css(".custom-section .section-items"))
        .await
        .unwrap();
    let section = ".custom-section .section-items";
    assert_eq!(
        b.text(&format!("{section} .kind-numeric dd")).await,
        "1.234.567,5",
        "German separators"
    );
    // The spec's midnight-UTC date is a calendar day: 15 June in every zone.
    let day = format!("{section} .kind-date-only time");
    assert_eq!(b.text(&day).await, "15.06.2025");
    let day_title = b.attr(&day, "title").await;
    assert!(day_title.contains("15. Juni 2025"), "{day_title}");
    // An instant is shown on its date in the agent's zone, the full time as a tooltip.
    let moment = format!("{section} .kind-date time");
    assert_eq!(
        b.text(&moment).await,
        "15.06.2025",
        "02:30 UTC is 22:30 the day before in New York"
    );
    let moment_title = b.attr(&moment, "title").await;
    assert!(moment_title.contains("22:30"), "{moment_title}");
    let check = b
        .client
        .find(Locator::Css(&format!("{section} .bool.yes")))
        .await
        .unwrap();
    assert_eq!(
        check.attr("aria-label").await.unwrap().as_deref(),
        Some("Yes")
    );
    for link in b
        .client
        .find_all(Locator::Css(&format!("{section} a")))
        .await
        .unwrap()
    {
        assert_eq!(
            link.attr("target").await.unwrap().as_deref(),
            Some("_blank")
        );
        assert_eq!(
            link.attr("rel").await.unwrap().as_deref(),
            Some("noopener noreferrer")
        );
    }
    assert_eq!(
        b.text(&format!("{section} .kind-markdown strong")).await,
        "Pro"
    );
    b.screenshots("ticket").await;

    // Collapse it, reload: it stays collapsed.
    b.click(".custom-section summary").await;
    b.client.refresh().await.unwrap();
    b.client
        .wait()
        .for_element(Locator::Css(".custom-section .section-items"))
        .await
        .unwrap();
    let open = b
        .client
        .find(Locator::Css(".custom-section"))
        .await
        .unwrap()
        .prop("open")
        .await
        .unwrap();
    assert_eq!(
        open.as_deref(),
        Some("false"),
        "the collapsed state is remembered"
    );
    b.screenshots("ticket-collapsed").await;
    b.assert_no_dialog().await;
    b.close().await;
}

#[tokio::test]
async fn a_hostile_endpoint_cannot_run_script_in_the_agents_page() {
    let (app, ws, channel) = setup().await;
    let hostile = json!({"data": [
        {"name": "<img src=x onerror=\"window.pwned=1;alert(1)\">", "value": "<script>window.pwned=2;alert(2)</script><img src=x onerror=\"window.pwned=3\">", "type": "markdown"},
        {"name": "Link", "value": "javascript:window.pwned=4", "type": "url"},
        {"name": "Md link", "value": "[click](javascript:window.pwned=5)", "type": "markdown"},
        {"name": "Svg", "value": "<svg onload=\"window.pwned=6\"></svg><iframe src=\"javascript:alert(7)\"></iframe>", "type": "markdown"},
        {"name": "Num", "value": "<b onmouseover=alert(8)>8</b>", "type": "numeric"},
    ]});
    let endpoint = Receiver::start(Behaviour::Respond(200, hostile.to_string())).await;
    app.api(&ws.admin)
        .post(
            "/api/sidebar-sections",
            &json!({"title": "Hostile", "endpoint_url": endpoint.url, "channel_ids": [channel]}),
        )
        .await;
    let ticket = app
        .create_ticket(&ws.agent, json!({"subject": "Hi", "body": "Hi", "contact": {"name": "<script>alert(9)</script>", "email": "jane@example.com"}, "channel_id": channel}))
        .await["id"]
        .as_i64()
        .unwrap();
    let b = Browser::start(&app.address, "hostile").await;
    b.log_in(&ws.agent).await;
    b.goto(&format!("/tickets/{ticket}")).await;
    b.client
        .wait()
        .for_element(Locator::Css(".custom-section .section-items"))
        .await
        .unwrap();
    // Give any injected handler its chance: load events fire right after insertion.
    b.client
        .execute("return new Promise(r => setTimeout(r, 300));", vec![])
        .await
        .unwrap();
    b.assert_no_dialog().await;
    let pwned = b
        .client
        .execute(
            "return window.pwned === undefined ? null : window.pwned;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(pwned, Value::Null, "injected script ran");
    for injected in [
        "#custom-sections script",
        "#custom-sections img",
        "#custom-sections svg",
        "#custom-sections iframe",
        "#custom-sections [onerror]",
    ] {
        assert!(
            b.client
                .find_all(Locator::Css(injected))
                .await
                .unwrap()
                .is_empty(),
            "{injected} was injected"
        );
    }
    for link in b
        .client
        .find_all(Locator::Css("#custom-sections a"))
        .await
        .unwrap()
    {
        // A link whose target was refused keeps its text but no href: nothing to follow.
        if let Some(href) = link.attr("href").await.unwrap() {
            assert!(
                href.starts_with("http://") || href.starts_with("https://"),
                "{href}"
            );
        }
    }
    b.screenshots("ticket").await;
    b.close().await;
}

#[tokio::test]
async fn an_agent_refreshes_a_section_and_sees_stale_data_marked() {
    let (app, ws, channel) = setup().await;
    let endpoint = Receiver::start(Behaviour::Sequence(vec![
        (200, SECTION_DATA.into()),
        (500, "down".into()),
    ]))
    .await;
    app.section(&ws.admin, &endpoint.url)
        .set("channel_ids", json!([channel]))
        .create()
        .await;
    let ticket = app
        .ticket(&ws.agent)
        .set("channel_id", channel)
        .create_id()
        .await;
    let b = Browser::start(&app.address, "refresh").await;
    b.log_in(&ws.agent).await;
    b.goto(&format!("/tickets/{ticket}")).await;
    b.client
        .wait()
        .for_element(Locator::Css(".custom-section .section-items"))
        .await
        .unwrap();
    sqlx::query("UPDATE sidebar_cache SET fetched_at = now() - interval '2 hours'")
        .execute(&app.pool)
        .await
        .unwrap();

    b.click(".custom-section-frame .section-refresh").await;
    b.client
        .wait()
        .for_element(Locator::Css(".custom-section .section-stale"))
        .await
        .unwrap();
    assert_eq!(
        endpoint.requests().len(),
        2,
        "the refresh called the endpoint"
    );
    let banner = b.text(".custom-section .section-stale").await;
    assert_eq!(
        banner,
        "Stale \u{2014} couldn\u{2019}t refresh: The endpoint answered with an error. Data from 2 hours ago."
    );
    assert!(
        b.text(".custom-section .section-items")
            .await
            .contains("Pro"),
        "the last good data stays visible"
    );
    let open = b
        .client
        .find(Locator::Css(".custom-section"))
        .await
        .unwrap()
        .prop("open")
        .await
        .unwrap();
    assert_eq!(
        open.as_deref(),
        Some("true"),
        "refreshing does not collapse the section"
    );
    b.screenshots("ticket-stale").await;

    b.click(".custom-section-frame .section-refresh").await;
    b.client
        .wait()
        .for_element(Locator::Css(".custom-section .section-note"))
        .await
        .unwrap();
    assert!(
        b.text(".custom-section .section-note")
            .await
            .starts_with("Refreshed moments ago; try again in")
    );
    assert_eq!(
        endpoint.requests().len(),
        2,
        "the second refresh within 10 s made no call"
    );
    b.close().await;
}

#[tokio::test]
async fn an_empty_section_shows_collapsed_without_overriding_the_agents_choice() {
    let (app, ws, channel) = setup().await;
    let endpoint = Receiver::start(Behaviour::Respond(200, r#"{"data":[]}"#.into())).await;
    app.section(&ws.admin, &endpoint.url)
        .set("channel_ids", json!([channel]))
        .create()
        .await;
    let ticket = app
        .ticket(&ws.agent)
        .set("channel_id", channel)
        .create_id()
        .await;
    let b = Browser::start(&app.address, "sidebar-empty").await;
    b.log_in(&ws.agent).await;
    b.goto(&format!("/tickets/{ticket}")).await;
    b.client
        .wait()
        .for_element(Locator::Css("details.custom-section[data-status='empty']"))
        .await
        .unwrap();
    let state = |script: &'static str| {
        let client = b.client.clone();
        async move { client.execute(script, vec![]).await.unwrap() }
    };
    assert_eq!(
        state("return document.querySelector('details.custom-section').open").await,
        json!(false)
    );
    // Collapsed, so read the text the agent sees on opening it.
    let shown =
        state("return document.querySelector('.custom-section .section-body').textContent").await;
    assert!(
        shown.as_str().unwrap().contains("Nothing to show"),
        "{shown}"
    );
    // Collapsing it for the agent is not remembered as the agent's own choice.
    let remembered = "return Object.keys(localStorage).filter(k => k.startsWith('therethere.section.') && localStorage.getItem(k) === 'true').length";
    assert_eq!(state(remembered).await, json!(0));
    b.screenshots("ticket-empty-section").await;
    b.close().await;
}

#[tokio::test]
async fn an_admin_turns_on_loading_on_arrival_and_the_agent_opens_a_warm_section() {
    let (app, ws, channel) = setup().await;
    let endpoint = Receiver::start(Behaviour::Respond(200, SECTION_DATA.into())).await;
    let section = app
        .section(&ws.admin, &endpoint.url)
        .set("channel_ids", json!([channel]))
        .create_id()
        .await;
    let b = Browser::start(&app.address, "sidebar-warm").await;
    b.log_in(&ws.admin).await;
    b.goto(&format!("/settings/sidebar-sections/{section}"))
        .await;
    let checkbox = "form.section-form input[name=load_on_arrival]";
    assert_eq!(
        b.client
            .find(Locator::Css(checkbox))
            .await
            .unwrap()
            .prop("checked")
            .await
            .unwrap()
            .as_deref(),
        Some("false"),
        "off by default"
    );
    b.click(checkbox).await;
    b.screenshots("section-load-on-arrival").await;
    b.click("form.section-form button.primary").await;
    b.client
        .wait()
        .for_element(Locator::Css(&format!("{checkbox}:checked")))
        .await
        .unwrap();
    b.log_out().await;

    // A ticket arrives: the section is called before anyone opens it.
    let ticket = app
        .ticket(&ws.agent)
        .set("channel_id", channel)
        .create_id()
        .await;
    endpoint.wait_for(1).await;
    crate::helpers::eventually(
        "the answer cached",
        std::time::Duration::from_secs(15),
        || async {
            let cached: i64 = sqlx::query_scalar("SELECT count(*) FROM sidebar_cache")
                .fetch_one(&app.pool)
                .await
                .unwrap();
            (cached == 1).then_some(())
        },
    )
    .await;

    b.log_in(&ws.agent).await;
    b.goto(&format!("/tickets/{ticket}")).await;
    b.client
        .wait()
        .for_element(Locator::Css(".custom-section .section-items"))
        .await
        .unwrap();
    assert_eq!(
        b.text(".custom-section .section-items .kind-markdown strong")
            .await,
        "Pro"
    );
    assert_eq!(
        endpoint.requests().len(),
        1,
        "the agent's first open was served from the warm cache"
    );
    b.screenshots("ticket-warm").await;
    b.close().await;
}
