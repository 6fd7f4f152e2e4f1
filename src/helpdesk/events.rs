//! Domain events: the transactional outbox. Every ticket action records its event in the
//! same transaction as its change, so consumers (webhooks) see exactly what committed.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use utoipa::ToSchema;

/// Postgres channel notified after each commit that recorded events (the domain functions
/// that record them ring their `Doorbell` right after committing), so consumers wake without
/// waiting for their poll. Not from inside the writing transaction: see `db::doorbell`.
pub const NOTIFY_CHANNEL: &str = "therethere_events";

/// Wakes every instance's event consumers at once, for a writer outside a serving process
/// (a command such as `demo`, an importer) after the commit of what it recorded; a serving
/// process rings its batching doorbell instead (`db::doorbell`).
pub async fn announce(pool: &sqlx::PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(NOTIFY_CHANNEL)
        .execute(pool)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    TicketOpened,
    TicketReopened,
    ContactReplied,
    AgentReplied,
    TicketAssigned,
    TicketUnassigned,
    NoteAdded,
    TicketClosed,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::TicketOpened => "ticket_opened",
            EventKind::TicketReopened => "ticket_reopened",
            EventKind::ContactReplied => "contact_replied",
            EventKind::AgentReplied => "agent_replied",
            EventKind::TicketAssigned => "ticket_assigned",
            EventKind::TicketUnassigned => "ticket_unassigned",
            EventKind::NoteAdded => "note_added",
            EventKind::TicketClosed => "ticket_closed",
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Event {
    pub id: i64,
    pub ticket_id: i64,
    pub kind: String,
    /// The user who acted; null when the contact or the system did.
    pub actor_id: Option<i64>,
    #[schema(value_type = Object)]
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

/// Records an event; call it on the transaction that makes the change.
pub async fn record_event(
    conn: &mut PgConnection,
    workspace_id: i64,
    ticket_id: i64,
    kind: EventKind,
    actor_id: Option<i64>,
    data: Value,
) -> Result<i64, sqlx::Error> {
    let id = sqlx::query_scalar(
        "INSERT INTO events (workspace_id, ticket_id, kind, actor_id, data) VALUES ($1, $2, $3, $4, $5)
         RETURNING id",
    )
    .bind(workspace_id)
    .bind(ticket_id)
    .bind(kind.as_str())
    .bind(actor_id)
    .bind(data)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn list_ticket_events(
    conn: &mut PgConnection,
    workspace_id: i64,
    ticket_id: i64,
) -> Result<Vec<Event>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, ticket_id, kind, actor_id, data, created_at FROM events
         WHERE workspace_id = $1 AND ticket_id = $2 ORDER BY id",
    )
    .bind(workspace_id)
    .bind(ticket_id)
    .fetch_all(conn)
    .await
}
