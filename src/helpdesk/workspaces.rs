//! Workspaces: a tenant. Each has exactly one owner, created with it.

use serde::Serialize;
use sqlx::PgConnection;
use utoipa::ToSchema;

use super::fields;
use super::users::{NewUser, Role, User, create_user, create_user_awaiting_password};
use crate::error::AppError;

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Workspace {
    pub id: i64,
    pub name: String,
}

/// Creates a workspace and its owner together; run it inside a transaction so neither
/// exists without the other.
pub async fn create_workspace(
    conn: &mut PgConnection,
    name: &str,
    owner: NewUser<'_>,
) -> Result<(Workspace, User), AppError> {
    create_with_owner(conn, name, owner, false).await
}

/// Creates a workspace and an owner who has no password yet (they choose one through a
/// link); run it inside a transaction, with the link.
pub async fn create_workspace_awaiting_owner(
    conn: &mut PgConnection,
    name: &str,
    owner: NewUser<'_>,
) -> Result<(Workspace, User), AppError> {
    create_with_owner(conn, name, owner, true).await
}

async fn create_with_owner(
    conn: &mut PgConnection,
    name: &str,
    owner: NewUser<'_>,
    awaiting_password: bool,
) -> Result<(Workspace, User), AppError> {
    let workspace = insert_workspace(conn, name).await?;
    let owner = NewUser {
        role: Role::Owner,
        ..owner
    };
    let owner = if awaiting_password {
        create_user_awaiting_password(conn, workspace.id, owner).await?
    } else {
        create_user(conn, workspace.id, owner).await?
    };
    Ok((workspace, owner))
}

async fn insert_workspace(conn: &mut PgConnection, name: &str) -> Result<Workspace, AppError> {
    let name = fields::required_text("name", "Workspace name", name, 200)?;
    Ok(
        sqlx::query_as("INSERT INTO workspaces (name) VALUES ($1) RETURNING id, name")
            .bind(name)
            .fetch_one(&mut *conn)
            .await?,
    )
}

pub async fn get_workspace(
    conn: &mut PgConnection,
    workspace_id: i64,
) -> Result<Workspace, sqlx::Error> {
    sqlx::query_as("SELECT id, name FROM workspaces WHERE id = $1")
        .bind(workspace_id)
        .fetch_one(conn)
        .await
}

pub async fn find_workspace_by_name(
    conn: &mut PgConnection,
    name: &str,
) -> Result<Option<Workspace>, sqlx::Error> {
    sqlx::query_as("SELECT id, name FROM workspaces WHERE name = $1 ORDER BY id LIMIT 1")
        .bind(name)
        .fetch_optional(conn)
        .await
}

pub async fn count_workspaces(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM workspaces")
        .fetch_one(conn)
        .await
}
