//! A ticket under its row lock: what every action on a ticket (reply, note, assignment,
//! status change) takes first, so concurrent actions on one ticket apply one after the other.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgConnection;
use utoipa::ToSchema;

use super::events::{EventKind, record_event};
use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TicketStatus {
    Open,
    Closed,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::Closed => "closed",
        }
    }
}

impl TryFrom<String> for TicketStatus {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "open" => Ok(TicketStatus::Open),
            "closed" => Ok(TicketStatus::Closed),
            other => Err(format!("unknown status {other:?}")),
        }
    }
}

/// The fields of a ticket an action needs, read under a row lock so concurrent actions on
/// one ticket apply one after the other.
pub struct LockedTicket {
    pub id: i64,
    pub status: TicketStatus,
    pub assignee_id: Option<i64>,
}

pub async fn lock_ticket(
    conn: &mut PgConnection,
    workspace_id: i64,
    ticket_id: i64,
) -> Result<LockedTicket, AppError> {
    let row: Option<(i64, String, Option<i64>)> = sqlx::query_as(
        "SELECT id, status, assignee_id FROM tickets WHERE id = $1 AND workspace_id = $2 FOR UPDATE",
    )
    .bind(ticket_id)
    .bind(workspace_id)
    .fetch_optional(conn)
    .await?;
    let (id, status, assignee_id) = row.ok_or(AppError::NotFound)?;
    Ok(LockedTicket {
        id,
        status: TicketStatus::try_from(status).map_err(anyhow::Error::msg)?,
        assignee_id,
    })
}

pub async fn touch_ticket(conn: &mut PgConnection, ticket_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE tickets SET updated_at = now() WHERE id = $1")
        .bind(ticket_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn change_status(
    conn: &mut PgConnection,
    workspace_id: i64,
    locked: &LockedTicket,
    actor_id: Option<i64>,
    status: TicketStatus,
) -> Result<(), AppError> {
    sqlx::query("UPDATE tickets SET status = $2, updated_at = now() WHERE id = $1")
        .bind(locked.id)
        .bind(status.as_str())
        .execute(&mut *conn)
        .await?;
    let kind = match status {
        TicketStatus::Open => EventKind::TicketReopened,
        TicketStatus::Closed => EventKind::TicketClosed,
    };
    record_event(conn, workspace_id, locked.id, kind, actor_id, json!({})).await?;
    Ok(())
}
