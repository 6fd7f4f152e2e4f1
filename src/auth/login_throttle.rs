//! Slowing password guessing: failed logins are counted per account (the email as typed,
//! whether or not it exists, so a lock-out says nothing about existence) and per client
//! address, in PostgreSQL so every instance agrees. Past a number of free failures each
//! further failure locks the key for twice as long as the last, up to a maximum; while
//! locked, even the right password is refused without being checked. A success forgives the
//! account's failures (not the address's: one good account must not launder guesses at others).

use std::net::IpAddr;
use std::time::Duration;

use sqlx::PgPool;

/// The throttle's settings (`LOGIN_THROTTLE_*`).
#[derive(Debug, Clone)]
pub struct ThrottlePolicy {
    /// Failures in a row per account until a lock-out (the last of them starts it).
    pub account_free_failures: u32,
    /// Failures in a row per client address until a lock-out.
    pub address_free_failures: u32,
    /// The first lock-out; each further failure doubles it.
    pub base_lockout: Duration,
    /// The longest lock-out.
    pub max_lockout: Duration,
    /// Failures older than this (counted from the latest) are forgotten.
    pub window: Duration,
    /// How long every refused login waits before it is answered.
    pub refusal_pause: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            account_free_failures: 5,
            address_free_failures: 20,
            base_lockout: Duration::from_secs(1),
            max_lockout: Duration::from_secs(15 * 60),
            window: Duration::from_secs(60 * 60),
            refusal_pause: Duration::from_millis(500),
        }
    }
}

/// What a failure is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ThrottleKey {
    Account(String),
    Address(String),
}

impl ThrottleKey {
    /// The account as typed, normalised the way logins match emails.
    pub fn account(email: &str) -> Self {
        ThrottleKey::Account(email.trim().to_lowercase())
    }

    /// An IPv4 address, or an IPv6 address's /64 (one host usually holds a whole /64).
    pub fn address(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    return ThrottleKey::Address(format!(
                        "{:x}:{:x}:{:x}:{:x}::/64",
                        s[0], s[1], s[2], s[3]
                    ));
                }
            },
            v4 => v4,
        };
        ThrottleKey::Address(ip.to_string())
    }

    fn stored(&self) -> String {
        match self {
            ThrottleKey::Account(email) => format!("account:{email}"),
            ThrottleKey::Address(address) => format!("address:{address}"),
        }
    }

    fn free_failures(&self, policy: &ThrottlePolicy) -> u32 {
        match self {
            ThrottleKey::Account(_) => policy.account_free_failures,
            ThrottleKey::Address(_) => policy.address_free_failures,
        }
    }
}

impl ThrottlePolicy {
    /// How long a key stays locked after its `failures`-th failure in a row.
    pub fn lockout_after(&self, key: &ThrottleKey, failures: u32) -> Option<Duration> {
        let free = key.free_failures(self);
        if failures < free {
            return None;
        }
        let doublings = (failures - free).min(30);
        Some(
            self.base_lockout
                .saturating_mul(1 << doublings)
                .min(self.max_lockout),
        )
    }
}

/// Seconds until the most locked of `keys` may try again, if any is locked.
pub async fn locked_for(pool: &PgPool, keys: &[ThrottleKey]) -> Result<Option<u64>, sqlx::Error> {
    let stored: Vec<String> = keys.iter().map(ThrottleKey::stored).collect();
    let seconds: Option<f64> = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM max(locked_until) - now())::float8 FROM login_failures
         WHERE key = ANY($1) AND locked_until > now()",
    )
    .bind(&stored)
    .fetch_one(pool)
    .await?;
    Ok(seconds.map(|s| s.ceil().max(1.0) as u64))
}

/// Counts a failure against each key and locks those past their free failures.
pub async fn record_failure(
    pool: &PgPool,
    policy: &ThrottlePolicy,
    keys: &[ThrottleKey],
) -> Result<(), sqlx::Error> {
    let stored: Vec<String> = keys.iter().map(ThrottleKey::stored).collect();
    let counts: Vec<(String, i32)> = sqlx::query_as(
        "INSERT INTO login_failures AS f (key, failures, last_failure_at)
         SELECT key, 1, now() FROM unnest($1::text[]) AS key
         ON CONFLICT (key) DO UPDATE SET
             failures = CASE WHEN f.last_failure_at < now() - make_interval(secs => $2)
                             THEN 1 ELSE f.failures + 1 END,
             last_failure_at = now()
         RETURNING key, failures",
    )
    .bind(&stored)
    .bind(policy.window.as_secs_f64())
    .fetch_all(pool)
    .await?;
    // The policy decides each key's lock-out; one statement stores them all.
    let (locked, seconds): (Vec<String>, Vec<f64>) = keys
        .iter()
        .filter_map(|key| {
            let stored = key.stored();
            let failures = counts
                .iter()
                .find(|(k, _)| *k == stored)
                .map_or(0, |(_, n)| (*n).max(0) as u32);
            let lockout = policy.lockout_after(key, failures)?;
            Some((stored, lockout.as_secs_f64()))
        })
        .unzip();
    if !locked.is_empty() {
        sqlx::query(
            "UPDATE login_failures f SET locked_until = now() + make_interval(secs => l.secs)
             FROM unnest($1::text[], $2::float8[]) AS l(key, secs) WHERE f.key = l.key",
        )
        .bind(&locked)
        .bind(&seconds)
        .execute(pool)
        .await?;
    }
    // Forgotten failures are swept now and then rather than by a timer.
    if rand_one_in(64) {
        sqlx::query(
            "DELETE FROM login_failures WHERE last_failure_at < now() - make_interval(secs => $1)
             AND (locked_until IS NULL OR locked_until < now())",
        )
        .bind(policy.window.as_secs_f64())
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// A successful login forgives the account's failures.
pub async fn forgive(pool: &PgPool, account: &ThrottleKey) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE key = $1")
        .bind(account.stored())
        .execute(pool)
        .await?;
    Ok(())
}

fn rand_one_in(n: u32) -> bool {
    let mut byte = [0u8; 4];
    getrandom::fill(&mut byte).is_ok() && u32::from_le_bytes(byte) % n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockouts_start_after_the_free_failures_and_double_up_to_the_maximum() {
        let policy = ThrottlePolicy::default();
        let account = ThrottleKey::account(" Someone@Example.com ");
        assert_eq!(account, ThrottleKey::Account("someone@example.com".into()));
        assert_eq!(policy.lockout_after(&account, 4), None);
        assert_eq!(
            policy.lockout_after(&account, 5),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            policy.lockout_after(&account, 6),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            policy.lockout_after(&account, 9),
            Some(Duration::from_secs(16))
        );
        assert_eq!(
            policy.lockout_after(&account, 40),
            Some(Duration::from_secs(900))
        );
        let address = ThrottleKey::address("127.0.0.1".parse().unwrap());
        assert_eq!(policy.lockout_after(&address, 19), None);
        assert_eq!(
            policy.lockout_after(&address, 20),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_and_a_mapped_ipv4_as_ipv4() {
        assert_eq!(
            ThrottleKey::address("2001:db8:1:2:aaaa::1".parse().unwrap()),
            ThrottleKey::Address("2001:db8:1:2::/64".into())
        );
        assert_eq!(
            ThrottleKey::address("::ffff:10.1.2.3".parse().unwrap()),
            ThrottleKey::Address("10.1.2.3".into())
        );
    }
}
