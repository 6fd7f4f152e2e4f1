//! PostgreSQL going away is an outage, not a bug: requests that meet it answer 503 with
//! `Retry-After` (see `AppError::Unavailable`), `/readyz` says so, and the log says it once
//! when the outage starts and once when it ends, not once per request.

use std::sync::atomic::{AtomicBool, Ordering};

static DOWN: AtomicBool = AtomicBool::new(false);

/// SQLSTATEs of a server that is gone or going: the connection-exception class and the
/// shutdowns (`57P01` administrator, `57P02` crash, `57P03` cannot connect now).
fn unreachable_state(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
}

/// Whether `err` means the database cannot be reached (as opposed to a query's own failure).
pub fn is_unreachable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| unreachable_state(&c)),
        _ => false,
    }
}

/// Notes that the database could not be reached; logged once per outage.
pub fn noticed(err: &sqlx::Error) {
    if !DOWN.swap(true, Ordering::Relaxed) {
        tracing::error!(error = %err, "PostgreSQL is unreachable: requests answer 503 until it is back");
    }
}

/// Notes that the database answered; ends an outage (logged once).
pub fn recovered() {
    if DOWN.swap(false, Ordering::Relaxed) {
        tracing::info!("PostgreSQL is reachable again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gone_server_is_an_outage_and_a_query_error_is_not() {
        assert!(is_unreachable(&sqlx::Error::PoolTimedOut));
        assert!(is_unreachable(&sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused
        ))));
        assert!(unreachable_state("08006") && unreachable_state("57P01"));
        assert!(!unreachable_state("23505") && !unreachable_state("22021"));
        assert!(!is_unreachable(&sqlx::Error::RowNotFound));
    }
}
