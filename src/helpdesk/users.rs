//! Users: the people of a workspace, with their role.

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;

use super::fields;
use super::password;
use crate::error::{AppError, ConstraintConflict, ResultExt};

/// A user as shown on a ticket: enough to name them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserSummary {
    pub id: i64,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }

    pub fn is_admin(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

impl TryFrom<String> for Role {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "agent" => Ok(Role::Agent),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub workspace_id: i64,
    pub name: String,
    pub email: String,
    pub handle: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
}

pub struct NewUser<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub handle: &'a str,
    pub password: &'a str,
    pub role: Role,
}

const USER_COLUMNS: &str = "id, workspace_id, name, email, handle, role";

pub async fn create_user(
    conn: &mut PgConnection,
    workspace_id: i64,
    new: NewUser<'_>,
) -> Result<User, AppError> {
    let name = fields::required_text("name", "Name", new.name, 200)?;
    let email = fields::email("email", new.email)?;
    let handle = new.handle.trim().to_ascii_lowercase();
    let handle_ok = !handle.is_empty()
        && handle.len() <= 64
        && handle.starts_with(|c: char| c.is_ascii_alphanumeric())
        && handle
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !handle_ok {
        return Err(AppError::validation(
            "handle",
            "A handle is 1 to 64 letters, digits, dots, dashes or underscores.",
        ));
    }
    if new.password.chars().count() < password::MIN_LENGTH {
        return Err(AppError::validation(
            "password",
            format!(
                "A password needs at least {} characters.",
                password::MIN_LENGTH
            ),
        ));
    }
    let password_hash = password::hash(new.password)?;
    sqlx::query_as::<_, User>(&format!(
        "INSERT INTO users (workspace_id, name, email, handle, role, password_hash)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {USER_COLUMNS}"
    ))
    .bind(workspace_id)
    .bind(&name)
    .bind(&email)
    .bind(&handle)
    .bind(new.role.as_str())
    .bind(password_hash)
    .fetch_one(conn)
    .await
    .on_constraint(&[
        ConstraintConflict {
            constraint: "users_email_key",
            field: "email",
            message: "A user with this email already exists.",
        },
        ConstraintConflict {
            constraint: "users_handle_key",
            field: "handle",
            message: "This handle is taken in the workspace.",
        },
        ConstraintConflict {
            constraint: "users_one_owner_per_workspace",
            field: "role",
            message: "The workspace already has an owner.",
        },
    ])
}

pub async fn get_user_by_id(
    conn: &mut PgConnection,
    user_id: i64,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(user_id)
        .fetch_optional(conn)
        .await
}

/// A user of `workspace_id`; users of other workspaces do not exist from here.
pub async fn get_workspace_user(
    conn: &mut PgConnection,
    workspace_id: i64,
    user_id: i64,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND workspace_id = $2"
    ))
    .bind(user_id)
    .bind(workspace_id)
    .fetch_optional(conn)
    .await
}

pub async fn list_users(
    conn: &mut PgConnection,
    workspace_id: i64,
) -> Result<Vec<User>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE workspace_id = $1 ORDER BY name, id"
    ))
    .bind(workspace_id)
    .fetch_all(conn)
    .await
}

/// The user with this email (as logins match it) and their stored password hash.
pub async fn password_hash_by_email(
    pool: &sqlx::PgPool,
    email: &str,
) -> Result<Option<(User, String)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: User,
        password_hash: String,
    }
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS}, password_hash FROM users WHERE lower(email) = lower($1)"
    ))
    .bind(email.trim())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| (row.user, row.password_hash)))
}

/// The users of `workspace_id` named by emails or handles (as written in @mentions).
pub async fn find_users_by_email_or_handle(
    conn: &mut PgConnection,
    workspace_id: i64,
    names: &[String],
) -> Result<Vec<User>, sqlx::Error> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users
         WHERE workspace_id = $1 AND (lower(email) = ANY($2) OR handle = ANY($2))
         ORDER BY id"
    ))
    .bind(workspace_id)
    .bind(names)
    .fetch_all(conn)
    .await
}
