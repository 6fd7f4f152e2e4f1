//! Logging in with an email and password: throttled per account and client address, checked
//! on the password threads with no pooled connection held, and the same cost and answer
//! whether or not the email belongs to anyone.

use std::net::IpAddr;

use sqlx::PgPool;

use super::login_throttle::{self, ThrottleKey, ThrottlePolicy};
use super::password_pool::PasswordPool;
use crate::error::AppError;
use crate::helpdesk::users::{self, User};

/// How long a client told "busy" should wait.
const BUSY_RETRY_SECONDS: u64 = 1;

/// Checks a login. `Ok(None)` is a wrong email or password (the caller must not say which);
/// a throttled client gets `RateLimited`, a full password queue `Overloaded`.
pub async fn check_login(
    pool: &PgPool,
    passwords: &PasswordPool,
    policy: &ThrottlePolicy,
    client: IpAddr,
    email: &str,
    password: &str,
) -> Result<Option<User>, AppError> {
    let account = ThrottleKey::account(email);
    let keys = [account.clone(), ThrottleKey::address(client)];
    if let Some(retry_after) = login_throttle::locked_for(pool, &keys).await? {
        return Err(AppError::RateLimited {
            retry_after,
            message: format!(
                "Too many failed attempts. Try again in {}.",
                in_words(retry_after)
            ),
        });
    }
    let found = users::password_hash_by_email(pool, email).await?;
    let (user, stored_hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let matches = passwords
        .verify(password.to_string(), stored_hash)
        .await
        .map_err(|_busy| AppError::Overloaded {
            retry_after: BUSY_RETRY_SECONDS,
            message: "Too many sign-ins at once. Try again in a moment.".into(),
        })?;
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
    use super::in_words;

    #[test]
    fn waits_read_as_a_person_says_them() {
        assert_eq!(in_words(1), "1 second");
        assert_eq!(in_words(45), "45 seconds");
        assert_eq!(in_words(900), "15 minutes");
        assert_eq!(in_words(91), "2 minutes");
    }
}
