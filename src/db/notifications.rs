//! `LISTEN` on a connection of its own that comes back by itself: the one way background
//! work hears of new rows (events, deliveries, mail, credential changes). A lost connection
//! is reported, then re-opened after a wait that doubles up to `MAX_BACKOFF`, so a database
//! restart costs a few reconnects and no busy loop.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::time::Instant;

const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What [`Notifications::next`] heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// Now listening (the first time, or again after a loss): anything sent while not
    /// listening was missed, so look at the table.
    Listening,
    /// A notification arrived on one of the channels, with its payload.
    Notified(String),
    /// The connection is gone; notifications may be missed until the next `Listening`.
    Lost,
}

pub struct Notifications {
    pool: PgPool,
    channels: Vec<&'static str>,
    listener: Option<PgListener>,
    /// When to try connecting again after a failure or a loss (a deadline, not a sleep, so a
    /// caller that drops `next` in a `select!` does not restart the wait).
    retry_at: Option<Instant>,
    backoff: Duration,
}

impl Notifications {
    /// Listens on `channels` once `next` is first awaited.
    pub fn new(pool: &PgPool, channels: &[&'static str]) -> Self {
        Notifications {
            pool: pool.clone(),
            channels: channels.to_vec(),
            listener: None,
            retry_at: None,
            backoff: FIRST_BACKOFF,
        }
    }

    /// Waits for the next signal. Cancel-safe: a `select!` may drop it at any await.
    pub async fn next(&mut self) -> Signal {
        loop {
            let Some(listener) = self.listener.as_mut() else {
                if let Some(at) = self.retry_at {
                    tokio::time::sleep_until(at).await;
                }
                match self.connect().await {
                    Ok(listener) => {
                        self.listener = Some(listener);
                        self.retry_at = None;
                        self.backoff = FIRST_BACKOFF;
                        // Listening again is the first sign an outage has ended.
                        super::outage::recovered();
                        return Signal::Listening;
                    }
                    Err(err) => {
                        tracing::warn!(channels = ?self.channels, error = %err, "LISTEN failed; retrying");
                        self.wait_before_retry();
                        continue;
                    }
                }
            };
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    return Signal::Notified(notification.payload().to_owned());
                }
                // `Ok(None)`: the connection dropped (what was sent meanwhile is lost).
                Ok(None) | Err(_) => {
                    self.listener = None;
                    self.wait_before_retry();
                    return Signal::Lost;
                }
            }
        }
    }

    /// Takes every notification already received without waiting; true if there was any.
    /// Lets a caller that waited treat a burst of notifications as one.
    pub fn take_buffered(&mut self) -> bool {
        let mut any = false;
        if let Some(listener) = self.listener.as_mut() {
            while listener.next_buffered().is_some() {
                any = true;
            }
        }
        any
    }

    fn wait_before_retry(&mut self) {
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    async fn connect(&self) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen_all(self.channels.iter().copied()).await?;
        Ok(listener)
    }
}
