//! Spawns the real app on 127.0.0.1:0 with a fresh database of its own, and builds the
//! workspaces, users and clients tests act through.
//!
//! The database server is `DATABASE_URL` when set, otherwise the project's embedded
//! PostgreSQL under `target/test-postgres`. Each test copies a migrated template database,
//! so tests run in parallel without seeing each other's rows.

use std::collections::HashMap;
use std::sync::OnceLock;

use reqwest::{Client, Response, StatusCode, redirect};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};
use therethere::auth::api_tokens::create_api_token;
use therethere::config::Config;
use therethere::db::{self, EmbeddedPostgres, embedded::ClusterOptions};
use therethere::helpdesk::users::{NewUser, Role, create_user};
use therethere::helpdesk::workspaces::create_workspace;
use therethere::limits::Limits;
use therethere::state::AppState;
use tokio::sync::oneshot;

/// The database server shared by all tests of this process.
struct TestServer {
    admin: PgConnectOptions,
    template: String,
    /// Keeps the embedded server's handle alive (it is left running for the next test run).
    _embedded: Option<EmbeddedPostgres>,
}

static SERVER: OnceLock<TestServer> = OnceLock::new();

fn server() -> &'static TestServer {
    SERVER.get_or_init(|| {
        // Initialise on a thread of our own: the caller's runtime must not block.
        std::thread::spawn(|| {
            let (admin, embedded) = match std::env::var("DATABASE_URL") {
                Ok(url) if !url.is_empty() => {
                    let options: PgConnectOptions = url.parse().expect("DATABASE_URL parses");
                    (options.database("postgres"), None)
                }
                _ => {
                    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("target/test-postgres");
                    let pg = EmbeddedPostgres::start(&dir, ClusterOptions::TESTS)
                        .expect("the embedded PostgreSQL starts");
                    (pg.connect_options("postgres"), Some(pg))
                }
            };
            let template = template_name();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(create_template(&admin, &template));
            TestServer {
                admin,
                template,
                _embedded: embedded,
            }
        })
        .join()
        .expect("test database server set-up")
    })
}

/// Named after the migrations, so a changed migration gets a fresh template.
fn template_name() -> String {
    let mut hasher = Sha256::new();
    for migration in db::MIGRATOR.iter() {
        hasher.update(migration.version.to_le_bytes());
        hasher.update(&migration.checksum);
    }
    format!(
        "therethere_template_{}",
        &hex::encode(hasher.finalize())[..16]
    )
}

async fn create_template(admin: &PgConnectOptions, template: &str) {
    let mut conn = PgConnection::connect_with(admin)
        .await
        .expect("connect to the test server");
    // Several test processes may start at once: one builds the template, the others wait.
    sqlx::query("SELECT pg_advisory_lock(726354)")
        .execute(&mut conn)
        .await
        .unwrap();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(template)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    if !exists {
        let building = format!("{template}_building");
        sqlx::query(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {building}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let pool = db::connect(admin.clone().database(&building), 1)
            .await
            .unwrap();
        db::migrate(&pool)
            .await
            .expect("migrations apply to an empty database");
        pool.close().await;
        sqlx::query(&format!("ALTER DATABASE {building} RENAME TO {template}"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    sqlx::query("SELECT pg_advisory_unlock(726354)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
}

pub struct TestApp {
    pub address: String,
    pub pool: PgPool,
    pub database: String,
    shutdown: Option<oneshot::Sender<()>>,
}

/// A fresh database copied from the migrated template.
async fn create_database() -> (String, PgPool) {
    let server = server();
    let database = format!(
        "test_{}",
        ulid::Ulid::new().to_string().to_ascii_lowercase()
    );
    let mut conn = PgConnection::connect_with(&server.admin).await.unwrap();
    sqlx::query(&format!(
        "CREATE DATABASE {database} TEMPLATE {}",
        server.template
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.ok();
    let pool = db::connect(server.admin.clone().database(&database), 10)
        .await
        .unwrap();
    (database, pool)
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
    vars.entry("LOGIN_REFUSAL_PAUSE_SECONDS".into())
        .or_insert_with(|| "0".into());
    Config::from_lookup(|k| vars.get(k).cloned()).expect("test config is valid")
}

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
        let (_, token) = create_api_token(&mut conn, &Limits::default(), id, "tests")
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

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A JSON API client acting as `user` through their bearer token.
    pub fn api(&self, user: &TestUser) -> Api {
        Api {
            client: plain_client(),
            base: self.address.clone(),
            token: Some(user.token.clone()),
        }
    }

    /// A client with no credentials at all.
    pub fn anonymous(&self) -> Api {
        Api {
            client: plain_client(),
            base: self.address.clone(),
            token: None,
        }
    }

    /// A browser-like client logged in as `user` through the login form.
    pub async fn browser(&self, user: &TestUser) -> Browser {
        let browser = Browser::new(&self.address);
        let response = browser
            .client
            .post(self.url("/login"))
            .form(&[
                ("email", user.email.as_str()),
                ("password", user.password.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "login as {} failed",
            user.email
        );
        browser
    }

    /// Creates a channel through the API as `admin`, returning its id.
    pub async fn create_channel(&self, admin: &TestUser, name: &str) -> i64 {
        let channel: Value = self
            .api(admin)
            .post("/api/channels", &serde_json::json!({ "name": name }))
            .await
            .json()
            .await
            .unwrap();
        channel["id"].as_i64().expect("the channel was created")
    }

    /// Creates a ticket through the API as `user`, returning its JSON.
    pub async fn create_ticket(&self, user: &TestUser, body: Value) -> Value {
        let response = self.api(user).post("/api/tickets", &body).await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "{}",
            response.text().await.unwrap()
        );
        response.json().await.unwrap()
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
    pub async fn events(&self, ticket_id: i64) -> Vec<(String, Option<i64>, Value)> {
        sqlx::query_as("SELECT kind, actor_id, data FROM events WHERE ticket_id = $1 ORDER BY id")
            .bind(ticket_id)
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }
}

pub fn ticket_body(subject: &str, email: &str) -> Value {
    serde_json::json!({
        "subject": subject,
        "body": "Hello, I need help.",
        "contact": { "name": "Jane Doe", "email": email },
    })
}

fn plain_client() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

pub struct Api {
    pub client: Client,
    pub base: String,
    token: Option<String>,
}

impl Api {
    fn auth(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.auth(self.client.get(format!("{}{path}", self.base)))
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.auth(self.client.post(format!("{}{path}", self.base)))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.auth(self.client.put(format!("{}{path}", self.base)))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// A POST with a raw body and content type, for malformed-input tests.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: &str) -> Response {
        self.auth(self.client.post(format!("{}{path}", self.base)))
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }
}

/// Reads an API error body and checks its shape.
pub async fn error_of(response: Response) -> (StatusCode, String, Option<String>) {
    let status = response.status();
    let body: Value = response.json().await.expect("errors are JSON");
    let error = &body["error"];
    let code = error["code"]
        .as_str()
        .expect("error.code is a string")
        .to_string();
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error.message: {body}"
    );
    (status, code, error["field"].as_str().map(str::to_string))
}

pub struct Browser {
    pub client: Client,
    base: String,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Browser {
            client: Client::builder()
                .redirect(redirect::Policy::none())
                .cookie_store(true)
                .build()
                .unwrap(),
            base: base.to_string(),
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn get_html(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.unwrap()
    }

    /// The page's CSRF token, from its `<meta name="csrf-token">`.
    pub async fn csrf_token(&self) -> String {
        let html = self.get_html("/settings/profile").await;
        let marker = "name=\"csrf-token\" content=\"";
        let start = html.find(marker).expect("pages carry a CSRF token") + marker.len();
        html[start..start + html[start..].find('"').unwrap()].to_string()
    }

    /// Posts a form as the page would, with the session's CSRF token.
    pub async fn submit(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let token = self.csrf_token().await;
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf_token", &token));
        self.client
            .post(format!("{}{path}", self.base))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Posts a form with no CSRF token at all.
    pub async fn submit_without_token(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.client
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap()
    }
}

impl TestApp {
    /// A `DATABASE_URL` for this test's own database, for running the real binary against it.
    pub fn database_url(&self) -> String {
        let admin = &server().admin;
        match admin.get_socket() {
            Some(socket) => format!(
                "postgres://{}@localhost/{}?host={}",
                admin.get_username(),
                self.database,
                socket.display()
            ),
            None => {
                let mut url = url::Url::parse(&std::env::var("DATABASE_URL").unwrap()).unwrap();
                url.set_path(&self.database);
                url.to_string()
            }
        }
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
