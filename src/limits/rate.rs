//! Rate limits on actions that make us call out on demand (test notifications, resends,
//! replays, section Tests): fixed windows (a minute; an hour for replays) per action and
//! object, counted in PostgreSQL so every instance shares one count.

use std::time::Duration;

use sqlx::PgPool;

use super::Limits;
use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RatedAction {
    /// Per webhook destination.
    TestNotification,
    /// Per webhook destination.
    Resend,
    /// Per webhook destination, per hour.
    Replay,
    /// Per sidebar section.
    SectionTest,
    /// Per workspace: Tests of a section form before it is saved.
    DraftSectionTest,
    /// Per workspace, per hour: invitations sent or resent.
    Invitation,
    /// Per email as typed, per hour: "forgot password" requests.
    PasswordResetPerEmail,
    /// Per client address, per hour: "forgot password" requests.
    PasswordResetPerAddress,
}

impl RatedAction {
    pub fn setting(self) -> &'static str {
        match self {
            RatedAction::TestNotification => "TEST_NOTIFICATIONS_PER_MINUTE",
            RatedAction::Resend => "RESENDS_PER_MINUTE",
            RatedAction::Replay => "REPLAYS_PER_HOUR",
            RatedAction::SectionTest | RatedAction::DraftSectionTest => "SECTION_TESTS_PER_MINUTE",
            RatedAction::Invitation => "INVITATIONS_PER_HOUR",
            RatedAction::PasswordResetPerEmail => "PASSWORD_RESETS_PER_HOUR",
            RatedAction::PasswordResetPerAddress => "PASSWORD_RESETS_PER_HOUR_PER_ADDRESS",
        }
    }

    /// How many may run in one window.
    pub fn per_window(self, limits: &Limits) -> u32 {
        match self {
            RatedAction::TestNotification => limits.test_notifications_per_minute,
            RatedAction::Resend => limits.resends_per_minute,
            RatedAction::Replay => limits.replays_per_hour,
            RatedAction::SectionTest | RatedAction::DraftSectionTest => {
                limits.section_tests_per_minute
            }
            RatedAction::Invitation => limits.invitations_per_hour,
            RatedAction::PasswordResetPerEmail => limits.password_resets_per_hour,
            RatedAction::PasswordResetPerAddress => limits.password_resets_per_hour_per_address,
        }
    }

    /// The window the count runs over.
    pub fn window(self) -> Duration {
        match self {
            RatedAction::Replay
            | RatedAction::Invitation
            | RatedAction::PasswordResetPerEmail
            | RatedAction::PasswordResetPerAddress => Duration::from_secs(3600),
            _ => Duration::from_secs(60),
        }
    }

    fn key(self, object: &str) -> String {
        let kind = match self {
            RatedAction::TestNotification => "test-notification",
            RatedAction::Resend => "resend",
            RatedAction::Replay => "replay",
            RatedAction::SectionTest => "section-test",
            RatedAction::DraftSectionTest => "draft-section-test",
            RatedAction::Invitation => "invitation",
            RatedAction::PasswordResetPerEmail => "password-reset-email",
            RatedAction::PasswordResetPerAddress => "password-reset-address",
        };
        format!("{kind}:{object}")
    }
}

/// The decision for one more hit in a window: within the limit, or wait this long.
pub fn decide(hits: i64, per_window: u32, window_left: Duration) -> Result<(), u64> {
    if hits <= i64::from(per_window) {
        Ok(())
    } else {
        Err(window_left.as_secs_f64().ceil().max(1.0) as u64)
    }
}

/// Counts one `action` on `object_id`; past the limit, a 429 with `Retry-After` (the end of
/// the window).
pub async fn hit(
    pool: &PgPool,
    limits: &Limits,
    action: RatedAction,
    object_id: i64,
) -> Result<(), AppError> {
    hit_named(pool, limits, action, &object_id.to_string()).await
}

/// [`hit`] for an object named by text (an email, an address).
pub async fn hit_named(
    pool: &PgPool,
    limits: &Limits,
    action: RatedAction,
    object: &str,
) -> Result<(), AppError> {
    let (hits, left): (i64, f64) = sqlx::query_as(
        "INSERT INTO rate_limit_windows AS w (key, window_start, hits) VALUES ($1, now(), 1)
         ON CONFLICT (key) DO UPDATE SET
             window_start = CASE WHEN w.window_start <= now() - make_interval(secs => $2)
                                 THEN now() ELSE w.window_start END,
             hits = CASE WHEN w.window_start <= now() - make_interval(secs => $2)
                         THEN 1 ELSE w.hits + 1 END
         RETURNING hits::int8,
                   EXTRACT(EPOCH FROM w.window_start + make_interval(secs => $2) - now())::float8",
    )
    .bind(action.key(object))
    .bind(action.window().as_secs_f64())
    .fetch_one(pool)
    .await?;
    decide(
        hits,
        action.per_window(limits),
        Duration::from_secs_f64(left.max(0.0)),
    )
    .map_err(|retry_after| AppError::RateLimited {
        retry_after,
        message: format!(
            "This can run at most {} times {} (the setting {}). Try again in {} s.",
            action.per_window(limits),
            if action.window().as_secs() == 3600 {
                "an hour"
            } else {
                "a minute"
            },
            action.setting(),
            retry_after
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hit_past_the_limit_waits_for_the_window_to_end() {
        assert_eq!(decide(10, 10, Duration::from_secs(30)), Ok(()));
        assert_eq!(decide(11, 10, Duration::from_millis(29_200)), Err(30));
        // Never "try again in 0 s".
        assert_eq!(decide(11, 10, Duration::ZERO), Err(1));
    }
}
