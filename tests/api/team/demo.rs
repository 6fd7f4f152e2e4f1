//! Demo data stays a demo: never seeded beside another workspace, and its published passwords
//! are called out on a database that is not the embedded one.

use std::io::Read;
use std::process::Stdio;

use reqwest::StatusCode;

use therethere::helpdesk::users::{NewUser, Role};
use therethere::helpdesk::workspaces::create_workspace;

use super::log_in_at;
use crate::helpers::{Binary, TestApp, spawn_database};

/// Runs `serve` on `db` until ready, signs in as the demo owner when they exist, and returns
/// what standard error said and the Team page they saw.
async fn serve_once(db: &TestApp, demo_data: &str) -> (String, Option<String>) {
    let mut binary = Binary::start(
        db,
        &[],
        &[("DEMO_DATA", demo_data), ("RUST_LOG", "warn")],
        Some(Stdio::piped()),
    );
    binary.ready().await;
    let (status, browser) = log_in_at(&binary.base, "owner@acme.test", "demo-owner-pass").await;
    let team = if status == StatusCode::SEE_OTHER {
        Some(browser.get_html("/settings/team").await)
    } else {
        None
    };
    let mut stderr = binary.child.stderr.take().unwrap();
    binary.stop();
    let mut said = String::new();
    stderr.read_to_string(&mut said).unwrap();
    (said, team)
}

#[tokio::test]
async fn demo_data_never_joins_another_workspace_and_published_passwords_are_called_out() {
    let db = spawn_database().await;
    let mut tx = db.pool.begin().await.unwrap();
    let owner = NewUser {
        name: "Boss",
        email: "boss@real.test",
        handle: "boss",
        password: "a real password",
        role: Role::Owner,
    };
    create_workspace(&mut tx, "Real Co", owner).await.unwrap();
    tx.commit().await.unwrap();
    let (said, team) = serve_once(&db, "true").await;
    let workspaces: i64 = sqlx::query_scalar("SELECT count(*) FROM workspaces")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(workspaces, 1, "DEMO_DATA seeds an empty database only");
    assert!(team.is_none() && !said.contains("WARNING"), "{said}");

    let url = db.database_url();
    let seeded = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_therethere"))
            .arg("demo")
            .env("DATABASE_URL", url)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(seeded.status.success());
    let (said, team) = serve_once(&db, "false").await;
    assert!(
        said.contains("demo accounts still have the passwords printed in the README"),
        "{said}"
    );
    let team = team.expect("the demo owner signs in");
    assert!(
        team.contains("class=\"demo-warning\""),
        "the owner's pages say so too"
    );
}
