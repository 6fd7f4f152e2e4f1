//! `therethere workspace create` on a database nobody can sign in to yet.

use std::process::Command;

use reqwest::StatusCode;

use super::{choose_password, log_in, post_public, token_in};
use crate::helpers::{Browser, spawn_app};

fn workspace_create(database_url: &str, app_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_therethere"))
        .args(["workspace", "create"])
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("APP_URL", app_url)
        .env_remove("SMTP_URL")
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

#[tokio::test]
async fn workspace_create_prints_a_single_use_link_where_the_owner_chooses_a_password() {
    let app = spawn_app().await;
    let (url, address) = (app.database_url(), app.address.clone());
    let out = tokio::task::spawn_blocking(move || {
        workspace_create(
            &url,
            &address,
            &[
                "--name",
                "Globex",
                "--owner-email",
                "hank@globex.test",
                "--owner-name",
                "Hank Scorpio",
            ],
        )
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Created workspace \"Globex\""), "{stdout}");
    assert!(
        stdout.contains(&format!("{}/password/choose?token=", app.address)),
        "{stdout}"
    );
    let token = token_in(&stdout);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(&token),
        "the link's secret is printed for the operator, never logged"
    );

    // Nobody can sign in before the link is used: the owner has no password.
    assert_eq!(
        log_in(&app, "hank@globex.test", "").await.0,
        StatusCode::UNAUTHORIZED
    );
    let owner = choose_password(&app, &token, "a new owner's password").await;
    let html = owner.get_html("/settings/profile").await;
    assert!(
        html.contains("Hank Scorpio") && html.contains("owner"),
        "signed in as the owner"
    );
    assert_eq!(
        log_in(&app, "hank@globex.test", "a new owner's password")
            .await
            .0,
        StatusCode::SEE_OTHER
    );

    // Single use: the link is spent.
    let again = Browser::new(&app.address);
    assert_eq!(
        again
            .get(&format!("/password/choose?token={token}"))
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let reuse = post_public(
        &again,
        &app,
        "/password/choose",
        &[("token", &token), ("password", "someone else's")],
    )
    .await;
    assert_eq!(reuse.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reuse.text().await.unwrap().contains("no longer valid"));

    // An email already in use is refused; another workspace can be made by running it again.
    let (url, address) = (app.database_url(), app.address.clone());
    let (taken, second) = tokio::task::spawn_blocking(move || {
        (
            workspace_create(
                &url,
                &address,
                &["--name", "Other", "--owner-email", "HANK@globex.test"],
            ),
            workspace_create(
                &url,
                &address,
                &["--name", "Initech", "--owner-email", "bill@initech.test"],
            ),
        )
    })
    .await
    .unwrap();
    assert!(!taken.status.success());
    assert!(
        String::from_utf8_lossy(&taken.stderr)
            .contains("email: An account with this email already exists"),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    assert!(second.status.success());
    let workspaces: i64 = sqlx::query_scalar("SELECT count(*) FROM workspaces")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(workspaces, 2, "the refused run left nothing behind");
}

#[tokio::test]
async fn a_setup_link_expires() {
    let app = spawn_app().await;
    let (url, address) = (app.database_url(), app.address.clone());
    let out = tokio::task::spawn_blocking(move || {
        workspace_create(
            &url,
            &address,
            &["--name", "Globex", "--owner-email", "late@globex.test"],
        )
    })
    .await
    .unwrap();
    let token = token_in(&String::from_utf8_lossy(&out.stdout));
    let expires_in_hours: f64 = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM expires_at - created_at)::float8 / 3600 FROM password_links",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!((expires_in_hours - 24.0).abs() < 0.01, "{expires_in_hours}");
    sqlx::query("UPDATE password_links SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let browser = Browser::new(&app.address);
    let response = post_public(
        &browser,
        &app,
        "/password/choose",
        &[("token", &token), ("password", "too late now")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        log_in(&app, "late@globex.test", "too late now").await.0,
        StatusCode::UNAUTHORIZED
    );
}
