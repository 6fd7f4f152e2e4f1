//! Logging in with an email and password: throttled per account and client address, checked
//! on the password threads with no pooled connection held, and the same cost and answer
//! whether or not the email belongs to anyone. Under a flood every refusal is cheap: a lock
//! this instance already knows of and a full password pool are answered without a query.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::login_throttle::{self, ThrottleKey, ThrottlePolicy};
use super::password_pool::PasswordPool;
use crate::error::AppError;
use crate::helpdesk::users::{self, User};

/// How long a client told "busy" should wait.
const BUSY_RETRY_SECONDS: u64 = 1;
/// Locks remembered in process at most; past it the expired ones go, then the soonest to end.
const KNOWN_LOCKS: usize = 10_000;

/// What logins need beside the database: the password threads and the locks this instance
/// has seen (a lock never ends early, so remembering one cannot refuse anyone wrongly).
pub struct Logins {
    pub passwords: PasswordPool,
    known_locks: Mutex<HashMap<ThrottleKey, Instant>>,
}

impl Logins {
    pub fn new(passwords: PasswordPool) -> Self {
        Logins {
            passwords,
            known_locks: Mutex::new(HashMap::new()),
        }
    }

    fn known_lock(&self, keys: &[ThrottleKey]) -> Option<u64> {
        let now = Instant::now();
        let locks = self.known_locks.lock().expect("not poisoned");
        keys.iter()
            .filter_map(|k| locks.get(k))
            .filter(|until| **until > now)
            .max()
            .map(|until| (*until - now).as_secs_f64().ceil().max(1.0) as u64)
    }

    fn remember_lock(&self, keys: &[ThrottleKey], seconds: u64) {
        let until = Instant::now() + Duration::from_secs(seconds);
        let mut locks = self.known_locks.lock().expect("not poisoned");
        if locks.len() >= KNOWN_LOCKS {
            let now = Instant::now();
            locks.retain(|_, until| *until > now);
            if locks.len() >= KNOWN_LOCKS
                && let Some(soonest) = locks
                    .iter()
                    .min_by_key(|(_, u)| **u)
                    .map(|(k, _)| k.clone())
            {
                locks.remove(&soonest);
            }
        }
        for key in keys {
            locks.insert(key.clone(), until);
        }
    }
}

/// Checks a login. `Ok(None)` is a wrong email or password (the caller must not say which);
/// a throttled client gets `RateLimited`, a full password pool `Overloaded`. Every refusal is
/// answered after `policy.refusal_pause`, holding nothing but a timer (no thread, connection
/// or password place): a client that ignores `Retry-After` and asks again at once cannot turn
/// cheap refusals into a flood that crowds out everyone else.
pub async fn check_login(
    pool: &PgPool,
    logins: &Logins,
    policy: &ThrottlePolicy,
    client: IpAddr,
    email: &str,
    password: &str,
) -> Result<Option<User>, AppError> {
    let outcome: Result<Option<User>, AppError> = async {
        let account = ThrottleKey::account(email);
        let keys = [account.clone(), ThrottleKey::address(client)];
        if let Some(retry_after) = logins.known_lock(&keys) {
            return Err(locked(retry_after));
        }
        // Reserved before the first query: a flood touches the database only this many at a time.
        let slot = logins.passwords.reserve().map_err(|_| busy())?;
        if let Some(retry_after) = login_throttle::locked_for(pool, &keys).await? {
            logins.remember_lock(&keys, retry_after);
            return Err(locked(retry_after));
        }
        let (user, stored_hash) = match users::password_hash_by_email(pool, email).await? {
            Some((user, hash)) => (Some(user), Some(hash)),
            None => (None, None),
        };
        let matches = slot
            .verify(password.to_string(), stored_hash)
            .await
            .map_err(|_| busy())?;
        match user {
            Some(user) if matches => {
                login_throttle::forgive(pool, &account).await?;
                Ok(Some(user))
            }
            _ => {
                login_throttle::record_failure(pool, policy, &keys).await?;
                Ok(None)
            }
        }
    }
    .await;
    let refused = matches!(
        outcome,
        Ok(None) | Err(AppError::RateLimited { .. } | AppError::Overloaded { .. })
    );
    if refused {
        tokio::time::sleep(policy.refusal_pause).await;
    }
    outcome
}

fn locked(retry_after: u64) -> AppError {
    AppError::RateLimited {
        retry_after,
        message: format!(
            "Too many failed attempts. Try again in {}.",
            in_words(retry_after)
        ),
    }
}

fn busy() -> AppError {
    AppError::Overloaded {
        retry_after: BUSY_RETRY_SECONDS,
        message: "Too many sign-ins at once. Try again in a moment.".into(),
    }
}

/// "45 seconds", "3 minutes": the wait as a person reads it.
pub fn in_words(seconds: u64) -> String {
    match seconds {
        1 => "1 second".into(),
        s if s < 90 => format!("{s} seconds"),
        s => format!("{} minutes", s.div_ceil(60)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_as_a_person_says_them() {
        assert_eq!(in_words(1), "1 second");
        assert_eq!(in_words(45), "45 seconds");
        assert_eq!(in_words(900), "15 minutes");
        assert_eq!(in_words(91), "2 minutes");
    }

    #[test]
    fn a_known_lock_refuses_until_it_ends_and_the_map_stays_bounded() {
        let logins = Logins::new(PasswordPool::new(1, 1));
        let key = ThrottleKey::account("a@example.com");
        assert_eq!(logins.known_lock(std::slice::from_ref(&key)), None);
        logins.remember_lock(std::slice::from_ref(&key), 30);
        assert_eq!(
            logins.known_lock(&[ThrottleKey::account("b@example.com"), key]),
            Some(30)
        );
        for n in 0..KNOWN_LOCKS + 10 {
            logins.remember_lock(&[ThrottleKey::account(&format!("{n}@example.com"))], 60);
        }
        assert!(logins.known_locks.lock().unwrap().len() <= KNOWN_LOCKS);
    }
}
