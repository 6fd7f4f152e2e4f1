//! What every scenario stands on: the release binary, a fresh database per scenario in the
//! bench's own PostgreSQL, the service started on it, a seeded workspace, and percentiles.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::{Connection, PgConnection, PgPool};
use therethere::db::{self, EmbeddedPostgres};

/// The release binary: built here, or the one `THERETHERE_BINARY` names (to compare two
/// builds in turn on the same machine). It is built in a target directory of its own: the
/// binary alone resolves its dependencies' features differently from the bench (which has
/// the dev-dependencies), so sharing `target/release` rebuilt rustls and all that depends on
/// it on every run, each way.
pub fn build_release() -> PathBuf {
    if let Some(binary) = std::env::var_os("THERETHERE_BINARY").filter(|b| !b.is_empty()) {
        return PathBuf::from(binary);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-service");
    let status = Command::new(cargo)
        .args(["build", "--release", "--bin", "therethere", "--target-dir"])
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the release build failed");
    target.join("release/therethere")
}

/// The last run's databases are kept for inspection until the next run starts.
pub async fn drop_previous_databases(pg: &EmbeddedPostgres) {
    let mut admin = PgConnection::connect_with(&pg.connect_options("postgres"))
        .await
        .unwrap();
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'bench\\_%'")
            .fetch_all(&mut admin)
            .await
            .unwrap();
    for name in names {
        sqlx::query(&format!("DROP DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
    }
}

/// A fresh database for one scenario, and the URL the service reaches it by.
pub async fn fresh_database(pg: &EmbeddedPostgres) -> (String, PgPool) {
    let name = format!(
        "bench_{}",
        ulid::Ulid::new().to_string().to_ascii_lowercase()
    );
    let mut admin = PgConnection::connect_with(&pg.connect_options("postgres"))
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    // Migrated by the service as it starts (so an older build can be measured on its own
    // schema): seed only after `Service::start`.
    let pool = db::connect(pg.connect_options(&name), 10).await.unwrap();
    let socket = pg
        .connect_options(&name)
        .get_socket()
        .map(|p| p.display().to_string())
        .unwrap();
    (
        format!("postgres://postgres@localhost/{name}?host={socket}"),
        pool,
    )
}

/// The bench reads `/metrics` on the service's own port with this token.
pub const METRICS_TOKEN: &str = "bench-metrics-token-0123456789";

pub struct Service {
    child: Child,
    pub base: String,
}

/// The key the service under test seals secrets with (a bench's, never a real one).
const BENCH_SECRETS_KEY: &str = "YmVuY2gta2V5LXRoYXQtaXMtMzItYnl0ZXMtbG9uZyE=";

impl Service {
    pub async fn start(binary: &Path, database_url: &str, extra: &[(&str, &str)]) -> Service {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(binary);
        cmd.arg("serve")
            .env("DATABASE_URL", database_url)
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("METRICS_ADDR", "off")
            .env("METRICS_TOKEN", METRICS_TOKEN)
            .env("DEMO_DATA", "false")
            .env("SECRETS_KEY", BENCH_SECRETS_KEY)
            .env("OUTBOUND_ALLOW_PRIVATE", "true")
            .env("OUTBOUND_ALLOW_HTTP", "true")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while reqwest::get(format!("{base}/readyz"))
            .await
            .map(|r| r.status() != 200)
            .unwrap_or(true)
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the service did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Service { child, base }
    }

    pub fn rss_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    pub fn stop(mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// A scenario that panics leaves no service running (its sessions would keep the next run
/// from dropping the old databases).
impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A workspace with an admin and an API token, made through the library.
pub async fn seed_workspace(pool: &PgPool) -> (i64, String) {
    use therethere::auth::api_tokens::create_api_token;
    use therethere::helpdesk::users::{NewUser, Role};
    let mut tx = pool.begin().await.unwrap();
    let (ws, owner) = therethere::helpdesk::workspaces::create_workspace(
        &mut tx,
        "Bench",
        NewUser {
            name: "Owner",
            email: &format!("owner-{}@bench.test", ulid::Ulid::new()),
            handle: "owner",
            password: "bench-password",
            role: Role::Owner,
        },
    )
    .await
    .unwrap();
    let (_, token) = create_api_token(
        &mut tx,
        &therethere::limits::Limits::default(),
        owner.id,
        therethere::auth::api_tokens::NewApiToken::write("bench"),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    (ws.id, token)
}

/// POSTs JSON to the service with the bench's API token and returns the JSON answer.
pub async fn post_json(client: &reqwest::Client, url: String, token: &str, body: &Value) -> Value {
    client
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The `p` quantile (0..=1) of sorted figures.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}
