//! Channels: where tickets arrive ("Support", "Billing"). Sidebar sections attach to them.

use serde::Serialize;
use sqlx::PgConnection;
use utoipa::ToSchema;

use super::fields;
use crate::error::{AppError, ConstraintConflict, ResultExt};

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Channel {
    pub id: i64,
    pub name: String,
}

pub async fn create_channel(
    conn: &mut PgConnection,
    workspace_id: i64,
    name: &str,
) -> Result<Channel, AppError> {
    let name = fields::required_text("name", "Channel name", name, 100)?;
    sqlx::query_as("INSERT INTO channels (workspace_id, name) VALUES ($1, $2) RETURNING id, name")
        .bind(workspace_id)
        .bind(name)
        .fetch_one(conn)
        .await
        .on_constraint(&[ConstraintConflict {
            constraint: "channels_name_key",
            field: "name",
            message: "A channel with this name already exists.",
        }])
}

pub async fn list_channels(
    conn: &mut PgConnection,
    workspace_id: i64,
) -> Result<Vec<Channel>, sqlx::Error> {
    sqlx::query_as("SELECT id, name FROM channels WHERE workspace_id = $1 ORDER BY lower(name), id")
        .bind(workspace_id)
        .fetch_all(conn)
        .await
}
