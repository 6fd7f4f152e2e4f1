//! Tickets and the actions on them: receive, assign, close, reopen. Replies and notes live
//! in `messages` and `notes`. Each action runs in its own transaction with its event.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;

use super::channels::Channel;
use super::contacts::{Contact, check_contact, upsert_contact_if};
use super::events::{EventKind, record_event};
use super::messages::{Message, list_messages};
use super::notes::{Note, list_notes};
pub use super::ticket_lock::TicketStatus;
use super::ticket_lock::{change_status, lock_ticket};
use super::users::{User, UserSummary, get_workspace_user};
use super::{fields, new_ulid};
use crate::error::AppError;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Ticket {
    pub id: i64,
    pub ulid: String,
    pub number: i32,
    pub subject: String,
    pub status: TicketStatus,
    pub channel: Option<Channel>,
    pub contact: Contact,
    pub assignee: Option<UserSummary>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A ticket with its conversation and private notes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub messages: Vec<Message>,
    pub notes: Vec<Note>,
}

#[derive(sqlx::FromRow)]
struct TicketRow {
    id: i64,
    ulid: String,
    number: i32,
    subject: String,
    #[sqlx(try_from = "String")]
    status: TicketStatus,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    channel_id: Option<i64>,
    channel_name: Option<String>,
    contact_id: i64,
    contact_name: String,
    contact_email: String,
    assignee_id: Option<i64>,
    assignee_name: Option<String>,
    assignee_email: Option<String>,
}

impl From<TicketRow> for Ticket {
    fn from(r: TicketRow) -> Self {
        Ticket {
            id: r.id,
            ulid: r.ulid,
            number: r.number,
            subject: r.subject,
            status: r.status,
            channel: r
                .channel_id
                .zip(r.channel_name)
                .map(|(id, name)| Channel { id, name }),
            contact: Contact {
                id: r.contact_id,
                name: r.contact_name,
                email: r.contact_email,
            },
            assignee: match (r.assignee_id, r.assignee_name, r.assignee_email) {
                (Some(id), Some(name), Some(email)) => Some(UserSummary { id, name, email }),
                _ => None,
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const TICKET_SELECT: &str = "
    SELECT t.id, t.ulid, t.number, t.subject, t.status, t.created_at, t.updated_at,
           t.channel_id, ch.name AS channel_name,
           c.id AS contact_id, c.name AS contact_name, c.email AS contact_email,
           t.assignee_id, u.name AS assignee_name, u.email AS assignee_email
    FROM tickets t
    JOIN contacts c ON c.id = t.contact_id
    LEFT JOIN channels ch ON ch.id = t.channel_id
    LEFT JOIN users u ON u.id = t.assignee_id";

pub async fn get_ticket(
    conn: &mut PgConnection,
    workspace_id: i64,
    ticket_id: i64,
) -> Result<Ticket, AppError> {
    let row: TicketRow = sqlx::query_as(&format!(
        "{TICKET_SELECT} WHERE t.id = $1 AND t.workspace_id = $2"
    ))
    .bind(ticket_id)
    .bind(workspace_id)
    .fetch_optional(conn)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(row.into())
}

pub async fn get_ticket_detail(
    pool: &PgPool,
    workspace_id: i64,
    ticket_id: i64,
) -> Result<TicketDetail, AppError> {
    let mut conn = pool.acquire().await?;
    let ticket = get_ticket(&mut conn, workspace_id, ticket_id).await?;
    let messages = list_messages(&mut conn, ticket.id).await?;
    let notes = list_notes(&mut conn, ticket.id).await?;
    Ok(TicketDetail {
        ticket,
        messages,
        notes,
    })
}

/// Which tickets a list shows.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TicketFilter {
    #[default]
    Open,
    Closed,
    All,
}

pub async fn list_tickets(
    conn: &mut PgConnection,
    workspace_id: i64,
    filter: TicketFilter,
    limit: i64,
) -> Result<Vec<Ticket>, sqlx::Error> {
    let status = match filter {
        TicketFilter::Open => Some("open"),
        TicketFilter::Closed => Some("closed"),
        TicketFilter::All => None,
    };
    let rows: Vec<TicketRow> = sqlx::query_as(&format!(
        "{TICKET_SELECT} WHERE t.workspace_id = $1 AND ($2::text IS NULL OR t.status = $2)
         ORDER BY t.updated_at DESC, t.id DESC LIMIT $3"
    ))
    .bind(workspace_id)
    .bind(status)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Ticket::from).collect())
}

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

/// The statement [`receive_ticket`] runs, built once: `$1` workspace, `$2`/`$3` contact name
/// and email, `$4` channel, `$5` ticket ulid, `$6` subject, `$7` message ulid, `$8` body,
/// `$9` the event's kind.
static RECEIVE_TICKET: LazyLock<String> = LazyLock::new(|| {
    let upsert_contact = upsert_contact_if(
        "$4::bigint IS NULL OR EXISTS (SELECT FROM channels WHERE id = $4 AND workspace_id = $1)",
    );
    format!(
        "WITH contact AS ({upsert_contact}),
         ticket AS (
             INSERT INTO tickets (ulid, workspace_id, number, subject, status, channel_id, contact_id)
             SELECT $5, $1, nextval(format('ticket_numbers.w%s', $1)::regclass), $6, 'open', $4,
                    contact.id
             FROM contact
             RETURNING id, ulid, number, subject, status, created_at, updated_at, channel_id),
         message AS (
             INSERT INTO messages (ulid, workspace_id, ticket_id, author_kind, body)
             SELECT $7, $1, ticket.id, 'contact', $8 FROM ticket
             RETURNING id),
         event AS (
             INSERT INTO events (workspace_id, ticket_id, kind, data)
             SELECT $1, ticket.id, $9, jsonb_build_object('message_id', message.id)
             FROM ticket, message
             RETURNING id)
         SELECT ticket.*, channel.name AS channel_name, contact.id AS contact_id,
                contact.name AS contact_name, contact.email AS contact_email,
                NULL::bigint AS assignee_id, NULL::text AS assignee_name,
                NULL::text AS assignee_email
         FROM ticket CROSS JOIN contact CROSS JOIN event
         LEFT JOIN channels channel ON channel.id = ticket.channel_id"
    )
});

/// A new ticket arrives from a contact: the ticket, its first message, and `ticket_opened`.
///
/// One statement ([`RECEIVE_TICKET`]), so one round trip: it checks the channel, writes the
/// contact, ticket, message and event. The number comes from the workspace's own sequence
/// (migration 0019), which holds no lock until commit, so the tickets of one workspace are
/// written in parallel. It is taken only once the channel is known to be the
/// workspace's, so a refused ticket uses up no number and touches no contact.
pub async fn receive_ticket(
    pool: &PgPool,
    workspace_id: i64,
    new: NewTicket,
) -> Result<Ticket, AppError> {
    let subject = fields::required_text("subject", "Subject", &new.subject, 500)?;
    let body = fields::required_text("body", "Message", &new.body, fields::MAX_BODY_CHARS)?;
    let contact = check_contact(&new.contact.name, &new.contact.email)?;
    let row: Option<TicketRow> = sqlx::query_as(&RECEIVE_TICKET)
        .bind(workspace_id)
        .bind(&contact.name)
        .bind(&contact.email)
        .bind(new.channel_id)
        .bind(new_ulid())
        .bind(&subject)
        .bind(new_ulid())
        .bind(&body)
        .bind(EventKind::TicketOpened.as_str())
        .fetch_optional(pool)
        .await?;
    let row = row
        .ok_or_else(|| AppError::validation("channel_id", "No such channel in this workspace."))?;
    Ok(row.into())
}

/// Assigns the ticket to `assignee_id` (or unassigns with `None`). `actor` is the user who
/// did it, or `None` for the system (an auto-assignment rule). Re-assigning to the current
/// assignee changes nothing and records nothing.
pub async fn assign_ticket(
    pool: &PgPool,
    workspace_id: i64,
    ticket_id: i64,
    actor: Option<&User>,
    assignee_id: Option<i64>,
) -> Result<Ticket, AppError> {
    let mut tx = pool.begin().await?;
    let locked = lock_ticket(&mut tx, workspace_id, ticket_id).await?;
    if let Some(assignee_id) = assignee_id
        && get_workspace_user(&mut tx, workspace_id, assignee_id)
            .await?
            .is_none()
    {
        return Err(AppError::validation(
            "user_id",
            "No such user in this workspace.",
        ));
    }
    if locked.assignee_id != assignee_id {
        sqlx::query("UPDATE tickets SET assignee_id = $2, updated_at = now() WHERE id = $1")
            .bind(locked.id)
            .bind(assignee_id)
            .execute(&mut *tx)
            .await?;
        let (kind, data) = match assignee_id {
            Some(id) => (
                EventKind::TicketAssigned,
                json!({ "assignee_id": id, "previous_assignee_id": locked.assignee_id }),
            ),
            None => (
                EventKind::TicketUnassigned,
                json!({ "previous_assignee_id": locked.assignee_id }),
            ),
        };
        record_event(
            &mut tx,
            workspace_id,
            locked.id,
            kind,
            actor.map(|u| u.id),
            data,
        )
        .await?;
    }
    let ticket = get_ticket(&mut tx, workspace_id, locked.id).await?;
    tx.commit().await?;
    Ok(ticket)
}

/// Closes or reopens the ticket. Setting the status it already has records nothing.
pub async fn set_ticket_status(
    pool: &PgPool,
    workspace_id: i64,
    ticket_id: i64,
    actor: Option<&User>,
    status: TicketStatus,
) -> Result<Ticket, AppError> {
    let mut tx = pool.begin().await?;
    let locked = lock_ticket(&mut tx, workspace_id, ticket_id).await?;
    if locked.status != status {
        change_status(&mut tx, workspace_id, &locked, actor.map(|u| u.id), status).await?;
    }
    let ticket = get_ticket(&mut tx, workspace_id, locked.id).await?;
    tx.commit().await?;
    Ok(ticket)
}
