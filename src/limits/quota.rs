//! Quotas on what a user or workspace keeps. Checked inside the transaction that creates the
//! row, under a lock per owner, so concurrent creations cannot both slip under the limit.

use sqlx::PgConnection;

use super::Limits;
use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// Counted per user.
    PersonalDestinations,
    /// Counted per workspace.
    WorkspaceDestinations,
    /// Counted per workspace.
    SidebarSections,
    /// Counted per user.
    ApiTokens,
}

impl Quota {
    /// The setting that holds this quota, named in the error.
    pub fn setting(self) -> &'static str {
        match self {
            Quota::PersonalDestinations => "MAX_PERSONAL_DESTINATIONS_PER_USER",
            Quota::WorkspaceDestinations => "MAX_WORKSPACE_DESTINATIONS",
            Quota::SidebarSections => "MAX_SIDEBAR_SECTIONS",
            Quota::ApiTokens => "MAX_API_TOKENS_PER_USER",
        }
    }

    pub fn limit(self, limits: &Limits) -> u32 {
        match self {
            Quota::PersonalDestinations => limits.personal_destinations_per_user,
            Quota::WorkspaceDestinations => limits.workspace_destinations,
            Quota::SidebarSections => limits.sidebar_sections,
            Quota::ApiTokens => limits.api_tokens_per_user,
        }
    }

    fn things(self) -> &'static str {
        match self {
            Quota::PersonalDestinations => "personal destinations",
            Quota::WorkspaceDestinations => "workspace destinations",
            Quota::SidebarSections => "custom sidebar sections",
            Quota::ApiTokens => "API tokens",
        }
    }

    /// Counts the owner's rows; `$1` is the user id or the workspace id.
    fn count_sql(self) -> &'static str {
        match self {
            Quota::PersonalDestinations => {
                "SELECT count(*) FROM webhook_destinations WHERE owner_user_id = $1"
            }
            Quota::WorkspaceDestinations => {
                "SELECT count(*) FROM webhook_destinations WHERE workspace_id = $1 AND owner_user_id IS NULL"
            }
            Quota::SidebarSections => {
                "SELECT count(*) FROM sidebar_sections WHERE workspace_id = $1"
            }
            Quota::ApiTokens => "SELECT count(*) FROM api_tokens WHERE user_id = $1",
        }
    }

    /// The error for an owner at the limit: a 409 that says what to do and names the setting.
    pub fn exceeded(self, limit: u32) -> AppError {
        AppError::QuotaExceeded {
            setting: self.setting(),
            message: format!(
                "{} {limit} {}; delete one first (the limit is the setting {}).",
                match self {
                    Quota::PersonalDestinations | Quota::ApiTokens => "A user can have at most",
                    Quota::WorkspaceDestinations | Quota::SidebarSections => {
                        "A workspace can have at most"
                    }
                },
                self.things(),
                self.setting()
            ),
        }
    }
}

/// Refuses a creation that would take `owner_id` past its quota. Call inside the creating
/// transaction: the lock is held until it ends, so a concurrent creation waits and counts
/// this one.
pub async fn ensure_room(
    tx: &mut PgConnection,
    limits: &Limits,
    quota: Quota,
    owner_id: i64,
) -> Result<(), AppError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, $2))")
        .bind(quota.setting())
        .bind(owner_id)
        .execute(&mut *tx)
        .await?;
    let count: i64 = sqlx::query_scalar(quota.count_sql())
        .bind(owner_id)
        .fetch_one(&mut *tx)
        .await?;
    let limit = quota.limit(limits);
    if count >= i64::from(limit) {
        return Err(quota.exceeded(limit));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_names_the_setting_and_the_number() {
        let err = Quota::PersonalDestinations.exceeded(20);
        let message = err.public_message();
        assert!(
            message.contains("at most 20 personal destinations"),
            "{message}"
        );
        assert!(
            message.contains("MAX_PERSONAL_DESTINATIONS_PER_USER"),
            "{message}"
        );
        assert_eq!(err.status().as_u16(), 409);
        assert_eq!(err.code(), "quota_exceeded");
    }
}
