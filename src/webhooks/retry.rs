//! The retry schedule: the waits between attempts come from configuration
//! (`WEBHOOK_RETRY_DELAYS`, spec default "10,20": 3 attempts, 10 s then 20 s apart), and
//! what follows a failed attempt is decided here; the queue only stores the decision.

use std::time::Duration;

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
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            delays: vec![Duration::from_secs(10), Duration::from_secs(20)],
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
        Ok(RetryPolicy { delays })
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
}
