//! Receivers first: every documented way to verify a delivery works on a real delivery.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::{Value, json};

use crate::helpers::{LOOPBACK, spawn_app_with};
use crate::receiver::{Behaviour, Captured, Receiver};

#[path = "../../docs/snippets/verify.rs"]
mod rust_snippet;

fn manifest(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn header_map(c: &Captured) -> HashMap<String, String> {
    c.headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
        .collect()
}

/// Runs a script with `{secret, headers, body}` (body in base64) on standard input.
fn run_script(
    program: &str,
    args: &[&str],
    secret: &str,
    headers: &HashMap<String, String>,
    body: &[u8],
) -> String {
    let input = json!({"secret": secret, "headers": headers, "body": base64::engine::general_purpose::STANDARD.encode(body)});
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `standardwebhooks` from PyPI, installed once under target/.
fn standardwebhooks_path() -> PathBuf {
    let dir = manifest("target/python-deps");
    if !dir.join("standardwebhooks").exists() {
        let status = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
            ])
            .arg(&dir)
            .arg("standardwebhooks==1.1.0")
            .status()
            .expect("pip runs");
        assert!(
            status.success(),
            "installing standardwebhooks from PyPI failed"
        );
    }
    dir
}

#[tokio::test]
async fn every_documented_verification_accepts_a_real_delivery_and_refuses_tampering() {
    let app = spawn_app_with(LOOPBACK).await;
    let ws = app.create_workspace("Acme").await;
    let receiver = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let destination = app
        .destination(&ws.agent, &receiver.url)
        .set("scope", "personal")
        .set("events", json!(["ticketOpened"]))
        .create()
        .await;
    let secret = destination["secret"].as_str().unwrap().to_string();
    app.create_ticket(&ws.owner, json!({"subject": "Café ☃ <b>", "body": "Hi", "contact": {"name": "Zoë", "email": "z@example.com"}})).await;
    let delivery = receiver.wait_for(1).await.remove(0);
    let headers = header_map(&delivery);
    let body = delivery.body.to_vec();
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    let ulid = serde_json::from_slice::<Value>(&body).unwrap()["ulid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        headers["webhook-id"], ulid,
        "webhook-id is the payload's ulid"
    );
    let now = chrono::Utc::now().timestamp();
    let sent: i64 = headers["webhook-timestamp"].parse().unwrap();
    assert!((now - sent).abs() < 10);

    // The guide shows exactly the snippet files this test runs.
    let guide = std::fs::read_to_string(manifest("docs/receiving-webhooks.md")).unwrap();
    for snippet in [
        "docs/snippets/verify.js",
        "docs/snippets/verify.py",
        "docs/snippets/verify.rs",
    ] {
        let code = std::fs::read_to_string(manifest(snippet)).unwrap();
        assert!(
            guide.contains(code.trim_end()),
            "{snippet} is in the guide verbatim"
        );
    }

    // Node.js snippet.
    let js = std::fs::read_to_string(manifest("docs/snippets/verify.js")).unwrap();
    let harness = format!(
        "{js}\nconst input = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));\nconst raw = Buffer.from(input.body, 'base64');\nconsole.log(verifyThereThereSignature(raw, input.headers, input.secret), verifyStandardWebhook(raw, input.headers, input.secret));"
    );
    assert_eq!(
        run_script("node", &["-e", &harness], &secret, &headers, &body),
        "true true"
    );
    assert_eq!(
        run_script("node", &["-e", &harness], &secret, &headers, &tampered),
        "false false"
    );

    // Python snippet.
    let py = std::fs::read_to_string(manifest("docs/snippets/verify.py")).unwrap();
    let harness = format!(
        "{py}\nimport json, sys\ninput = json.load(sys.stdin)\nraw = base64.b64decode(input['body'])\nprint(verify_therethere_signature(raw, input['headers'], input['secret']), verify_standard_webhook(raw, input['headers'], input['secret']))"
    );
    assert_eq!(
        run_script("python3", &["-c", &harness], &secret, &headers, &body),
        "True True"
    );
    assert_eq!(
        run_script("python3", &["-c", &harness], &secret, &headers, &tampered),
        "False False"
    );

    // Rust snippet.
    assert!(rust_snippet::verify_therethere_signature(
        &body,
        &headers["therethere-signature"],
        &secret
    ));
    assert!(!rust_snippet::verify_therethere_signature(
        &tampered,
        &headers["therethere-signature"],
        &secret
    ));
    let standard = |b: &[u8], now: i64| {
        rust_snippet::verify_standard_webhook(
            b,
            &headers["webhook-id"],
            &headers["webhook-timestamp"],
            &headers["webhook-signature"],
            &secret,
            now,
        )
    };
    assert!(standard(&body, now));
    assert!(!standard(&tampered, now));
    assert!(
        !standard(&body, sent + 301),
        "a replay after the tolerance is refused"
    );

    // The Standard Webhooks reference library from PyPI.
    let library = "import json, sys, base64\nfrom standardwebhooks import Webhook\ninput = json.load(sys.stdin)\ntry:\n    Webhook(input['secret']).verify(base64.b64decode(input['body']), input['headers'])\n    print('verified')\nexcept Exception as e:\n    print('refused', type(e).__name__)";
    let pythonpath = standardwebhooks_path();
    let run_library = |b: &[u8]| {
        let input = json!({"secret": secret, "headers": headers, "body": base64::engine::general_purpose::STANDARD.encode(b)});
        let mut child = Command::new("python3")
            .args(["-c", library])
            .env("PYTHONPATH", &pythonpath)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.to_string().as_bytes())
            .unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(run_library(&body), "verified");
    assert!(run_library(&tampered).starts_with("refused"));

    // `therethere verify` with the headers as copied from the Details page.
    let dir = std::env::temp_dir().join(format!("therethere-verify-{}", ulid));
    std::fs::create_dir_all(&dir).unwrap();
    let header_lines: String = headers.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
    std::fs::write(dir.join("headers.txt"), header_lines).unwrap();
    std::fs::write(dir.join("body.json"), &body).unwrap();
    std::fs::write(dir.join("tampered.json"), &tampered).unwrap();
    let verify = |secret: &str, body_file: &str| {
        Command::new(env!("CARGO_BIN_EXE_therethere"))
            .args(["verify", "--secret", secret, "--headers"])
            .arg(dir.join("headers.txt"))
            .arg("--body")
            .arg(dir.join(body_file))
            .output()
            .unwrap()
    };
    let ok = verify(&secret, "body.json");
    assert!(ok.status.success());
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim(),
        "valid: webhook-signature and ThereThere-Signature match the body"
    );
    let bad = verify(&secret, "tampered.json");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).starts_with("invalid: "));
    let wrong = verify(
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "body.json",
    );
    assert_eq!(wrong.status.code(), Some(1));
    let hex = Command::new(env!("CARGO_BIN_EXE_therethere"))
        .args([
            "verify",
            "--secret",
            &secret,
            "--signature",
            &headers["therethere-signature"],
            "--body",
        ])
        .arg(dir.join("body.json"))
        .output()
        .unwrap();
    assert!(
        hex.status.success(),
        "{}",
        String::from_utf8_lossy(&hex.stdout)
    );
    std::fs::remove_dir_all(&dir).ok();
}
