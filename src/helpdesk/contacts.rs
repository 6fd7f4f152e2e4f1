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

/// The contacts of a batch of arriving tickets, each created if new: an existing contact
/// keeps its email's spelling, and its name is updated to the latest one given. `WITH`
/// queries for the statement that receives tickets, reading `arrivals` (a query with
/// `workspace_id, name, email, position`); the last, `contact`, gives one row `id,
/// workspace_id, name, email` per address of the batch, with the name of its latest arrival.
///
/// A contact whose name is unchanged is only read: an upsert would lock its row until the
/// commit, so the tickets of one contact (a burst from one address) would commit one at a
/// time. Each address is written once per statement, which an upsert requires.
pub(super) fn contacts_of(arrivals: &str) -> String {
    format!(
        "wanted_contact AS (
             SELECT DISTINCT ON (workspace_id, lower(email)) workspace_id, name, email
             FROM {arrivals} ORDER BY workspace_id, lower(email), position DESC),
         known_contact AS (
             SELECT c.id, c.workspace_id, c.name, c.email
             FROM wanted_contact w JOIN contacts c ON c.workspace_id = w.workspace_id
                  AND lower(c.email) = lower(w.email) AND c.name = w.name),
         written_contact AS (
             INSERT INTO contacts (workspace_id, name, email)
             SELECT w.workspace_id, w.name, w.email FROM wanted_contact w
             WHERE NOT EXISTS (SELECT FROM known_contact k WHERE k.workspace_id = w.workspace_id
                                   AND lower(k.email) = lower(w.email))
             ON CONFLICT (workspace_id, lower(email)) DO UPDATE SET name = EXCLUDED.name
             RETURNING id, workspace_id, name, email),
         contact AS (SELECT * FROM known_contact UNION ALL SELECT * FROM written_contact)"
    )
}
