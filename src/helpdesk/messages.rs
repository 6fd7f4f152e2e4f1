//! Messages: the conversation with the contact, written by the contact or by an agent.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;

use super::events::{EventKind, record_event};
use super::thread::ThreadPage;
use super::ticket_lock::{TicketStatus, change_status, lock_ticket, touch_ticket};
use super::users::{User, UserSummary};
use super::{fields, new_ulid};
use crate::db::doorbell::Doorbell;
use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Author {
    Contact,
    Agent,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Message {
    pub id: i64,
    pub ulid: String,
    pub from: Author,
    /// The agent who wrote it; null for the contact's messages.
    pub author: Option<UserSummary>,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    ulid: String,
    author_kind: String,
    author_user_id: Option<i64>,
    author_name: Option<String>,
    author_email: Option<String>,
    #[sqlx(default)]
    author_deactivated: bool,
    body: String,
    created_at: DateTime<Utc>,
}

impl From<MessageRow> for Message {
    fn from(r: MessageRow) -> Self {
        Message {
            id: r.id,
            ulid: r.ulid,
            from: if r.author_kind == "agent" {
                Author::Agent
            } else {
                Author::Contact
            },
            author: match (r.author_user_id, r.author_name, r.author_email) {
                (Some(id), Some(name), Some(email)) => Some(UserSummary {
                    id,
                    name,
                    email,
                    deactivated: r.author_deactivated,
                }),
                _ => None,
            },
            body: r.body,
            created_at: r.created_at,
        }
    }
}

const MESSAGE_SELECT: &str = "
    SELECT m.id, m.ulid, m.author_kind, m.author_user_id, u.name AS author_name, u.email AS author_email,
           u.deactivated_at IS NOT NULL AS author_deactivated, m.body, m.created_at
    FROM messages m LEFT JOIN users u ON u.id = m.author_user_id";

/// A ticket holds at most this many messages; one more is refused (409).
pub const MAX_PER_TICKET: i64 = 5_000;

/// The newest `page.limit` messages before `page.before`, oldest first, and whether earlier
/// ones exist.
pub async fn list_messages(
    conn: &mut PgConnection,
    ticket_id: i64,
    page: ThreadPage,
) -> Result<(Vec<Message>, bool), sqlx::Error> {
    let rows: Vec<MessageRow> = sqlx::query_as(&format!(
        "{MESSAGE_SELECT} WHERE m.ticket_id = $1 AND ($2::int8 IS NULL OR m.id < $2)
         ORDER BY m.id DESC LIMIT $3"
    ))
    .bind(ticket_id)
    .bind(page.before)
    .bind(page.rows_to_fetch())
    .fetch_all(conn)
    .await?;
    let (rows, earlier) = page.from_newest(rows);
    Ok((rows.into_iter().map(Message::from).collect(), earlier))
}

/// Refuses one more message on a ticket that holds the most it may (under its lock).
async fn ensure_room(conn: &mut PgConnection, ticket_id: i64) -> Result<(), AppError> {
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE ticket_id = $1")
        .bind(ticket_id)
        .fetch_one(conn)
        .await?;
    if count >= MAX_PER_TICKET {
        return Err(AppError::conflict(
            "body",
            format!(
                "This ticket holds {MAX_PER_TICKET} messages, the most one ticket may: open a new ticket."
            ),
        ));
    }
    Ok(())
}

/// Inserts a message; `agent` is `None` for the contact's own messages.
pub(crate) async fn insert_message(
    conn: &mut PgConnection,
    workspace_id: i64,
    ticket_id: i64,
    agent: Option<&User>,
    body: &str,
) -> Result<Message, sqlx::Error> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (ulid, workspace_id, ticket_id, author_kind, author_user_id, body)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(new_ulid())
    .bind(workspace_id)
    .bind(ticket_id)
    .bind(if agent.is_some() { "agent" } else { "contact" })
    .bind(agent.map(|u| u.id))
    .bind(body)
    .fetch_one(&mut *conn)
    .await?;
    let row: MessageRow = sqlx::query_as(&format!("{MESSAGE_SELECT} WHERE m.id = $1"))
        .bind(id)
        .fetch_one(conn)
        .await?;
    Ok(row.into())
}

/// The contact replies. A reply to a closed ticket reopens it, as the contact expects an
/// answer: `ticket_reopened` is recorded before `contact_replied`.
pub async fn add_contact_reply(
    pool: &PgPool,
    bell: &Doorbell,
    workspace_id: i64,
    ticket_id: i64,
    body: &str,
) -> Result<Message, AppError> {
    let body = fields::required_text("body", "Message", body, fields::MAX_BODY_CHARS)?;
    let mut tx = pool.begin().await?;
    let locked = lock_ticket(&mut tx, workspace_id, ticket_id).await?;
    if locked.status == TicketStatus::Closed {
        change_status(&mut tx, workspace_id, &locked, None, TicketStatus::Open).await?;
    }
    ensure_room(&mut tx, locked.id).await?;
    let message = insert_message(&mut tx, workspace_id, locked.id, None, &body).await?;
    touch_ticket(&mut tx, locked.id).await?;
    // The assignee at the time of the reply: who "my assigned ticket" meant when it happened.
    record_event(
        &mut tx,
        workspace_id,
        locked.id,
        EventKind::ContactReplied,
        None,
        json!({ "message_id": message.id, "assignee_id": locked.assignee_id }),
    )
    .await?;
    tx.commit().await?;
    bell.ring();
    Ok(message)
}

/// An agent replies to the contact.
pub async fn add_agent_reply(
    pool: &PgPool,
    bell: &Doorbell,
    workspace_id: i64,
    ticket_id: i64,
    agent: &User,
    body: &str,
) -> Result<Message, AppError> {
    let body = fields::required_text("body", "Reply", body, fields::MAX_BODY_CHARS)?;
    let mut tx = pool.begin().await?;
    let locked = lock_ticket(&mut tx, workspace_id, ticket_id).await?;
    ensure_room(&mut tx, locked.id).await?;
    let message = insert_message(&mut tx, workspace_id, locked.id, Some(agent), &body).await?;
    touch_ticket(&mut tx, locked.id).await?;
    record_event(
        &mut tx,
        workspace_id,
        locked.id,
        EventKind::AgentReplied,
        Some(agent.id),
        json!({ "message_id": message.id }),
    )
    .await?;
    tx.commit().await?;
    bell.ring();
    Ok(message)
}
