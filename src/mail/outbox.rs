//! The mail outbox table: enqueue inside a transaction, claim due mail with a lease.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// Postgres channel notified when mail is queued, so the sender wakes at once.
pub const NOTIFY_CHANNEL: &str = "therethere_mail";

pub struct OutgoingMail<'a> {
    pub workspace_id: Option<i64>,
    pub to: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    /// The body carries a single-use link: never logged, and erased once sent.
    pub holds_secret: bool,
}

/// Queues a mail; call it on the transaction whose commit means "send it".
pub async fn enqueue_mail(
    conn: &mut PgConnection,
    mail: OutgoingMail<'_>,
) -> Result<i64, sqlx::Error> {
    let id = sqlx::query_scalar(
        "INSERT INTO mail_outbox (workspace_id, to_address, subject, body, holds_secret)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(mail.workspace_id)
    .bind(mail.to)
    .bind(mail.subject)
    .bind(mail.body)
    .bind(mail.holds_secret)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(NOTIFY_CHANNEL)
        .execute(conn)
        .await?;
    Ok(id)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueuedMail {
    pub id: i64,
    pub to_address: String,
    pub subject: String,
    pub body: String,
    pub attempts: i32,
    pub logged_at: Option<DateTime<Utc>>,
    pub holds_secret: bool,
}

/// Claims up to `limit` due mails for `lease_seconds`; a crashed sender's claims expire.
pub async fn claim_due_mail(
    pool: &PgPool,
    limit: i64,
    lease_seconds: i64,
) -> Result<Vec<QueuedMail>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE mail_outbox SET locked_until = now() + make_interval(secs => $2), attempts = attempts + 1
         WHERE id IN (
             SELECT id FROM mail_outbox
             WHERE sent_at IS NULL AND next_attempt_at <= now()
               AND (locked_until IS NULL OR locked_until < now())
             ORDER BY next_attempt_at, id
             LIMIT $1
             FOR UPDATE SKIP LOCKED)
         RETURNING id, to_address, subject, body, attempts, logged_at, holds_secret",
    )
    .bind(limit)
    .bind(lease_seconds as f64)
    .fetch_all(pool)
    .await
}

/// A sent mail's single-use link is erased: the recipient has it, nobody else needs it.
pub async fn mark_sent(pool: &PgPool, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE mail_outbox SET sent_at = now(), locked_until = NULL, last_error = NULL,
                body = CASE WHEN holds_secret THEN '[erased once sent: it held a single-use link]' ELSE body END
         WHERE id = $1",
    )
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Without SMTP the mail stays queued (it is sent once SMTP is configured); it is logged
/// once, and checked again only rarely.
pub async fn mark_logged(pool: &PgPool, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE mail_outbox SET logged_at = COALESCE(logged_at, now()), locked_until = NULL,
                next_attempt_at = now() + interval '1 hour' WHERE id = $1",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Retries with a growing wait: 1, 2, 4, ... minutes, at most an hour.
pub async fn mark_failed(
    pool: &PgPool,
    id: i64,
    attempts: i32,
    error: &str,
) -> Result<(), sqlx::Error> {
    let wait_minutes = 2_i64.pow(attempts.clamp(1, 7) as u32 - 1).min(60);
    sqlx::query(
        "UPDATE mail_outbox SET last_error = $2, locked_until = NULL,
                next_attempt_at = now() + make_interval(mins => $3) WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(wait_minutes as i32)
    .execute(pool)
    .await?;
    Ok(())
}

/// Mail neither sent nor logged yet, for `/metrics`.
pub async fn depth(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL AND logged_at IS NULL",
    )
    .fetch_one(pool)
    .await
}
