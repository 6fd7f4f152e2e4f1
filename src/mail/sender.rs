//! The background mail sender: wakes on NOTIFY (or every poll interval), claims due mail,
//! sends it over SMTP with no database connection held, and records the result.

use std::sync::Arc;
use std::time::Duration;

use crate::db::notifications::Notifications;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::MailSettings;
use super::outbox::{self, NOTIFY_CHANNEL, QueuedMail};
use crate::metrics::Metrics;

const POLL_INTERVAL: Duration = Duration::from_secs(10);
const LEASE_SECONDS: i64 = 60;

pub struct MailSender {
    pool: PgPool,
    metrics: Arc<Metrics>,
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl MailSender {
    pub fn new(
        pool: PgPool,
        settings: &MailSettings,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let transport = match &settings.smtp_url {
            Some(url) => {
                Some(AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())?.build())
            }
            None => None,
        };
        let from = settings
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("MAIL_FROM is not a valid address: {e}"))?;
        Ok(MailSender {
            pool,
            metrics,
            transport,
            from,
        })
    }

    /// Runs until `cancel` fires.
    pub async fn run(self, cancel: CancellationToken) {
        let mut notifications = Notifications::new(&self.pool, &[NOTIFY_CHANNEL]);
        loop {
            if let Err(err) = self.send_due().await {
                tracing::warn!(error = %err, "mail sender: a round failed");
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = notifications.next() => {},
                _ = tokio::time::sleep(POLL_INTERVAL) => {},
            }
        }
    }

    /// Sends every due mail, a batch at a time.
    pub async fn send_due(&self) -> Result<(), sqlx::Error> {
        loop {
            let batch = outbox::claim_due_mail(&self.pool, 20, LEASE_SECONDS).await?;
            if batch.is_empty() {
                return Ok(());
            }
            for mail in batch {
                self.send_one(mail).await?;
            }
        }
    }

    async fn send_one(&self, mail: QueuedMail) -> Result<(), sqlx::Error> {
        let Some(transport) = &self.transport else {
            if mail.logged_at.is_none() && mail.holds_secret {
                // Its link would let whoever reads the log in.
                tracing::info!(mail.id = mail.id, to = %mail.to_address, subject = %mail.subject,
                    "no SMTP_URL configured: mail kept in the outbox (its body holds a single-use link, so it is not logged)");
            } else if mail.logged_at.is_none() {
                tracing::info!(mail.id = mail.id, to = %mail.to_address, subject = %mail.subject, body = %mail.body,
                    "no SMTP_URL configured: mail kept in the outbox");
            }
            return outbox::mark_logged(&self.pool, mail.id).await;
        };
        let message = match self.build(&mail) {
            Ok(m) => m,
            Err(err) => {
                self.metrics.mail_send_failed();
                return outbox::mark_failed(&self.pool, mail.id, mail.attempts, &err).await;
            }
        };
        match transport.send(message).await {
            Ok(_) => {
                tracing::info!(mail.id = mail.id, "mail sent");
                outbox::mark_sent(&self.pool, mail.id).await
            }
            Err(err) => {
                tracing::warn!(mail.id = mail.id, error = %err, "sending mail failed; will retry");
                self.metrics.mail_send_failed();
                outbox::mark_failed(&self.pool, mail.id, mail.attempts, &err.to_string()).await
            }
        }
    }

    fn build(&self, mail: &QueuedMail) -> Result<Message, String> {
        let to: Mailbox = mail
            .to_address
            .parse()
            .map_err(|e| format!("bad recipient: {e}"))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| e.to_string())
    }
}
