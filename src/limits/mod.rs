//! Quotas and rate limits: how much one user or workspace may keep, and how often the
//! actions that call out on demand may run. Each is a setting with a default; going over one
//! answers a 4xx whose message names the setting.

pub mod creation;
pub mod quota;
pub mod rate;

pub use quota::Quota;
pub use rate::RatedAction;

/// Every quota and rate limit, from configuration.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `MAX_PERSONAL_DESTINATIONS_PER_USER`: webhook destinations one user owns.
    pub personal_destinations_per_user: u32,
    /// `MAX_WORKSPACE_DESTINATIONS`: workspace webhook destinations of one workspace.
    pub workspace_destinations: u32,
    /// `MAX_SIDEBAR_SECTIONS`: custom sidebar sections of one workspace.
    pub sidebar_sections: u32,
    /// `MAX_API_TOKENS_PER_USER`: personal API tokens of one user.
    pub api_tokens_per_user: u32,
    /// `MAX_SESSIONS_PER_USER`: live browser sessions of one user; a new login ends the oldest.
    pub sessions_per_user: u32,
    /// `TEST_NOTIFICATIONS_PER_MINUTE`: test notifications per destination.
    pub test_notifications_per_minute: u32,
    /// `RESENDS_PER_MINUTE`: resends per destination.
    pub resends_per_minute: u32,
    /// `SECTION_TESTS_PER_MINUTE`: Tests per sidebar section.
    pub section_tests_per_minute: u32,
    /// `REPLAYS_PER_HOUR`: replays ("resend every failed delivery since ...") per destination.
    pub replays_per_hour: u32,
    /// `WEBHOOK_MAX_RESENDS`: resends by hand of one delivery (each adds an attempt to it).
    pub resends_per_delivery: u32,
    /// `TICKETS_PER_MINUTE_PER_USER` and the other creation rates (`creation`).
    pub creation: creation::CreationRates,
    /// `INVITATIONS_PER_HOUR`: invitations sent or resent per workspace.
    pub invitations_per_hour: u32,
    /// `PASSWORD_RESETS_PER_HOUR`: "forgot password" requests per email address.
    pub password_resets_per_hour: u32,
    /// `PASSWORD_RESETS_PER_HOUR_PER_ADDRESS`: "forgot password" requests per client address.
    pub password_resets_per_hour_per_address: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            personal_destinations_per_user: 20,
            workspace_destinations: 100,
            sidebar_sections: 50,
            api_tokens_per_user: 20,
            sessions_per_user: 20,
            test_notifications_per_minute: 10,
            resends_per_minute: 30,
            section_tests_per_minute: 10,
            replays_per_hour: 6,
            resends_per_delivery: 25,
            creation: creation::CreationRates::default(),
            invitations_per_hour: 50,
            password_resets_per_hour: 3,
            password_resets_per_hour_per_address: 20,
        }
    }
}
