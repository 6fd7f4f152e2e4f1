//! Contacts: the customers who write in, one per email address per workspace.

use serde::Serialize;
use utoipa::ToSchema;

use super::fields;
use crate::error::AppError;

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Contact {
    pub id: i64,
    pub name: String,
    pub email: String,
}

/// A contact's name and email as given with a new ticket, checked.
pub struct ContactFields {
    pub name: String,
    pub email: String,
}

pub fn check_contact(name: &str, email: &str) -> Result<ContactFields, AppError> {
    Ok(ContactFields {
        name: fields::required_text("contact.name", "Contact name", name, 200)?,
        email: fields::email("contact.email", email)?,
    })
}

/// The contact with this email, created if new: an existing contact keeps its email's
/// spelling, and its name is updated to the latest one given. A statement fragment (a
/// `WITH` query giving `id, name, email`) for the statement that receives a ticket, with
/// `$1` the workspace, `$2` the name and `$3` the email; nothing is written unless
/// `condition` (SQL) holds.
pub(super) fn upsert_contact_if(condition: &str) -> String {
    format!(
        "INSERT INTO contacts (workspace_id, name, email) SELECT $1, $2, $3 WHERE {condition}
         ON CONFLICT (workspace_id, lower(email)) DO UPDATE SET name = EXCLUDED.name
         RETURNING id, name, email"
    )
}
