//! The team journey from an empty database: `workspace create`, the owner's link, invitations
//! mailed through a real SMTP sink and accepted, the agent at work, and the agent deactivated
//! while their page is open, refused on a second instance too.

use std::time::Duration;

use fantoccini::Locator;
use serde_json::{Value, json};

use super::*;
use crate::helpers::{eventually, spawn_app_with};
use crate::receiver::{Behaviour, Receiver};
use crate::smtp::SmtpSink;
use crate::team::token_in;

impl Browser {
    async fn fill(&self, id: &str, text: &str) {
        let field = self.client.find(Locator::Id(id)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    async fn wait_for(&self, css: &str) {
        self.client
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap();
    }

    /// The token shown once on the API tokens page after creating one.
    async fn create_api_token(&self, name: &str) -> String {
        self.goto("/settings/api-tokens").await;
        self.fill("token-name", name).await;
        self.click("form[action='/settings/api-tokens'] button.primary")
            .await;
        self.wait_for("#new-token").await;
        self.attr("#new-token", "value").await
    }
}

#[tokio::test]
async fn a_team_starts_from_an_empty_database_and_a_leaver_is_locked_out_at_once() {
    let smtp = SmtpSink::start().await;
    let mut env = LOOPBACK.to_vec();
    env.push(("SMTP_URL", &smtp.url));
    let app = spawn_app_with(&env).await;
    // Instances share one configuration: the second one sends mail too.
    let second = app.spawn_instance(&[("SMTP_URL", &smtp.url)]).await;

    // The operator creates the workspace; no password on the command line.
    let (url, address) = (app.database_url(), app.address.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_therethere"))
            .args([
                "workspace",
                "create",
                "--name",
                "Globex",
                "--owner-email",
                "hank@globex.test",
                "--owner-name",
                "Hank Scorpio",
            ])
            .env("DATABASE_URL", url)
            .env("APP_URL", address)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success());
    let link = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix(&app.address).map(str::to_string))
        .expect("the link");

    let owner = Browser::start(&app.address, "team-owner").await;
    owner.goto(&link).await;
    owner.screenshots("choose-password").await;
    owner.fill("password", "hank's own password").await;
    owner.click("button[type=submit]").await;
    owner.wait_for(".ticket-list, .empty").await;

    // Invite an admin and an agent.
    owner.goto("/settings/team").await;
    owner.screenshots("team-alone").await;
    for (email, role) in [
        ("admin@globex.test", "admin"),
        ("agent@globex.test", "agent"),
    ] {
        owner.fill("invite-email", email).await;
        owner
            .client
            .find(Locator::Css(&format!("#invite-role option[value={role}]")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        owner
            .click("form[action='/settings/team/invitations'] button")
            .await;
        owner.wait_for(".flash").await;
    }
    owner.screenshots("team-invited").await;
    let mails = smtp.wait_for(2).await;
    let link_for = |to: &str| {
        let mail = mails.iter().find(|m| m.rcpt_to == [to]).unwrap();
        format!("/invitations/accept?token={}", token_in(&mail.text()))
    };

    let admin = Browser::start(&app.address, "team-admin").await;
    admin.goto(&link_for("admin@globex.test")).await;
    admin.screenshots("accept-invitation").await;
    admin.fill("name", "Ada Admin").await;
    admin.fill("password", "ada's own password").await;
    admin.click("button[type=submit]").await;
    admin.wait_for(".ticket-list, .empty").await;

    let agent = Browser::start(&app.address, "team-agent").await;
    agent.goto(&link_for("agent@globex.test")).await;
    agent.fill("name", "Gus Agent").await;
    agent.fill("handle", "gus").await;
    agent.fill("password", "gus's own password").await;
    agent.click("button[type=submit]").await;
    agent.wait_for(".ticket-list, .empty").await;
    let agent_token = agent.create_api_token("my script").await;
    agent.screenshots("api-tokens").await;
    agent.goto("/settings/security").await;
    agent.screenshots("password-and-sessions").await;

    // The admin sets up a channel, a sidebar section and a ticket through the API.
    let admin_token = admin.create_api_token("setup").await;
    let api = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        api.post(app.url(path))
            .bearer_auth(&admin_token)
            .json(&body)
            .send()
    };
    let channel: Value = post("/api/channels", json!({"name": "Support"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let endpoint = Receiver::start(Behaviour::Respond(200, SECTION_DATA.into())).await;
    let section = post(
        "/api/sidebar-sections",
        json!({"title": "Billing Info", "endpoint_url": endpoint.url, "channel_ids": [channel["id"]]}),
    )
    .await
    .unwrap();
    assert_eq!(section.status(), 201);
    let ticket: Value = post(
        "/api/tickets",
        json!({"subject": "Refund please", "body": "Hi", "contact": {"name": "Jane", "email": "jane@example.com"}, "channel_id": channel["id"]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();

    agent.goto(&format!("/tickets/{}", ticket["id"])).await;
    agent.wait_for(".custom-section .section-items").await;
    assert!(agent.text(".custom-section").await.contains("Billing Info"));

    // The agent's token works on both instances (each remembers it) until the owner acts.
    let me = |base: &str| {
        api.get(format!("{base}/api/me"))
            .bearer_auth(&agent_token)
            .send()
    };
    assert_eq!(me(&app.address).await.unwrap().status(), 200);
    assert_eq!(me(&second.address).await.unwrap().status(), 200);

    owner.goto("/settings/team").await;
    owner.screenshots("team").await;
    let agent_id: i64 =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'agent@globex.test'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    owner
        .click(&format!(
            "form[action='/settings/team/{agent_id}/deactivate'] button"
        ))
        .await;
    owner.wait_for(".flash").await;
    assert!(
        owner
            .text(".flash")
            .await
            .contains("Gus Agent was deactivated")
    );
    owner.screenshots("team-deactivated").await;

    assert_eq!(me(&app.address).await.unwrap().status(), 401);
    eventually(
        "the second instance refuses the token",
        Duration::from_secs(5),
        || async { (me(&second.address).await.unwrap().status() == 401).then_some(()) },
    )
    .await;
    // The agent's open page: the next thing they do sends them to log in.
    agent.client.refresh().await.unwrap();
    agent.wait_for("#email").await;
    assert!(
        agent
            .client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/login")
    );

    // The forgotten-password page, as everyone sees it.
    agent.goto("/password/forgot").await;
    agent.screenshots("forgot-password").await;

    for b in [owner, admin, agent] {
        b.close().await;
    }
}
