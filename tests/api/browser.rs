//! The pages in real headless Chromium (Debian's `chromium` through `chromium-driver`):
//! the admin and agent journeys, each saving desktop and phone screenshots under
//! `target/screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::helpers::{LOOPBACK, TestApp, TestUser, TestWorkspace, eventually, spawn_app_with};
use crate::receiver::{Behaviour, Receiver};

/// A chromedriver of our own and the headless Chromium session it drives.
struct Browser {
    client: Client,
    driver: Child,
    profile: PathBuf,
    base: String,
    name: &'static str,
}

impl Browser {
    async fn start(base: &str, name: &'static str) -> Browser {
        let chromedriver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("chromedriver is missing: the README's test command installs chromium and chromium-driver");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile =
            std::env::temp_dir().join(format!("therethere-chromium-{}", ulid::Ulid::new()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
                         "--window-size=1440,900", format!("--user-data-dir={}", profile.display())],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session starts");
        // The agent reads German in New York: the page must format numbers and dates that way
        // (and New York, behind UTC, is where a midnight-UTC day would slip to the day before).
        let session = client.session_id().await.unwrap().expect("a session id");
        for (cmd, params) in [
            ("Emulation.setLocaleOverride", json!({"locale": "de-DE"})),
            (
                "Emulation.setTimezoneOverride",
                json!({"timezoneId": "America/New_York"}),
            ),
        ] {
            let response = reqwest::Client::new()
                .post(format!(
                    "http://127.0.0.1:{port}/session/{session}/goog/cdp/execute"
                ))
                .json(&json!({"cmd": cmd, "params": params}))
                .send()
                .await
                .unwrap();
            assert!(
                response.status().is_success(),
                "{cmd}: {}",
                response.text().await.unwrap()
            );
        }
        Browser {
            client,
            driver,
            profile,
            base: base.to_string(),
            name,
        }
    }

    async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    async fn log_in(&self, user: &TestUser) {
        self.goto("/login").await;
        self.client
            .find(Locator::Id("email"))
            .await
            .unwrap()
            .send_keys(&user.email)
            .await
            .unwrap();
        self.client
            .find(Locator::Id("password"))
            .await
            .unwrap()
            .send_keys(&user.password)
            .await
            .unwrap();
        self.client
            .find(Locator::Css("button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        self.client
            .wait()
            .for_element(Locator::Css(".ticket-list, .empty"))
            .await
            .unwrap();
    }

    async fn log_out(&self) {
        self.client
            .find(Locator::Css("form.logout button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        self.client
            .wait()
            .for_element(Locator::Id("email"))
            .await
            .unwrap();
    }

    async fn attr(&self, css: &str, name: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .attr(name)
            .await
            .unwrap()
            .unwrap_or_default()
    }

    async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Saves the current page at desktop and phone width.
    async fn screenshots(&self, page: &str) {
        self.assert_accessible(page).await;
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        for (label, width, height) in [("desktop", 1440, 900), ("phone", 375, 812)] {
            self.client.set_window_size(width, height).await.unwrap();
            let png = self.client.screenshot().await.unwrap();
            std::fs::write(dir.join(format!("{}-{page}-{label}.png", self.name)), png).unwrap();
        }
        self.client.set_window_size(1440, 900).await.unwrap();
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }

    /// The page as it is now has no serious or critical WCAG 2 A/AA violation, by axe-core
    /// (from npm, injected into the page).
    async fn assert_accessible(&self, page: &str) {
        self.client
            .execute(axe_core_source(), vec![])
            .await
            .unwrap();
        let found = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
                     .then(r => done(r.violations
                        .filter(v => v.impact === "serious" || v.impact === "critical")
                        .map(v => `${v.id} (${v.impact}): ${v.help}; at ${v.nodes.map(n => n.target.join(" ")).join(", ")}`)))
                     .catch(e => done([`axe failed: ${e}`]));"#,
                vec![],
            )
            .await
            .unwrap();
        let violations: Vec<String> = serde_json::from_value(found).unwrap();
        assert!(
            violations.is_empty(),
            "{}: {page}: accessibility violations:\n{}",
            self.name,
            violations.join("\n")
        );
    }

    /// No JavaScript dialog is open (alert, confirm, prompt).
    async fn assert_no_dialog(&self) {
        assert!(
            self.client.get_alert_text().await.is_err(),
            "a dialog opened"
        );
    }
}

/// axe-core's script, installed from npm into `target/axe-core` on first use (once for all
/// tests of the run: a lock file keeps parallel tests from installing it together).
fn axe_core_source() -> &'static str {
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/axe-core");
        let script = dir.join("node_modules/axe-core/axe.min.js");
        if !script.exists() {
            std::fs::create_dir_all(&dir).unwrap();
            let status = std::process::Command::new("npm")
                .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
                .arg(&dir)
                .arg("axe-core@4")
                .status()
                .expect("npm runs (Node.js is on the machine)");
            assert!(status.success(), "npm install axe-core failed");
        }
        std::fs::read_to_string(script).expect("axe-core is installed")
    })
}

async fn setup() -> (TestApp, TestWorkspace, i64) {
    let app = spawn_app_with(LOOPBACK).await;
    let ws = app.create_workspace("Acme").await;
    let channel = app
        .api(&ws.admin)
        .post("/api/channels", &json!({"name": "Billing"}))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    (app, ws, channel)
}

const SECTION_DATA: &str = r#"{"data":[
  {"name":"Plan","value":"**Pro** plan, see [invoice](https://billing.example.com/i/1)","type":"markdown"},
  {"name":"MRR","value":1234567.5,"type":"numeric"},
  {"name":"Member since","value":"2025-06-15T00:00:00Z","type":"date"},
  {"name":"Last seen","value":"2025-06-16T02:30:00Z","type":"date"},
  {"name":"Active","value":true,"type":"boolean"},
  {"name":"Dashboard","value":"https://app.example.com/users/123","type":"url"}]}"#;

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
        "Stale \u{2014} couldn\u{2019}t refresh: the endpoint answered HTTP 500. Data from 2 hours ago."
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
async fn every_page_passes_an_automated_wcag_check() {
    let (app, ws, channel) = setup().await;
    let endpoint = Receiver::start(Behaviour::Respond(200, SECTION_DATA.into())).await;
    let section: Value = app
        .api(&ws.admin)
        .post(
            "/api/sidebar-sections",
            &json!({"title": "Billing Info", "endpoint_url": endpoint.url, "channel_ids": [channel]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let destination: Value = app
        .api(&ws.admin)
        .post(
            "/api/webhook-destinations",
            &json!({"scope": "personal", "url": endpoint.url, "events": ["ticketOpened"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let ticket = app
        .create_ticket(&ws.agent, json!({"subject": "Refund please", "body": "Hi", "contact": {"name": "Jane", "email": "jane@example.com"}, "channel_id": channel}))
        .await["id"]
        .as_i64()
        .unwrap();
    let b = Browser::start(&app.address, "wcag").await;
    b.goto("/login").await;
    b.assert_accessible("login").await;
    b.log_in(&ws.admin).await;
    let pages = [
        "/tickets".to_string(),
        format!("/tickets/{ticket}"),
        "/settings/profile".into(),
        "/settings/api-tokens".into(),
        "/settings/channels".into(),
        "/settings/notifications".into(),
        "/settings/workspace-notifications".into(),
        format!("/settings/webhooks/{}", destination["id"]),
        format!("/settings/webhooks/{}/deliveries", destination["id"]),
        "/settings/sidebar-sections".into(),
        "/settings/sidebar-sections/new".into(),
        format!("/settings/sidebar-sections/{}", section["id"]),
        "/no-such-page".into(),
    ];
    for page in pages {
        b.goto(&page).await;
        if page.starts_with("/tickets/") {
            b.client
                .wait()
                .for_element(Locator::Css(".custom-section .section-items"))
                .await
                .unwrap();
        }
        b.assert_accessible(&page).await;
    }
    b.close().await;
}
