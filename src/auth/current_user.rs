//! `CurrentUser`: who made a request and how they proved it. Built by the extractor in
//! [`super::authenticate`].

use crate::error::AppError;
use crate::helpdesk::users::User;

#[derive(Debug, Clone)]
pub enum AuthMethod {
    Session { csrf_token: String },
    ApiToken,
}

#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    pub auth: AuthMethod,
}

impl CurrentUser {
    pub fn csrf_token(&self) -> &str {
        match &self.auth {
            AuthMethod::Session { csrf_token } => csrf_token,
            AuthMethod::ApiToken => "",
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
