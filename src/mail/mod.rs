//! Outgoing mail: queued in the `mail_outbox` table inside the transaction that decided to
//! send it (so a crash cannot lose it), then delivered by a background sender over SMTP.

pub mod outbox;
pub mod sender;

pub use outbox::{OutgoingMail, enqueue_mail};
