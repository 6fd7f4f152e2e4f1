//! The real `therethere` binary run against a test's database, as production runs it: for
//! crash, role and logging tests.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::{TestApp, eventually, free_port};
use crate::receiver::Receiver;

/// A running `therethere serve` and the address it answers on.
pub struct Binary {
    pub child: Child,
    pub base: String,
}

impl Binary {
    /// Starts `therethere serve` with `args` on `db`'s database, outbound calls allowed to
    /// loopback, no metrics listener and no demo data, then `env` over that; standard error
    /// goes to `stderr` when given. Does not wait for it to be ready.
    pub fn start(
        db: &TestApp,
        args: &[&str],
        env: &[(&str, &str)],
        stderr: Option<Stdio>,
    ) -> Binary {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_therethere"));
        command
            .arg("serve")
            .args(args)
            .env("DATABASE_URL", db.database_url())
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("METRICS_ADDR", "off")
            .env("DEMO_DATA", "false")
            .env("SECRETS_KEY", super::app::TEST_SECRETS_KEY)
            .env("OUTBOUND_ALLOW_PRIVATE", "true")
            .env("OUTBOUND_ALLOW_HTTP", "true")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr.unwrap_or_else(Stdio::inherit));
        Binary {
            child: command.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Waits until `/readyz` answers 200, and returns its JSON.
    pub async fn ready(&mut self) -> Value {
        let url = format!("{}/readyz", self.base);
        eventually("the binary is ready", Duration::from_secs(30), || {
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "the binary exited early"
            );
            let url = url.clone();
            async move {
                let response = reqwest::get(url).await.ok()?;
                (response.status() == 200).then_some(())?;
                response.json::<Value>().await.ok()
            }
        })
        .await
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        assert!(
            self.child.wait().unwrap().success(),
            "a clean exit on SIGTERM"
        );
    }
}

/// A test that fails part-way must not leave its binaries running.
impl Drop for Binary {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Deliveries a receiver got: distinct `ulid`s, and requests in all (the difference is the
/// duplicates).
pub fn unique_ulids(receiver: &Receiver) -> (usize, usize) {
    let requests = receiver.requests();
    let unique: HashSet<String> = requests
        .iter()
        .map(|c| {
            serde_json::from_slice::<Value>(&c.body).unwrap()["ulid"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    (unique.len(), requests.len())
}

/// Deliveries leased right now: claimed by a worker and not yet recorded. After a worker is
/// killed, only these may be delivered twice.
pub async fn leased_now(pool: &sqlx::PgPool) -> usize {
    let leased: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_queue WHERE locked_until > now()")
            .fetch_one(pool)
            .await
            .unwrap();
    leased as usize
}

/// Waits until `expected` deliveries are recorded as succeeded (what a killed worker had
/// under way is attempted again once its lease expires).
pub async fn until_all_succeeded(pool: &sqlx::PgPool, expected: usize) {
    eventually(
        "every delivery succeeds",
        Duration::from_secs(90),
        || async {
            let succeeded: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            (succeeded as usize == expected).then_some(())
        },
    )
    .await
}

/// A workspace "Acme" on `db`'s bare database whose owner (`email`, `password`) holds an API
/// token: what a test of the real binary starts from.
pub async fn owner_with_token(
    db: &TestApp,
    email: &str,
    password: &str,
) -> (
    therethere::helpdesk::workspaces::Workspace,
    therethere::helpdesk::users::User,
    String,
) {
    use therethere::helpdesk::users::{NewUser, Role};
    let mut tx = db.pool.begin().await.unwrap();
    let owner = NewUser {
        name: "Owner",
        email,
        handle: "owner",
        password,
        role: Role::Owner,
    };
    let (workspace, owner) =
        therethere::helpdesk::workspaces::create_workspace(&mut tx, "Acme", owner)
            .await
            .unwrap();
    let limits = therethere::limits::Limits::default();
    let (_, token) = therethere::auth::api_tokens::create_api_token(
        &mut tx,
        &limits,
        owner.id,
        therethere::auth::api_tokens::NewApiToken::write("test"),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    (workspace, owner, token)
}
