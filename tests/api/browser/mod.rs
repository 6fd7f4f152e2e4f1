//! The pages in real headless Chromium (Debian's `chromium` through `chromium-driver`):
//! the admin and agent journeys, each saving desktop and phone screenshots under
//! `target/screenshots/` and checked with axe-core. The driver and its helpers are here; the
//! journeys are in `sidebar`, `webhooks` and `accessibility`.

mod accessibility;
mod sidebar;
mod team;
mod webhooks;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::{LOOPBACK, TestApp, TestUser, TestWorkspace, free_port, spawn_app_with};

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
        let port = free_port();
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
    let channel = app.create_channel(&ws.admin, "Billing").await;
    (app, ws, channel)
}

const SECTION_DATA: &str = r#"{"data":[
  {"name":"Plan","value":"**Pro** plan, see [invoice](https://billing.example.com/i/1)","type":"markdown"},
  {"name":"MRR","value":1234567.5,"type":"numeric"},
  {"name":"Member since","value":"2025-06-15T00:00:00Z","type":"date"},
  {"name":"Last seen","value":"2025-06-16T02:30:00Z","type":"date"},
  {"name":"Active","value":true,"type":"boolean"},
  {"name":"Dashboard","value":"https://app.example.com/users/123","type":"url"}]}"#;
