//! `therethere workspace create`: a workspace and its owner on a database nobody can sign in
//! to yet. No password is ever typed on a command line: the owner gets a single-use link to
//! choose one.

use sqlx::PgPool;

use super::AccountSettings;
use super::password_links::{self, Purpose};
use crate::app_url::AppUrl;
use crate::error::AppError;
use crate::helpdesk::users::{NewUser, Role, User, handle_from_email};
use crate::helpdesk::workspaces::{Workspace, create_workspace_awaiting_owner};

pub struct Created {
    pub workspace: Workspace,
    pub owner: User,
    /// Where the owner chooses their password.
    pub link: String,
}

pub async fn create_first_workspace(
    pool: &PgPool,
    settings: &AccountSettings,
    app_url: &AppUrl,
    name: &str,
    owner_email: &str,
    owner_name: Option<&str>,
) -> Result<Created, AppError> {
    let owner_name = owner_name.map(str::to_string).unwrap_or_else(|| {
        owner_email
            .split('@')
            .next()
            .unwrap_or_default()
            .to_string()
    });
    let handle = handle_from_email(owner_email);
    let mut tx = pool.begin().await?;
    let (workspace, owner) = create_workspace_awaiting_owner(
        &mut tx,
        name,
        NewUser {
            name: &owner_name,
            email: owner_email,
            handle: &handle,
            password: "",
            role: Role::Owner,
        },
    )
    .await?;
    let link = password_links::create_link(
        &mut tx,
        app_url,
        owner.id,
        Purpose::Setup,
        settings.setup_validity,
    )
    .await?;
    tx.commit().await?;
    Ok(Created {
        workspace,
        owner,
        link,
    })
}
