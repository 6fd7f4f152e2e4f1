//! Contacts: the customers who write in, one per email address per workspace.

use serde::Serialize;
use sqlx::PgConnection;
use utoipa::ToSchema;

use super::fields;
use crate::error::AppError;

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Contact {
    pub id: i64,
    pub name: String,
    pub email: String,
}

/// The contact with this email, created if new. An existing contact keeps its email's
/// spelling; its name is updated to the latest one given.
pub async fn upsert_contact(
    conn: &mut PgConnection,
    workspace_id: i64,
    name: &str,
    email: &str,
) -> Result<Contact, AppError> {
    let name = fields::required_text("contact.name", "Contact name", name, 200)?;
    let email = fields::email("contact.email", email)?;
    let contact = sqlx::query_as(
        "INSERT INTO contacts (workspace_id, name, email) VALUES ($1, $2, $3)
         ON CONFLICT (workspace_id, lower(email)) DO UPDATE SET name = EXCLUDED.name
         RETURNING id, name, email",
    )
    .bind(workspace_id)
    .bind(name)
    .bind(email)
    .fetch_one(conn)
    .await?;
    Ok(contact)
}
