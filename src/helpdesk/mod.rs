//! The helpdesk core. Every action on a ticket is one function here, used by both the pages
//! and the API, and records its domain event in the same transaction as the change.

pub mod channels;
pub mod contacts;
pub mod events;
pub mod fields;
pub mod intake;
pub mod mentions;
pub mod messages;
pub mod notes;
pub mod password;
pub mod thread;
pub mod ticket_lock;
pub mod tickets;
pub mod users;
pub mod workspaces;

/// Lower-case ULIDs, as in the spec's payload examples.
pub fn new_ulid() -> String {
    ulid::Ulid::new().to_string().to_ascii_lowercase()
}
