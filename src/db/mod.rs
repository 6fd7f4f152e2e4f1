//! The database: connecting (to `DATABASE_URL` or the embedded default), and migrations.

pub mod doorbell;
pub mod embedded;
pub mod notifications;
pub mod outage;

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub use embedded::EmbeddedPostgres;

/// The migrations in `migrations/`, compiled into the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Opens a pool with settings suited to a web service: bounded size, bounded waits, and
/// no JIT compilation. PostgreSQL compiles a query with LLVM when its estimated cost passes
/// `jit_above_cost`, which the claim and the queue's counts do on a large backlog: `perf`
/// during the drain found LLVM at a third of PostgreSQL's CPU, compiling plans that then run
/// for a millisecond. Every pool derived from this one inherits the setting.
pub async fn connect(
    options: PgConnectOptions,
    max_connections: u32,
) -> Result<PgPool, sqlx::Error> {
    pool_options(max_connections)
        .connect_with(options.options([("jit", "off")]))
        .await
}

/// The pool settings every pool of the service uses.
pub fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
}

/// A small pool of a background task's own, to the same database as `pool`: a full request
/// pool must not hold it up.
pub fn side_pool(pool: &PgPool, max_connections: u32) -> PgPool {
    pool_options(max_connections).connect_lazy_with((*pool.connect_options()).clone())
}

/// The webhook claim's connection: as [`side_pool`], with every statement planned for its
/// actual parameters. The claim's generic plan (which PostgreSQL may switch to after five
/// runs of a prepared statement) took over a second per claim; its custom plans take
/// milliseconds. Only the claim: planning every fan-out and record statement afresh too was
/// 14 % of PostgreSQL's CPU end to end.
///
/// Its commits do not wait for the WAL flush (`synchronous_commit` off): a claim only writes
/// leases, and a lease lost in a crash only lets the delivery be claimed again, as a crash
/// during its attempt would. The claims run one after another, and a third of the claim's
/// time went to that flush (`pg_stat_activity`: `IO:WALSync` in 12 of 31 samples).
pub fn claim_pool(pool: &PgPool) -> PgPool {
    let options = (*pool.connect_options()).clone().options([
        ("plan_cache_mode", "force_custom_plan"),
        ("synchronous_commit", "off"),
    ]);
    pool_options(1).connect_lazy_with(options)
}

/// Closes a pool, waiting at most `limit` for its connections to come back: shutting down
/// must not hang on a connection some task still holds.
pub async fn close_within(pool: &PgPool, limit: Duration) {
    if tokio::time::timeout(limit, pool.close()).await.is_err() {
        tracing::warn!("a pool's connections were not all returned at shutdown");
    }
}

/// Applies any pending migrations.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// True when every migration this binary knows has been applied: `/readyz` reports it.
pub async fn migrations_applied(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await?;
    Ok(applied.unwrap_or(0) >= latest)
}
