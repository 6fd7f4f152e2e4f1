//! Tickets and the actions on them: assign, close, reopen. New tickets arrive through
//! `intake`; replies and notes live in `messages` and `notes`. Each action runs in its own
//! transaction with its event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;

use super::channels::Channel;
use super::contacts::Contact;
use super::events::{EventKind, record_event};
use super::messages::{Message, list_messages};
use super::notes::{Note, list_notes};
pub use super::thread::ThreadPage;
pub use super::ticket_lock::TicketStatus;
use super::ticket_lock::{change_status, lock_ticket};
use super::users::{User, UserSummary, is_active_user};
use crate::db::doorbell::Doorbell;
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
    /// The newest messages (50 unless asked), oldest first.
    pub messages: Vec<Message>,
    /// The newest notes (50 unless asked), oldest first.
    pub notes: Vec<Note>,
    /// When earlier messages exist: pass it as `messages_before` to read them.
    pub earlier_messages_before: Option<i64>,
    /// When earlier notes exist: pass it as `notes_before` to read them.
    pub earlier_notes_before: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(super) struct TicketRow {
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
    #[sqlx(default)]
    assignee_deactivated: bool,
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
                (Some(id), Some(name), Some(email)) => Some(UserSummary {
                    id,
                    name,
                    email,
                    deactivated: r.assignee_deactivated,
                }),
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
           t.assignee_id, u.name AS assignee_name, u.email AS assignee_email,
           u.deactivated_at IS NOT NULL AS assignee_deactivated
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

/// A ticket with a page of its messages and a page of its notes: reading a ticket costs the
/// same however long its thread has grown.
pub async fn get_ticket_detail(
    pool: &PgPool,
    workspace_id: i64,
    ticket_id: i64,
    messages_page: ThreadPage,
    notes_page: ThreadPage,
) -> Result<TicketDetail, AppError> {
    let mut conn = pool.acquire().await?;
    let ticket = get_ticket(&mut conn, workspace_id, ticket_id).await?;
    let (messages, earlier_messages) = list_messages(&mut conn, ticket.id, messages_page).await?;
    let (notes, earlier_notes) = list_notes(&mut conn, ticket.id, notes_page).await?;
    Ok(TicketDetail {
        earlier_messages_before: earlier_messages.then(|| messages[0].id),
        earlier_notes_before: earlier_notes.then(|| notes[0].id),
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

/// Assigns the ticket to `assignee_id` (or unassigns with `None`). `actor` is the user who
/// did it, or `None` for the system (an auto-assignment rule). Re-assigning to the current
/// assignee changes nothing and records nothing.
pub async fn assign_ticket(
    pool: &PgPool,
    bell: &Doorbell,
    workspace_id: i64,
    ticket_id: i64,
    actor: Option<&User>,
    assignee_id: Option<i64>,
) -> Result<Ticket, AppError> {
    let mut tx = pool.begin().await?;
    let locked = lock_ticket(&mut tx, workspace_id, ticket_id).await?;
    if let Some(assignee_id) = assignee_id
        && locked.assignee_id != Some(assignee_id)
        && !is_active_user(&mut tx, workspace_id, assignee_id).await?
    {
        return Err(AppError::validation(
            "user_id",
            "No such active user in this workspace.",
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
    bell.ring();
    Ok(ticket)
}

/// Closes or reopens the ticket. Setting the status it already has records nothing.
pub async fn set_ticket_status(
    pool: &PgPool,
    bell: &Doorbell,
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
    bell.ring();
    Ok(ticket)
}
