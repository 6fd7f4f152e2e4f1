//! The retry schedule: the waits between attempts come from configuration
//! (`WEBHOOK_RETRY_DELAYS`, spec default "10,20": 3 attempts, 10 s then 20 s apart), and
//! what follows a failed attempt is decided here; the queue only stores the decision. A
//! receiver that answers 429 with `Retry-After` gets at least the wait it asked for (capped
//! by `WEBHOOK_RETRY_AFTER_CAP`), still within the same number of attempts.

use std::time::{Duration, SystemTime};

/// What follows a failed automatic attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Attempt again once this long has passed.
    RetryAfter(Duration),
    /// That was the last attempt: the delivery has failed.
    GiveUp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    delays: Vec<Duration>,
    /// The longest wait a receiver's `Retry-After` may ask for.
    retry_after_cap: Duration,
}

/// `WEBHOOK_RETRY_AFTER_CAP`'s default: ten minutes.
pub const DEFAULT_RETRY_AFTER_CAP: Duration = Duration::from_secs(600);

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            delays: vec![Duration::from_secs(10), Duration::from_secs(20)],
            retry_after_cap: DEFAULT_RETRY_AFTER_CAP,
        }
    }
}

/// The wait a receiver asked for: a 429's `Retry-After`, in seconds or as an HTTP date
/// (`now` is when the answer came). Anything else asks for nothing.
pub fn asked_wait(status: u16, headers: &[(String, String)], now: SystemTime) -> Option<Duration> {
    if status != 429 {
        return None;
    }
    let value = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))?
        .1
        .trim();
    match value.parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            Some(at.duration_since(now).unwrap_or(Duration::ZERO))
        }
    }
}

impl RetryPolicy {
    /// Parses "10,20" (seconds; fractions allowed, e.g. "0.5,1").
    pub fn parse(raw: &str) -> Result<Self, String> {
        let delays = raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0 && *v <= 86_400.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| format!("{s:?} is not a number of seconds"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RetryPolicy {
            delays,
            retry_after_cap: DEFAULT_RETRY_AFTER_CAP,
        })
    }

    /// The same schedule, with `cap` as the longest wait a `Retry-After` may ask for.
    pub fn with_retry_after_cap(self, cap: Duration) -> Self {
        RetryPolicy {
            retry_after_cap: cap,
            ..self
        }
    }

    /// Attempts in total: the first and one per delay.
    pub fn max_attempts(&self) -> u32 {
        self.delays.len() as u32 + 1
    }

    /// After the `attempt`-th attempt (1-based) failed: when to try again, or give up.
    pub fn after_failure(&self, attempt: u32) -> Next {
        match attempt
            .checked_sub(1)
            .and_then(|i| self.delays.get(i as usize))
        {
            Some(delay) => Next::RetryAfter(*delay),
            None => Next::GiveUp,
        }
    }

    /// As [`Self::after_failure`], waiting at least what the receiver `asked` for (up to the
    /// cap): a receiver's own signal never adds an attempt, it only delays the next one.
    pub fn after_failure_asked(&self, attempt: u32, asked: Option<Duration>) -> Next {
        match (self.after_failure(attempt), asked) {
            (Next::RetryAfter(delay), Some(asked)) => {
                Next::RetryAfter(delay.max(asked.min(self.retry_after_cap)))
            }
            (next, _) => next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_schedule_is_three_attempts_waiting_10_then_20_seconds() {
        let policy = RetryPolicy::default();
        assert_eq!(policy, RetryPolicy::parse("10,20").unwrap());
        assert_eq!(policy.max_attempts(), 3);
        let after = |attempt| policy.after_failure(attempt);
        assert_eq!(after(1), Next::RetryAfter(Duration::from_secs(10)));
        assert_eq!(after(2), Next::RetryAfter(Duration::from_secs(20)));
        assert_eq!(after(3), Next::GiveUp);
        // An attempt past the schedule (say, after the schedule was shortened) gives up too.
        assert_eq!(after(7), Next::GiveUp);
    }

    #[test]
    fn schedules_parse_from_configuration() {
        assert_eq!(
            RetryPolicy::parse("0.5, 1").unwrap().after_failure(1),
            Next::RetryAfter(Duration::from_millis(500))
        );
        let no_retries = RetryPolicy::parse("").unwrap();
        assert_eq!(no_retries.max_attempts(), 1);
        assert_eq!(no_retries.after_failure(1), Next::GiveUp);
        assert!(RetryPolicy::parse("10,soon").is_err());
        assert!(RetryPolicy::parse("-1").is_err());
    }

    #[test]
    fn a_429s_retry_after_delays_the_next_attempt_up_to_the_cap_and_adds_none() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        let header = |v: &str| vec![("Retry-After".to_string(), v.to_string())];
        assert_eq!(
            asked_wait(429, &header("120"), now),
            Some(Duration::from_secs(120))
        );
        let in_90_s = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            asked_wait(429, &header(&in_90_s), now),
            Some(Duration::from_secs(90))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(asked_wait(429, &header(&past), now), Some(Duration::ZERO));
        assert_eq!(asked_wait(503, &header("120"), now), None);
        assert_eq!(asked_wait(429, &header("soon"), now), None);
        assert_eq!(asked_wait(429, &[], now), None);

        let policy = RetryPolicy::default().with_retry_after_cap(Duration::from_secs(300));
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(
            policy.after_failure_asked(1, secs(120)),
            Next::RetryAfter(Duration::from_secs(120))
        );
        assert_eq!(
            policy.after_failure_asked(1, secs(3)),
            Next::RetryAfter(Duration::from_secs(10))
        );
        assert_eq!(
            policy.after_failure_asked(2, secs(3_600)),
            Next::RetryAfter(Duration::from_secs(300))
        );
        assert_eq!(policy.after_failure_asked(3, secs(120)), Next::GiveUp);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_retry_after_is_a_wait_or_ignored(value in any::<String>(), status in 100u16..600) {
                let headers = vec![("Retry-After".to_string(), value)];
                let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
                let asked = asked_wait(status, &headers, now);
                // Whatever was asked, the policy decides within its cap.
                if let Next::RetryAfter(wait) = RetryPolicy::default().after_failure_asked(1, asked) {
                    prop_assert!(wait <= DEFAULT_RETRY_AFTER_CAP.max(Duration::from_secs(20)));
                }
            }
        }
    }
}
