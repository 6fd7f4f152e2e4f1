//! How fast one person, and one workspace, may create tickets, messages and notes: per-minute
//! windows shared by every instance through PostgreSQL, without a query per request.
//!
//! A request is admitted against what this instance knows: the window's count across all
//! instances as of the last flush, plus what it admitted since. Every [`FLUSH_EVERY`] one
//! statement adds this instance's admissions to the shared rows and reads the totals back. A
//! counter row per request would serialize an importer's concurrent requests on one row lock
//! (one commit each); this costs one statement per instance per flush, and may let through at
//! most what the other instances admit within one flush beyond a limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::error::AppError;

/// How often admissions are added to the shared counts.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);
const WINDOW: Duration = Duration::from_secs(60);
/// Keys remembered at most; past it, windows that ended are forgotten first.
const MAX_KEYS: usize = 100_000;

/// What is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creation {
    Ticket,
    Message,
    Note,
}

impl Creation {
    fn name(self) -> &'static str {
        match self {
            Creation::Ticket => "tickets",
            Creation::Message => "messages",
            Creation::Note => "notes",
        }
    }
}

/// Per minute, per person and per workspace, for each kind; 0 turns one off.
#[derive(Debug, Clone, Copy)]
pub struct CreationRates {
    pub tickets_per_user: u32,
    pub tickets_per_workspace: u32,
    pub messages_per_user: u32,
    pub messages_per_workspace: u32,
    pub notes_per_user: u32,
    pub notes_per_workspace: u32,
}

impl Default for CreationRates {
    /// Far above a person's pace, and above an importer's: the benchmarks' 3 rounds of 2,000
    /// tickets 32 at a time (~1,500/s) never meet them; a runaway script is held to ~500 a
    /// second.
    fn default() -> Self {
        CreationRates {
            tickets_per_user: 30_000,
            tickets_per_workspace: 60_000,
            messages_per_user: 30_000,
            messages_per_workspace: 60_000,
            notes_per_user: 3_000,
            notes_per_workspace: 12_000,
        }
    }
}

impl CreationRates {
    fn limits(&self, what: Creation) -> (u32, u32, &'static str, &'static str) {
        match what {
            Creation::Ticket => (
                self.tickets_per_user,
                self.tickets_per_workspace,
                "TICKETS_PER_MINUTE_PER_USER",
                "TICKETS_PER_MINUTE_PER_WORKSPACE",
            ),
            Creation::Message => (
                self.messages_per_user,
                self.messages_per_workspace,
                "MESSAGES_PER_MINUTE_PER_USER",
                "MESSAGES_PER_MINUTE_PER_WORKSPACE",
            ),
            Creation::Note => (
                self.notes_per_user,
                self.notes_per_workspace,
                "NOTES_PER_MINUTE_PER_USER",
                "NOTES_PER_MINUTE_PER_WORKSPACE",
            ),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Count {
    /// The shared count as of the last flush.
    shared: u32,
    /// Admitted here since the last flush.
    pending: u32,
    ends: Instant,
}

/// The limiter of one instance; cheap to clone.
#[derive(Clone)]
pub struct CreationLimits {
    rates: CreationRates,
    counts: Arc<Mutex<HashMap<String, Count>>>,
    _stop_with_last_clone: Arc<tokio_util::sync::DropGuard>,
}

impl CreationLimits {
    /// Starts the flushing task; it stops when the last clone is dropped.
    pub fn spawn(pool: PgPool, rates: CreationRates) -> Self {
        let counts: Arc<Mutex<HashMap<String, Count>>> = Arc::default();
        let stop = CancellationToken::new();
        tokio::spawn(flush_forever(pool, counts.clone(), stop.clone()));
        CreationLimits {
            rates,
            counts,
            _stop_with_last_clone: Arc::new(stop.drop_guard()),
        }
    }

    /// Admits one more `what` by `user_id` of `workspace_id`, or answers 429 with
    /// `Retry-After` naming the setting that refused it.
    pub fn admit(&self, what: Creation, workspace_id: i64, user_id: i64) -> Result<(), AppError> {
        let (per_user, per_workspace, user_setting, workspace_setting) = self.rates.limits(what);
        let keys = [
            (
                format!("create-{}:user:{user_id}", what.name()),
                per_user,
                user_setting,
            ),
            (
                format!("create-{}:workspace:{workspace_id}", what.name()),
                per_workspace,
                workspace_setting,
            ),
        ];
        let now = Instant::now();
        let mut counts = self.counts.lock().expect("not poisoned");
        if counts.len() >= MAX_KEYS {
            counts.retain(|_, c| c.ends > now || c.pending > 0);
        }
        for (key, limit, setting) in &keys {
            if *limit == 0 {
                continue;
            }
            let count = counts.entry(key.clone()).or_insert(Count {
                shared: 0,
                pending: 0,
                ends: now + WINDOW,
            });
            if count.ends <= now && count.pending == 0 {
                *count = Count {
                    shared: 0,
                    pending: 0,
                    ends: now + WINDOW,
                };
            }
            if count.shared + count.pending >= *limit {
                let wait = count
                    .ends
                    .saturating_duration_since(now)
                    .as_secs_f64()
                    .ceil()
                    .max(1.0) as u64;
                return Err(AppError::RateLimited {
                    retry_after: wait,
                    message: format!(
                        "At most {limit} {} a minute ({setting}). Try again in {wait} s.",
                        what.name()
                    ),
                });
            }
        }
        for (key, limit, _) in &keys {
            if *limit > 0
                && let Some(count) = counts.get_mut(key)
            {
                count.pending += 1;
            }
        }
        Ok(())
    }
}

async fn flush_forever(
    pool: PgPool,
    counts: Arc<Mutex<HashMap<String, Count>>>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(FLUSH_EVERY) => {}
        }
        if let Err(err) = flush(&pool, &counts).await {
            tracing::warn!(error = %err, "sharing creation counts failed; will retry");
        }
    }
}

/// Adds what was admitted here to the shared windows and reads their totals back.
async fn flush(pool: &PgPool, counts: &Mutex<HashMap<String, Count>>) -> Result<(), sqlx::Error> {
    let (keys, added): (Vec<String>, Vec<i32>) = {
        let mut counts = counts.lock().expect("not poisoned");
        counts
            .iter_mut()
            .filter(|(_, c)| c.pending > 0)
            .map(|(k, c)| {
                let n = c.pending;
                // Counted as shared at once, so what the flush adds is not admitted twice.
                c.shared += n;
                c.pending = 0;
                (k.clone(), n as i32)
            })
            .unzip()
    };
    if keys.is_empty() {
        return Ok(());
    }
    let totals: Vec<(String, i32, f64)> = sqlx::query_as(
        "INSERT INTO rate_limit_windows AS w (key, window_start, hits)
         SELECT k, now(), n FROM unnest($1::text[], $2::int[]) AS t(k, n)
         ON CONFLICT (key) DO UPDATE SET
             window_start = CASE WHEN w.window_start <= now() - make_interval(secs => $3)
                                 THEN now() ELSE w.window_start END,
             hits = CASE WHEN w.window_start <= now() - make_interval(secs => $3)
                         THEN excluded.hits ELSE w.hits + excluded.hits END
         RETURNING key, hits,
                   EXTRACT(EPOCH FROM w.window_start + make_interval(secs => $3) - now())::float8",
    )
    .bind(&keys)
    .bind(&added)
    .bind(WINDOW.as_secs_f64())
    .fetch_all(pool)
    .await?;
    let now = Instant::now();
    let mut counts = counts.lock().expect("not poisoned");
    for (key, hits, left) in totals {
        if let Some(count) = counts.get_mut(&key) {
            count.shared = hits.max(0) as u32;
            count.ends = now + Duration::from_secs_f64(left.max(0.0));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rates: CreationRates) -> CreationLimits {
        CreationLimits {
            rates,
            counts: Arc::default(),
            _stop_with_last_clone: Arc::new(CancellationToken::new().drop_guard()),
        }
    }

    #[test]
    fn a_person_past_their_rate_is_refused_naming_the_setting_and_others_go_on() {
        let rates = CreationRates {
            tickets_per_user: 2,
            ..CreationRates::default()
        };
        let limits = limiter(rates);
        assert!(limits.admit(Creation::Ticket, 1, 10).is_ok());
        assert!(limits.admit(Creation::Ticket, 1, 10).is_ok());
        let refused = limits.admit(Creation::Ticket, 1, 10).unwrap_err();
        assert!(
            refused
                .public_message()
                .contains("TICKETS_PER_MINUTE_PER_USER")
        );
        assert!(refused.retry_after().is_some_and(|s| (1..=60).contains(&s)));
        assert!(
            limits.admit(Creation::Ticket, 1, 11).is_ok(),
            "another person"
        );
        assert!(
            limits.admit(Creation::Message, 1, 10).is_ok(),
            "another kind"
        );
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let limits = limiter(CreationRates {
            notes_per_user: 0,
            notes_per_workspace: 0,
            ..CreationRates::default()
        });
        for _ in 0..10_000 {
            limits.admit(Creation::Note, 1, 10).unwrap();
        }
    }
}
