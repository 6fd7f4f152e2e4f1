//! The real binary: `demo --json`, `migrate`, config errors, graceful shutdown.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{eventually, free_port, spawn_app};

fn therethere() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_therethere"));
    // Start from a clean slate: only what each test sets.
    for var in [
        "DATABASE_URL",
        "BIND_ADDR",
        "APP_URL",
        "SMTP_URL",
        "DEMO_DATA",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", "warn")
        .env("SECRETS_KEY", crate::helpers::TEST_SECRETS_KEY);
    cmd
}

#[tokio::test]
async fn demo_json_prints_users_with_working_tokens_and_is_idempotent() {
    let app = spawn_app().await;
    let (url, address) = (app.database_url(), app.address.clone());
    let run = move || {
        let out = therethere()
            .args(["demo", "--json"])
            .env("DATABASE_URL", &url)
            .env("APP_URL", &address)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).expect("one JSON object on stdout")
    };
    let first = tokio::task::spawn_blocking(run.clone()).await.unwrap();
    assert_eq!(first["base_url"], app.address);
    let users = first["users"].as_array().unwrap();
    let mut roles: Vec<&str> = users.iter().map(|u| u["role"].as_str().unwrap()).collect();
    roles.sort();
    assert_eq!(roles, ["admin", "agent", "owner"]);
    assert_eq!(first["channels"].as_array().unwrap().len(), 2);
    for user in users {
        let me: Value = reqwest::Client::new()
            .get(app.url("/api/me"))
            .bearer_auth(user["api_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["user"]["email"], user["email"]);
        assert_eq!(me["workspace"]["name"], "Acme");
    }
    let login = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/login"))
        .form(&[
            ("email", users[0]["email"].as_str().unwrap()),
            ("password", users[0]["password"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303, "the printed password logs in");

    let second = tokio::task::spawn_blocking(run).await.unwrap();
    assert_eq!(second["workspace_id"], first["workspace_id"]);
    let workspaces: i64 = sqlx::query_scalar("SELECT count(*) FROM workspaces")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(workspaces, 1);
    let tickets: i64 = sqlx::query_scalar("SELECT count(*) FROM tickets")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(tickets, 3);
}

#[tokio::test]
async fn bad_configuration_fails_fast_naming_the_variable() {
    let out = tokio::task::spawn_blocking(|| {
        therethere()
            .env("BIND_ADDR", "not-an-address")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("BIND_ADDR"), "{stderr}");
}

#[tokio::test]
async fn serve_seeds_demo_data_when_asked_and_stops_cleanly_on_sigterm() {
    let app = spawn_app().await;
    sqlx::query("DELETE FROM workspaces")
        .execute(&app.pool)
        .await
        .unwrap();
    let port = free_port();
    let mut child = therethere()
        .arg("serve")
        .env("DATABASE_URL", app.database_url())
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("METRICS_ADDR", "off")
        .env("DEMO_DATA", "true")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    eventually("the service becomes ready", Duration::from_secs(30), || {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the service exited early"
        );
        let readyz = format!("{base}/readyz");
        async move {
            let ready = reqwest::get(readyz).await;
            ready.is_ok_and(|r| r.status() == 200).then_some(())
        }
    })
    .await;
    let workspaces: i64 = sqlx::query_scalar("SELECT count(*) FROM workspaces")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        workspaces, 1,
        "demo data was seeded into the empty database"
    );

    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = eventually(
        "the service stops on SIGTERM",
        Duration::from_secs(20),
        || {
            let exited = child.try_wait().unwrap();
            async move { exited }
        },
    )
    .await;
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test]
async fn migrate_applies_migrations_and_exits() {
    let app = spawn_app().await;
    let url = app.database_url();
    let out = tokio::task::spawn_blocking(move || {
        therethere()
            .arg("migrate")
            .env("DATABASE_URL", url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
