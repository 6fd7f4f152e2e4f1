//! The PostgreSQL server the tests share: `DATABASE_URL` when set, otherwise the project's
//! embedded PostgreSQL under `target/test-postgres`. Each test copies a migrated template
//! database, so tests run in parallel without seeing each other's rows.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};
use therethere::db::{self, EmbeddedPostgres, embedded::ClusterOptions};

use super::TestApp;

/// The database server shared by all tests of this process.
pub(super) struct TestServer {
    pub(super) admin: PgConnectOptions,
    template: String,
    /// Keeps the embedded server's handle alive (it is left running for the next test run).
    _embedded: Option<EmbeddedPostgres>,
}

static SERVER: OnceLock<TestServer> = OnceLock::new();

pub(super) fn server() -> &'static TestServer {
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

/// A fresh database copied from the migrated template.
pub(super) async fn create_database() -> (String, PgPool) {
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
