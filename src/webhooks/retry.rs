//! The retry schedule as data: the waits between attempts come from configuration
//! (`WEBHOOK_RETRY_DELAYS`, spec default "10,20": 3 attempts, 10 s then 20 s apart).

use std::time::Duration;

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

    /// After the `attempts_made`-th attempt failed: how long until the next, or None when
    /// that was the last.
    pub fn delay_after(&self, attempts_made: u32) -> Option<Duration> {
        attempts_made
            .checked_sub(1)
            .and_then(|i| self.delays.get(i as usize))
            .copied()
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
        assert_eq!(policy.delay_after(1), Some(Duration::from_secs(10)));
        assert_eq!(policy.delay_after(2), Some(Duration::from_secs(20)));
        assert_eq!(policy.delay_after(3), None);
        assert_eq!(policy.delay_after(0), None);
    }

    #[test]
    fn schedules_parse_from_configuration() {
        assert_eq!(
            RetryPolicy::parse("0.5, 1").unwrap().delay_after(1),
            Some(Duration::from_millis(500))
        );
        assert_eq!(RetryPolicy::parse("").unwrap().max_attempts(), 1);
        assert!(RetryPolicy::parse("10,soon").is_err());
        assert!(RetryPolicy::parse("-1").is_err());
    }
}
