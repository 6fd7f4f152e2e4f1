//! New tickets from contacts (as inbound email brings them), received in batches.
//!
//! Each ticket writes its contact, ticket, first message and `ticket_opened` event. Written
//! one statement and one commit per ticket, PostgreSQL's fixed work per statement and per
//! commit (plan start-up, the client round trip, the commit record and its flush) was most of
//! its CPU, and CPU is what ran out: on two cores, pgbench alone running the one-ticket
//! statement 16 at a time managed 1,540–1,600 tickets/s, the same statement over arrays of 8
//! 4,540–5,380/s. So the requests that wait at the same moment share one statement
//! ([`receive_tickets`]) through [`TicketIntake`], which holds none back: a batch is whatever
//! arrived while the previous one ran. After each batch, before the next, the intake runs
//! the step it was given for the batch's events: the service's is the webhook fan-out.

use crate::db::doorbell::Doorbell;
use std::sync::{Arc, LazyLock};

use futures_util::future::BoxFuture;

use serde::Deserialize;
use sqlx::{FromRow, PgPool, Row};
use tokio::sync::{mpsc, oneshot};
use utoipa::ToSchema;

use super::contacts::{ContactFields, check_contact, contacts_of};
use super::events::EventKind;
use super::fields;
use super::new_ulid;
use super::tickets::{Ticket, TicketRow};
use crate::error::AppError;

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewTicket {
    pub subject: String,
    pub body: String,
    pub contact: NewContact,
    pub channel_id: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewContact {
    pub name: String,
    pub email: String,
}

/// A new ticket for a workspace, checked, as a batch takes it.
pub struct Arrival {
    workspace_id: i64,
    contact: ContactFields,
    channel_id: Option<i64>,
    subject: String,
    body: String,
}

impl Arrival {
    pub fn check(workspace_id: i64, new: NewTicket) -> Result<Self, AppError> {
        Ok(Arrival {
            workspace_id,
            subject: fields::required_text("subject", "Subject", &new.subject, 500)?,
            body: fields::required_text("body", "Message", &new.body, fields::MAX_BODY_CHARS)?,
            contact: check_contact(&new.contact.name, &new.contact.email)?,
            channel_id: new.channel_id,
        })
    }
}

/// A ticket from a contact, on its own (the demo, tests): a batch of one; `bell` rings after
/// its commit.
pub async fn receive_ticket(
    pool: &PgPool,
    bell: &Doorbell,
    workspace_id: i64,
    new: NewTicket,
) -> Result<Ticket, AppError> {
    let received = receive_one(pool, &Arrival::check(workspace_id, new)?).await?;
    bell.ring();
    Ok(received.ticket)
}

async fn receive_one(pool: &PgPool, arrival: &Arrival) -> Result<Received, AppError> {
    receive_tickets(pool, std::slice::from_ref(arrival))
        .await?
        .pop()
        .flatten()
        .ok_or_else(no_such_channel)
}

fn no_such_channel() -> AppError {
    AppError::validation("channel_id", "No such channel in this workspace.")
}

/// The statement [`receive_tickets`] runs, built once. Arrays, one element per arrival:
/// `$1` workspace, `$2`/`$3` contact name and email, `$4` channel, `$5` ticket ulid,
/// `$6` subject, `$7` message ulid, `$8` body; `$9` the event's kind. An arrival whose
/// channel is not its workspace's is dropped before anything is written for it, so it takes
/// no ticket number and touches no contact. Numbers come from each workspace's own sequence
/// (migration 0019), which holds no lock until commit.
static RECEIVE_TICKETS: LazyLock<String> = LazyLock::new(|| {
    let contacts = contacts_of("arrival");
    format!(
        "WITH arrival AS (
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[],
                                  $6::text[], $7::text[], $8::text[])
                 WITH ORDINALITY
                 AS a(workspace_id, name, email, channel_id, ticket_ulid, subject, message_ulid,
                      body, position)
             WHERE a.channel_id IS NULL OR EXISTS (
                 SELECT FROM channels c WHERE c.id = a.channel_id
                 AND c.workspace_id = a.workspace_id)),
         {contacts},
         ticket AS (
             INSERT INTO tickets (ulid, workspace_id, number, subject, status, channel_id, contact_id)
             SELECT a.ticket_ulid, a.workspace_id,
                    nextval(format('ticket_numbers.w%s', a.workspace_id)::regclass), a.subject,
                    'open', a.channel_id, c.id
             FROM arrival a JOIN contact c ON c.workspace_id = a.workspace_id
                  AND lower(c.email) = lower(a.email)
             ORDER BY a.position
             RETURNING id, ulid, workspace_id, number, subject, status, created_at, updated_at,
                       channel_id, contact_id),
         message AS (
             INSERT INTO messages (ulid, workspace_id, ticket_id, author_kind, body)
             SELECT a.message_ulid, t.workspace_id, t.id, 'contact', a.body
             FROM ticket t JOIN arrival a ON a.ticket_ulid = t.ulid
             RETURNING id, ticket_id),
         event AS (
             INSERT INTO events (workspace_id, ticket_id, kind, data)
             SELECT t.workspace_id, t.id, $9, jsonb_build_object('message_id', m.id)
             FROM ticket t JOIN message m ON m.ticket_id = t.id
             RETURNING id, ticket_id)
         SELECT a.position, t.id, t.ulid, t.number, t.subject, t.status, t.created_at,
                t.updated_at, t.channel_id, channel.name AS channel_name,
                c.id AS contact_id, c.name AS contact_name, c.email AS contact_email,
                NULL::bigint AS assignee_id, NULL::text AS assignee_name,
                NULL::text AS assignee_email, e.id AS event_id
         FROM ticket t JOIN arrival a ON a.ticket_ulid = t.ulid
         JOIN contact c ON c.id = t.contact_id
         JOIN event e ON e.ticket_id = t.id
         LEFT JOIN channels channel ON channel.id = t.channel_id"
    )
});

/// A ticket received, and the `ticket_opened` event written with it.
pub struct Received {
    pub ticket: Ticket,
    pub event_id: i64,
}

/// Receives `arrivals` in one statement: for each, in order, its ticket, or `None` when its
/// channel is not its workspace's. Tickets of one contact in one batch all show the contact
/// as the batch leaves it (the name of the latest).
pub async fn receive_tickets(
    pool: &PgPool,
    arrivals: &[Arrival],
) -> Result<Vec<Option<Received>>, sqlx::Error> {
    // The text columns are bound borrowed: bodies run to 100,000 characters each.
    let text = |f: fn(&Arrival) -> &str| arrivals.iter().map(f).collect::<Vec<_>>();
    let ulids = || arrivals.iter().map(|_| new_ulid()).collect::<Vec<_>>();
    let rows = sqlx::query(&RECEIVE_TICKETS)
        .bind(arrivals.iter().map(|a| a.workspace_id).collect::<Vec<_>>())
        .bind(text(|a| &a.contact.name))
        .bind(text(|a| &a.contact.email))
        .bind(arrivals.iter().map(|a| a.channel_id).collect::<Vec<_>>())
        .bind(ulids())
        .bind(text(|a| &a.subject))
        .bind(ulids())
        .bind(text(|a| &a.body))
        .bind(EventKind::TicketOpened.as_str())
        .fetch_all(pool)
        .await?;
    let mut tickets: Vec<Option<Received>> = arrivals.iter().map(|_| None).collect();
    for row in rows {
        let position: i64 = row.try_get("position")?;
        let slot = usize::try_from(position - 1)
            .ok()
            .and_then(|i| tickets.get_mut(i))
            .ok_or_else(|| sqlx::Error::Protocol(format!("no arrival at {position}")))?;
        *slot = Some(Received {
            ticket: TicketRow::from_row(&row)?.into(),
            event_id: row.try_get("event_id")?,
        });
    }
    Ok(tickets)
}

/// Most arrivals one statement takes (bodies are capped, so a batch stays a few MB at most).
const MOST_PER_BATCH: usize = 64;

/// What the intake runs after each batch has committed and been answered, before the next
/// batch starts, given the ids of the batch's new events.
pub type AfterBatch = Arc<dyn Fn(Vec<i64>) -> BoxFuture<'static, ()> + Send + Sync>;

/// Where requests hand their new tickets; cheap to clone. Its task ends with the last clone.
#[derive(Clone)]
pub struct TicketIntake {
    waiting: mpsc::Sender<Waiting>,
}

struct Waiting {
    arrival: Arrival,
    answer: oneshot::Sender<Result<Ticket, AppError>>,
}

impl TicketIntake {
    /// `bell` rings after each batch that recorded events has committed.
    pub fn spawn(pool: PgPool, bell: Doorbell, after_batch: Option<AfterBatch>) -> Self {
        let (waiting, arrived) = mpsc::channel(4 * MOST_PER_BATCH);
        tokio::spawn(gather(pool, bell, arrived, after_batch));
        TicketIntake { waiting }
    }

    /// Receives a ticket in the next batch; checked first, so bad input waits for nothing.
    pub async fn receive(&self, workspace_id: i64, new: NewTicket) -> Result<Ticket, AppError> {
        let arrival = Arrival::check(workspace_id, new)?;
        let (answer, answered) = oneshot::channel();
        let gone = || AppError::Internal(anyhow::anyhow!("the ticket intake has stopped"));
        self.waiting
            .send(Waiting { arrival, answer })
            .await
            .map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}

/// Takes the arrivals that wait, one batch at a time: what arrives while a batch runs joins
/// the next. One at a time rather than several: the requests that wait are as many, the
/// batches larger, and intake holds one database connection, not four, while webhook
/// delivery shares the cores (`benches/ab/run.sh`, 3 pairs against 4 at once: tickets alone
/// 1,697-1,938 against 1,478-1,829/s; end to end 4,371-5,127 against 3,942-4,259
/// deliveries/s, event to first attempt p99 0.78-1.16 against 1.61-1.65 s).
///
/// `after_batch` runs before the next batch starts: a burst of tickets thus pays for the work
/// its events make (the service fans them out to webhooks) instead of handing it on faster
/// than it can be done. Measured with the fan-out there: deliveries kept pace with the
/// tickets, event to first attempt p99 0.99-1.05 s → 0.18-0.32 s, for a tenth less of
/// deliveries/s end to end (BENCHMARKS.md). Its cost depends on how many destinations listen,
/// never on how their receivers behave.
async fn gather(
    pool: PgPool,
    bell: Doorbell,
    mut arrived: mpsc::Receiver<Waiting>,
    after_batch: Option<AfterBatch>,
) {
    while let Some(first) = arrived.recv().await {
        let mut batch = vec![first];
        while batch.len() < MOST_PER_BATCH
            && let Ok(next) = arrived.try_recv()
        {
            batch.push(next);
        }
        // A request that went away before its batch started gets no ticket.
        batch.retain(|w| !w.answer.is_closed());
        let events = answer_batch(&pool, batch).await;
        if !events.is_empty() {
            bell.ring();
        }
        if let Some(after_batch) = &after_batch
            && !events.is_empty()
        {
            after_batch(events).await;
        }
    }
}

/// Answers each request of `batch`; returns the events written.
async fn answer_batch(pool: &PgPool, batch: Vec<Waiting>) -> Vec<i64> {
    if batch.is_empty() {
        return Vec::new();
    }
    let (arrivals, answers): (Vec<Arrival>, Vec<_>) =
        batch.into_iter().map(|w| (w.arrival, w.answer)).unzip();
    let mut events = Vec::new();
    let mut answer = |received: Result<Received, AppError>, to: oneshot::Sender<_>| {
        let _ = to.send(received.map(|r| {
            events.push(r.event_id);
            r.ticket
        }));
    };
    match receive_tickets(pool, &arrivals).await {
        Ok(tickets) => {
            for (received, to) in tickets.into_iter().zip(answers) {
                answer(received.ok_or_else(no_such_channel), to);
            }
        }
        // Nothing of the batch was written: each goes again alone, so one arrival's error
        // (or two batches deadlocked on the same new contacts) reaches only its own request.
        Err(err) => {
            tracing::warn!(tickets = arrivals.len(), error = %err,
                "receiving a batch of tickets failed; receiving each alone");
            for (arrival, to) in arrivals.iter().zip(answers) {
                answer(receive_one(pool, arrival).await, to);
            }
        }
    }
    events
}
