//! Disabling a destination that keeps failing, or on the receiver's word (a 410 Gone), with
//! notice: its page and the API say when and why, and whoever manages it gets one email (the
//! owner of a personal destination; the workspace's owner and admins for a workspace one).
//! A failing streak is counted in deliveries that failed every attempt; a delivered one ends
//! it; at half the limit the managers are warned once.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::{PgConnection, PgPool};

use crate::app_url::AppUrl;
use crate::mail::{OutgoingMail, enqueue_mail};

/// The reason a 410 gives, as the page and the email show it.
pub const GONE_REASON: &str = "the receiver answered 410 Gone, which means it is gone for good";

/// How long a failing streak may grow before the destination is disabled: `failures`
/// deliveries in a row that failed every attempt, the first at least `span` ago.
#[derive(Debug, Clone, PartialEq)]
pub struct Streaks {
    pub failures: i32,
    pub span: Duration,
}

impl Default for Streaks {
    fn default() -> Self {
        Streaks {
            failures: 10,
            span: Duration::from_secs(24 * 3_600),
        }
    }
}

impl Streaks {
    /// The streak at which the managers are warned.
    pub fn warn_at(&self) -> i32 {
        (self.failures + 1) / 2
    }
}

/// How a batch of finished deliveries changes one destination's streak.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StreakChange {
    /// A delivery succeeded: the streak starts again from the failures after it.
    pub reset: bool,
    /// Deliveries that failed every attempt (after the last success, if any).
    pub failed: i32,
    pub last_error: Option<String>,
}

/// Folds finished deliveries, in order, into each destination's change: `(destination,
/// succeeded, error)`.
pub fn streak_changes<'a>(
    finished: impl IntoIterator<Item = (i64, bool, Option<&'a str>)>,
) -> HashMap<i64, StreakChange> {
    let mut changes: HashMap<i64, StreakChange> = HashMap::new();
    for (destination, succeeded, error) in finished {
        let change = changes.entry(destination).or_default();
        if succeeded {
            *change = StreakChange {
                reset: true,
                ..StreakChange::default()
            };
        } else {
            change.failed += 1;
            change.last_error = error.map(str::to_string);
        }
    }
    changes
}

/// Applies a batch's changes: streaks that only ended in one statement (writing nothing where
/// there was none), then each growing streak.
pub async fn apply_streaks(
    pool: &PgPool,
    app_url: &AppUrl,
    streaks: &Streaks,
    changes: &HashMap<i64, StreakChange>,
) -> Result<(), sqlx::Error> {
    let ended: Vec<i64> = changes
        .iter()
        .filter(|(_, c)| c.failed == 0)
        .map(|(id, _)| *id)
        .collect();
    if !ended.is_empty() {
        sqlx::query(
            "UPDATE webhook_destinations
             SET failed_deliveries = 0, failing_since = NULL, failure_warned = false
             WHERE id = ANY($1) AND failed_deliveries > 0",
        )
        .bind(&ended)
        .execute(pool)
        .await?;
    }
    for (id, change) in changes.iter().filter(|(_, c)| c.failed > 0) {
        apply_streak(pool, app_url, streaks, *id, change).await?;
    }
    Ok(())
}

/// Applies one destination's growing streak; warns its managers at half the limit and
/// disables it at the limit once the streak spans long enough.
async fn apply_streak(
    pool: &PgPool,
    app_url: &AppUrl,
    streaks: &Streaks,
    id: i64,
    change: &StreakChange,
) -> Result<(), sqlx::Error> {
    let row: Option<(i32, bool, f64)> = sqlx::query_as(
        "UPDATE webhook_destinations SET
             failed_deliveries = CASE WHEN $2 THEN 0 ELSE failed_deliveries END + $3,
             failing_since = CASE WHEN $2 OR failing_since IS NULL THEN now() ELSE failing_since END,
             failure_warned = failure_warned AND NOT $2,
             last_failure = $4
         WHERE id = $1 AND enabled
         RETURNING failed_deliveries, failure_warned,
                   EXTRACT(EPOCH FROM now() - failing_since)::float8",
    )
    .bind(id)
    .bind(change.reset)
    .bind(change.failed)
    .bind(change.last_error.as_deref())
    .fetch_optional(pool)
    .await?;
    let Some((failed, warned, spanning)) = row else {
        return Ok(());
    };
    let error = change.last_error.as_deref().unwrap_or("failed");
    if failed >= streaks.failures && spanning >= streaks.span.as_secs_f64() {
        let reason = format!(
            "{failed} deliveries in a row failed every attempt, the first {} ago",
            describe_span(Duration::from_secs_f64(spanning))
        );
        disable_with_notice(pool, app_url, id, &reason, error).await?;
    } else if failed >= streaks.warn_at() && !warned {
        warn_failing(pool, app_url, streaks, id, failed, error).await?;
    }
    Ok(())
}

/// "26 hours", "1 minute", "5 seconds".
fn describe_span(span: Duration) -> String {
    let (n, unit) = match span.as_secs() {
        s if s >= 3_600 => (s / 3_600, "hour"),
        s if s >= 60 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Marks the streak warned and mails the managers once.
async fn warn_failing(
    pool: &PgPool,
    app_url: &AppUrl,
    streaks: &Streaks,
    id: i64,
    failed: i32,
    last_error: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let row: Option<Noticed> = sqlx::query_as(
        "UPDATE webhook_destinations SET failure_warned = true
         WHERE id = $1 AND enabled AND NOT failure_warned
         RETURNING workspace_id, owner_user_id, name, url",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(noticed) = row else {
        return Ok(());
    };
    let (label, url) = (noticed.label(), &noticed.url);
    let subject = format!("Webhook \u{201c}{label}\u{201d} is failing");
    let body = format!(
        "The last {failed} deliveries to the webhook \u{201c}{label}\u{201d} ({url}) failed every attempt.\n\n\
         Last error: {last_error}\n\nAfter {} in a row{}, it will be disabled. \
         One delivered notification ends the count. Its deliveries:\n{}\n",
        streaks.failures,
        if streaks.span.is_zero() {
            String::new()
        } else {
            format!(", the first at least {} ago", describe_span(streaks.span))
        },
        app_url.link(&format!("/settings/webhooks/{id}/deliveries"))
    );
    noticed.mail_managers(&mut tx, &subject, &body).await?;
    tx.commit().await
}

/// A destination whose managers are being told something: what the notice names it by, and
/// who they are.
#[derive(sqlx::FromRow)]
struct Noticed {
    workspace_id: i64,
    owner_user_id: Option<i64>,
    name: String,
    url: String,
}

impl Noticed {
    /// Its name, or its URL when it has none.
    fn label(&self) -> &str {
        if self.name.is_empty() {
            &self.url
        } else {
            &self.name
        }
    }

    /// Queues one mail to each manager: the owner of a personal destination, else the
    /// workspace's owner and admins.
    async fn mail_managers(
        &self,
        conn: &mut PgConnection,
        subject: &str,
        body: &str,
    ) -> Result<(), sqlx::Error> {
        let recipients: Vec<String> = sqlx::query_scalar(
            "SELECT email FROM users WHERE workspace_id = $1 AND deactivated_at IS NULL
               AND (id = $2 OR ($2 IS NULL AND role IN ('owner', 'admin')))
             ORDER BY id",
        )
        .bind(self.workspace_id)
        .bind(self.owner_user_id)
        .fetch_all(&mut *conn)
        .await?;
        for to in &recipients {
            enqueue_mail(
                &mut *conn,
                OutgoingMail {
                    workspace_id: Some(self.workspace_id),
                    to,
                    subject,
                    body,
                    holds_secret: false,
                },
            )
            .await?;
        }
        Ok(())
    }
}

/// Disables destination `id` for `reason` (with the attempt's `last_error`) and mails its
/// managers, all in one transaction; true when this call disabled it (a destination already
/// disabled is left as it is, and nobody is mailed twice).
pub async fn disable_with_notice(
    pool: &PgPool,
    app_url: &AppUrl,
    id: i64,
    reason: &str,
    last_error: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let row: Option<Noticed> = sqlx::query_as(
        "UPDATE webhook_destinations
         SET enabled = false, disabled_at = now(), disabled_reason = $2, updated_at = now()
         WHERE id = $1 AND enabled
         RETURNING workspace_id, owner_user_id, name, url",
    )
    .bind(id)
    .bind(reason)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(noticed) = row else {
        return Ok(false);
    };
    let (label, url) = (noticed.label(), &noticed.url);
    let subject = format!("Webhook \u{201c}{label}\u{201d} was disabled");
    let body = format!(
        "The webhook \u{201c}{label}\u{201d} ({url}) was disabled: {reason}.\n\nLast error: {last_error}\n\n\
         Nothing is sent to it until it is enabled again. Check the receiver, then enable it here:\n{}\n",
        app_url.link(&format!("/settings/webhooks/{id}"))
    );
    noticed.mail_managers(&mut tx, &subject, &body).await?;
    tx.commit().await?;
    tracing::warn!(destination.id = id, reason, "webhook destination disabled");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_ends_a_streak_and_only_the_failures_after_it_count() {
        let changes = streak_changes([
            (1, false, Some("HTTP 500")),
            (2, true, None),
            (1, true, None),
            (1, false, Some("timed out")),
            (3, false, Some("HTTP 502")),
            (3, false, Some("HTTP 503")),
        ]);
        let change = |reset, failed, error: Option<&str>| StreakChange {
            reset,
            failed,
            last_error: error.map(str::to_string),
        };
        assert_eq!(changes[&1], change(true, 1, Some("timed out")));
        assert_eq!(changes[&2], change(true, 0, None));
        assert_eq!(changes[&3], change(false, 2, Some("HTTP 503")));
        assert_eq!(Streaks::default().warn_at(), 5);
        let three = Streaks {
            failures: 3,
            span: Duration::ZERO,
        };
        assert_eq!(three.warn_at(), 2);
        let span = |s| describe_span(Duration::from_secs(s));
        assert_eq!(
            [span(0), span(1), span(61), span(3_600), span(93_600)],
            ["0 seconds", "1 second", "1 minute", "1 hour", "26 hours"]
        );
    }
}
