//! Running the service: open the database (starting the embedded one if configured), migrate,
//! seed demo data where wanted, serve HTTP until a shutdown signal, then release everything.

use std::future::Future;

use anyhow::Context;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::mail::sender::MailSender;

use crate::config::{Config, DatabaseSource};
use crate::db::{self, EmbeddedPostgres, embedded::ClusterOptions};
use crate::helpdesk::workspaces::count_workspaces;
use crate::web::state::AppState;
use crate::{demo, web};

/// An open database, and the embedded server behind it when there is one.
pub struct Database {
    pub pool: PgPool,
    embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Connects to `DATABASE_URL`, or starts (or reuses) the embedded PostgreSQL, then
    /// applies migrations.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        let (options, embedded) = match &config.database {
            DatabaseSource::Url(_) => {
                let url = config.database_url().expect("a URL source has a URL");
                (url.parse::<PgConnectOptions>()?, None)
            }
            DatabaseSource::Embedded { dir } => {
                let dir = dir.clone();
                let pg = tokio::task::spawn_blocking(move || {
                    EmbeddedPostgres::start(&dir, ClusterOptions::DEVELOPMENT)
                })
                .await??;
                let admin = db::connect(pg.connect_options("postgres"), 1).await?;
                let exists: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'therethere')",
                )
                .fetch_one(&admin)
                .await?;
                if !exists {
                    sqlx::query("CREATE DATABASE therethere")
                        .execute(&admin)
                        .await?;
                }
                admin.close().await;
                tracing::info!("using the embedded PostgreSQL (set DATABASE_URL to use another)");
                (pg.connect_options("therethere"), Some(pg))
            }
        };
        let pool = db::connect(options, config.database_max_connections).await?;
        db::migrate(&pool).await?;
        Ok(Database { pool, embedded })
    }

    /// Closes the pool and stops the embedded server if this process started it.
    pub async fn close(self) {
        self.pool.close().await;
        if let Some(pg) = self.embedded.filter(EmbeddedPostgres::started_here) {
            match tokio::task::spawn_blocking(move || pg.stop()).await {
                Ok(Ok(())) => tracing::info!("embedded PostgreSQL stopped"),
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "stopping the embedded PostgreSQL failed")
                }
                Err(err) => tracing::warn!(error = %err, "stopping the embedded PostgreSQL failed"),
            }
        }
    }
}

/// `therethere serve`: runs until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    warn_about_development_switches(&config);
    let keyring = config.secrets.load()?;
    let database = Database::open(&config).await?;
    open_secrets(&database.pool, keyring).await?;
    // Only ever into an empty database: demo data never mixes with a real workspace.
    if config.demo_data && count_workspaces(&mut *database.pool.acquire().await?).await? == 0 {
        let demo = demo::seed(&database.pool).await?;
        println!("{}", demo.describe(&config));
    }
    warn_about_published_passwords(&config, &database.pool).await?;
    let listener = TcpListener::bind(config.bind_addr).await?;
    tracing::info!(address = %listener.local_addr()?, app_url = %config.app_url, role = ?config.role, "listening");
    let state = AppState::new(database.pool.clone(), config);
    serve(listener, state, shutdown).await?;
    database.close().await;
    Ok(())
}

/// Serves the app on `listener` until `shutdown` resolves; in-flight requests finish first.
/// Background work runs alongside, as the role says, and is stopped (its work released) after
/// it. Metrics get a listener of their own when `METRICS_ADDR` is set.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    let config = state.config().clone();
    let mut tasks = Vec::new();
    if let Some(addr) = config.metrics_addr {
        let metrics_listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("METRICS_ADDR {addr} could not be bound"))?;
        tracing::info!(address = %metrics_listener.local_addr()?, "metrics listening");
        let app = web::metrics::listener_router(state.clone());
        let (stop, http) = (cancel.clone(), config.http.clone());
        tasks.push(tokio::spawn(async move {
            web::connections::serve(metrics_listener, app, &http, stop.cancelled_owned()).await
        }));
    }
    if config.role.serves_pages() {
        let (state, cancel) = (state.clone(), cancel.clone());
        // A connection of its own, so a full request pool cannot keep it from listening.
        let pool = db::side_pool(state.pool(), 1);
        tasks.push(tokio::spawn(async move {
            state.credentials().keep_coherent(pool, cancel).await
        }));
    }
    if config.role.runs_workers() {
        let mail = MailSender::new(
            state.pool().clone(),
            &state.config().mail,
            state.metrics().clone(),
        )?;
        tasks.push(tokio::spawn(mail.run(cancel.clone())));
        tasks.push(tokio::spawn(
            state.sidebar().clone().run_warm_ups(cancel.clone()),
        ));
        tasks.push(tokio::spawn(crate::webhooks::worker::run(
            db::side_pool(state.pool(), config.worker_database_connections),
            state.outbound().webhooks.clone(),
            state.metrics().clone(),
            config.webhooks.clone(),
            config.app_url.clone(),
            cancel.clone(),
        )));
    }
    let http = config.http.clone();
    let app = if config.role.serves_pages() {
        web::router(state)
    } else {
        web::worker_router(state)
    };
    web::connections::serve(listener, app, &http, shutdown).await;
    cancel.cancel();
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}

fn warn_about_development_switches(config: &Config) {
    if config.outbound_allow_private {
        tracing::warn!(
            "OUTBOUND_ALLOW_PRIVATE is set: outbound calls may reach private and loopback addresses"
        );
    }
    if config.outbound_allow_http {
        tracing::warn!("OUTBOUND_ALLOW_HTTP is set: outbound calls may use plain http://");
    }
}

/// Checks the key against what is stored (a wrong or missing key stops start-up, naming the
/// key the secrets need, and writes nothing), seals any plaintext secret from before
/// sealing, and makes the key ring the process's.
pub async fn open_secrets(pool: &PgPool, keyring: crate::secrets::Keyring) -> anyhow::Result<()> {
    use crate::secrets::rotation::{self, Reseal};
    rotation::check_key(pool, &keyring).await?;
    let sealed = rotation::reseal(pool, &keyring, Reseal::Plaintext).await?;
    if sealed > 0 {
        tracing::info!(sealed, "sealed signing secrets stored in plaintext");
    }
    tracing::info!(
        key = keyring.current.id(),
        "signing secrets are sealed under this key"
    );
    crate::secrets::install(keyring);
    Ok(())
}

/// On a database that is not the embedded one, the demo's published passwords are an open
/// door: said loudly at start-up, and on the owners' pages while it lasts.
async fn warn_about_published_passwords(config: &Config, pool: &PgPool) -> anyhow::Result<()> {
    if matches!(config.database, DatabaseSource::Embedded { .. }) {
        return Ok(());
    }
    let published = demo::check_published_passwords(pool).await?;
    if !published.is_empty() {
        tracing::warn!(
            accounts = %published.join(", "),
            "DEMO ACCOUNTS WITH PUBLISHED PASSWORDS: anyone who read the README can sign in as them. \
             Change their passwords or deactivate them (Settings > Team)"
        );
        eprintln!(
            "WARNING: demo accounts still have the passwords printed in the README: {}. Change them or deactivate them.",
            published.join(", ")
        );
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled: a SIGTERM that arrives while the service is starting up must
/// start a graceful shutdown, not kill the process.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let interrupt = signal(SignalKind::interrupt()).ok();
    let terminate = signal(SignalKind::terminate()).ok();
    async move {
        let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(interrupt) => {},
            () = wait(terminate) => {},
        }
        tracing::info!("shutting down: finishing in-flight requests");
    }
}
