//! A team managing its own people: the first workspace and its owner, invitations, roles,
//! deactivation, and passwords chosen, changed and reset through single-use links. Who may do
//! what to whom is decided in [`team::permissions`]; every route asks it.

pub mod first_workspace;
pub mod invitations;
pub mod password_links;
pub mod passwords;
pub mod team;

use std::time::Duration;

/// How long the links this module mails or prints stay valid (`*_VALIDITY_*` settings).
#[derive(Debug, Clone, Copy)]
pub struct AccountSettings {
    /// `INVITATION_VALIDITY_HOURS` (168: 7 days).
    pub invitation_validity: Duration,
    /// `PASSWORD_RESET_VALIDITY_MINUTES` (60).
    pub reset_validity: Duration,
    /// `SETUP_LINK_VALIDITY_HOURS` (24): the link `workspace create` prints for a new owner.
    pub setup_validity: Duration,
}

impl Default for AccountSettings {
    fn default() -> Self {
        AccountSettings {
            invitation_validity: Duration::from_secs(7 * 24 * 3600),
            reset_validity: Duration::from_secs(3600),
            setup_validity: Duration::from_secs(24 * 3600),
        }
    }
}

/// A duration as PostgreSQL's `make_interval(secs => ...)` takes it.
fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}
