//! The real app under test: spawned on 127.0.0.1:0 over a fresh database of its own, with
//! the workspaces and users tests act as. A second instance can share its database.

use std::collections::HashMap;

use sqlx::{Connection, PgConnection, PgPool};
use therethere::auth::api_tokens::{NewApiToken, create_api_token};
use therethere::config::Config;
use therethere::helpdesk::users::{NewUser, Role, create_user};
use therethere::helpdesk::workspaces::create_workspace;
use therethere::limits::Limits;
use therethere::web::state::AppState;
use tokio::sync::oneshot;

use super::database::{create_database, server};

pub struct TestApp {
    pub address: String,
    pub pool: PgPool,
    pub database: String,
    shutdown: Option<oneshot::Sender<()>>,
}

/// A database of its own with no app serving it (for running the real binary against).
pub async fn spawn_database() -> TestApp {
    let (database, pool) = create_database().await;
    TestApp {
        address: String::new(),
        pool,
        database,
        shutdown: None,
    }
}

/// Extra environment for the app under test, e.g. `[("OUTBOUND_ALLOW_HTTP", "true")]`.
pub async fn spawn_app_with(env: &[(&str, &str)]) -> TestApp {
    let (database, pool) = create_database().await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let config = test_config(env, Some(&address));

    let (shutdown, shutdown_rx) = oneshot::channel();
    let state = AppState::new(pool.clone(), config);
    tokio::spawn(async move {
        therethere::server::serve(listener, state, async {
            shutdown_rx.await.ok();
        })
        .await
        .unwrap();
    });
    TestApp {
        address,
        pool,
        database,
        shutdown: Some(shutdown),
    }
}

/// The config of an app under test: `env` over the defaults, `APP_URL` the app's own address
/// when given, and refused logins answered at once unless a test asks for the real pause.
fn test_config(env: &[(&str, &str)], app_url: Option<&str>) -> Config {
    let mut vars: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(url) = app_url {
        vars.entry("APP_URL".into()).or_insert_with(|| url.into());
    }
    vars.entry("SECRETS_KEY".into())
        .or_insert_with(|| TEST_SECRETS_KEY.into());
    vars.entry("LOGIN_REFUSAL_PAUSE_SECONDS".into())
        .or_insert_with(|| "0".into());
    // Many apps run in one test process: none binds the default metrics port unless asked.
    vars.entry("METRICS_ADDR".into())
        .or_insert_with(|| "off".into());
    let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test config is valid");
    // The process's key ring: every app of the test process shares the test key.
    therethere::secrets::install(config.secrets.load().expect("the test key loads"));
    config
}

/// The key the apps under test (and the binaries they start) seal signing secrets with.
pub const TEST_SECRETS_KEY: &str = "dGhlcmV0aGVyZS10ZXN0LWtleS0zMi1ieXRlcy1vayE=";

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let admin = server().admin.clone();
        let database = self.database.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut conn) = PgConnection::connect_with(&admin).await {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                            .execute(&mut conn)
                            .await;
                }
            });
        })
        .join()
        .ok();
    }
}

#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: i64,
    pub email: String,
    pub handle: String,
    pub password: String,
    pub token: String,
}

#[derive(Debug, Clone)]
pub struct TestWorkspace {
    pub id: i64,
    pub owner: TestUser,
    pub admin: TestUser,
    pub agent: TestUser,
}

impl TestApp {
    /// A workspace with an owner, an admin and an agent, each with an API token.
    pub async fn create_workspace(&self, name: &str) -> TestWorkspace {
        let slug = name.to_ascii_lowercase().replace(' ', "-");
        let mut tx = self.pool.begin().await.unwrap();
        let owner_email = format!("owner@{slug}.test");
        let (ws, owner) = create_workspace(
            &mut tx,
            name,
            NewUser {
                name: &format!("{name} Owner"),
                email: &owner_email,
                handle: &format!("{slug}-owner"),
                password: "owner-password",
                role: Role::Owner,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let owner = self
            .finish_user(owner.id, &owner_email, &owner.handle, "owner-password")
            .await;
        let admin = self
            .add_user(
                ws.id,
                &format!("{name} Admin"),
                &format!("admin@{slug}.test"),
                &format!("{slug}-admin"),
                Role::Admin,
            )
            .await;
        let agent = self
            .add_user(
                ws.id,
                &format!("{name} Agent"),
                &format!("agent@{slug}.test"),
                &format!("{slug}-agent"),
                Role::Agent,
            )
            .await;
        TestWorkspace {
            id: ws.id,
            owner,
            admin,
            agent,
        }
    }

    pub async fn add_user(
        &self,
        workspace_id: i64,
        name: &str,
        email: &str,
        handle: &str,
        role: Role,
    ) -> TestUser {
        let mut conn = self.pool.acquire().await.unwrap();
        let password = format!("{handle}-password");
        let user = create_user(
            &mut conn,
            workspace_id,
            NewUser {
                name,
                email,
                handle,
                password: &password,
                role,
            },
        )
        .await
        .unwrap();
        self.finish_user(user.id, email, handle, &password).await
    }

    async fn finish_user(&self, id: i64, email: &str, handle: &str, password: &str) -> TestUser {
        let mut conn = self.pool.acquire().await.unwrap();
        let (_, token) = create_api_token(
            &mut conn,
            &Limits::default(),
            id,
            NewApiToken::write("tests"),
        )
        .await
        .unwrap();
        TestUser {
            id,
            email: email.into(),
            handle: handle.into(),
            password: password.into(),
            token,
        }
    }

    /// The bell domain functions ring after their commits, on this app's database.
    pub fn doorbell(&self) -> therethere::db::doorbell::Doorbell {
        therethere::db::doorbell::Doorbell::spawn(
            self.pool.clone(),
            therethere::helpdesk::events::NOTIFY_CHANNEL,
        )
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The `kind`s of the ticket's events, read straight from the outbox table.
    pub async fn event_kinds(&self, ticket_id: i64) -> Vec<String> {
        sqlx::query_scalar("SELECT kind FROM events WHERE ticket_id = $1 ORDER BY id")
            .bind(ticket_id)
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }

    /// The ticket's events as (kind, actor_id, data).
    pub async fn events(&self, ticket_id: i64) -> Vec<(String, Option<i64>, serde_json::Value)> {
        sqlx::query_as("SELECT kind, actor_id, data FROM events WHERE ticket_id = $1 ORDER BY id")
            .bind(ticket_id)
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }
}

/// A second instance of the service sharing a test app's database, as several instances
/// share one database in production. It stops when dropped.
pub struct Instance {
    pub address: String,
    _shutdown: oneshot::Sender<()>,
}

impl TestApp {
    pub async fn spawn_instance(&self, env: &[(&str, &str)]) -> Instance {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let config = test_config(env, None);
        let state = AppState::new(self.pool.clone(), config);
        let (shutdown, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            therethere::server::serve(listener, state, async {
                rx.await.ok();
            })
            .await
            .unwrap();
        });
        Instance {
            address,
            _shutdown: shutdown,
        }
    }
}
