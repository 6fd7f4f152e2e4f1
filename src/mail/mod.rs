//! Outgoing mail: queued in the `mail_outbox` table inside the transaction that decided to
//! send it (so a crash cannot lose it), then delivered by a background sender over SMTP.

pub mod outbox;
pub mod sender;

use secrecy::SecretString;

pub use outbox::{OutgoingMail, enqueue_mail};

/// Where mail goes (`SMTP_URL`; unset: kept in the outbox and logged) and who it is from
/// (`MAIL_FROM`).
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub smtp_url: Option<SecretString>,
    pub from: String,
}
