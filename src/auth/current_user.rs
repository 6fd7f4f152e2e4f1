//! `CurrentUser`: who made a request and how they proved it. Built by the extractor in
//! [`super::authenticate`].

use super::api_tokens::TokenScope;
use crate::error::AppError;
use crate::helpdesk::users::{Role, User};

#[derive(Debug, Clone)]
pub enum AuthMethod {
    /// A browser session: `id` names it on the sessions page.
    Session {
        id: i64,
        csrf_token: String,
    },
    ApiToken {
        scope: TokenScope,
    },
}

#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    pub auth: AuthMethod,
}

impl CurrentUser {
    pub fn csrf_token(&self) -> &str {
        match &self.auth {
            AuthMethod::Session { csrf_token, .. } => csrf_token,
            AuthMethod::ApiToken { .. } => "",
        }
    }

    /// The session behind a browser request; none for an API token.
    pub fn session_id(&self) -> Option<i64> {
        match &self.auth {
            AuthMethod::Session { id, .. } => Some(*id),
            AuthMethod::ApiToken { .. } => None,
        }
    }

    /// Things only a person at a browser may do (create API tokens, change a password): a
    /// leaked token must not be able to mint another or lock its person out.
    pub fn require_session(&self) -> Result<i64, AppError> {
        self.session_id().ok_or_else(|| {
            AppError::forbidden("Only a signed-in browser session can do this, not an API token.")
        })
    }

    pub fn require_owner(&self) -> Result<(), AppError> {
        if self.user.role == Role::Owner {
            Ok(())
        } else {
            Err(AppError::forbidden("Only a workspace owner can do this."))
        }
    }

    /// Owners and admins configure the workspace; agents work tickets.
    pub fn require_admin(&self) -> Result<(), AppError> {
        if self.user.role.is_admin() {
            Ok(())
        } else {
            Err(AppError::forbidden(
                "Only the workspace owner or an admin can do this.",
            ))
        }
    }
}
