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
    /// They left the workspace; what they wrote and did stays under their name.
    pub deactivated: bool,
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

/// Creates a user who signs in with `new.password`.
pub async fn create_user(
    conn: &mut PgConnection,
    workspace_id: i64,
    new: NewUser<'_>,
) -> Result<User, AppError> {
    let password_hash = password::hash(password::acceptable(new.password)?)?;
    insert_user(conn, workspace_id, &new, Some(password_hash)).await
}

/// Creates a user who cannot sign in until they choose a password through a link
/// (`accounts::password_links`); `new.password` is ignored.
pub async fn create_user_awaiting_password(
    conn: &mut PgConnection,
    workspace_id: i64,
    new: NewUser<'_>,
) -> Result<User, AppError> {
    insert_user(conn, workspace_id, &new, None).await
}

/// A handle as stored: lower case, 1 to 64 letters, digits, dots, dashes or underscores.
pub fn handle(value: &str) -> Result<String, AppError> {
    let handle = value.trim().trim_start_matches('@').to_ascii_lowercase();
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
    Ok(handle)
}

/// A handle made from an email's local part, for accounts created before their person chose one.
pub fn handle_from_email(email: &str) -> String {
    let local = email.split('@').next().unwrap_or_default();
    let cleaned: String = local
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .take(64)
        .collect();
    if cleaned.is_empty() {
        "owner".into()
    } else {
        cleaned
    }
}

async fn insert_user(
    conn: &mut PgConnection,
    workspace_id: i64,
    new: &NewUser<'_>,
    password_hash: Option<String>,
) -> Result<User, AppError> {
    let name = fields::required_text("name", "Name", new.name, 200)?;
    let email = fields::email("email", new.email)?;
    let handle = handle(new.handle)?;
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
            message: "An account with this email already exists.",
        },
        ConstraintConflict {
            constraint: "users_handle_key",
            field: "handle",
            message: "This handle is taken in the workspace.",
        },
    ])
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

/// Whether `user_id` is a person of `workspace_id` who has not been deactivated.
pub async fn is_active_user(
    conn: &mut PgConnection,
    workspace_id: i64,
    user_id: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM users
                        WHERE id = $1 AND workspace_id = $2 AND deactivated_at IS NULL)",
    )
    .bind(user_id)
    .bind(workspace_id)
    .fetch_one(conn)
    .await
}

/// The active people of `workspace_id` (whom tickets can be assigned to), by name.
pub async fn list_users(
    conn: &mut PgConnection,
    workspace_id: i64,
) -> Result<Vec<User>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE workspace_id = $1 AND deactivated_at IS NULL
         ORDER BY name, id"
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
    // A deactivated person, or one who has not chosen a password yet, cannot sign in.
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS}, password_hash FROM users
         WHERE lower(email) = lower($1) AND deactivated_at IS NULL AND password_hash IS NOT NULL"
    ))
    .bind(email.trim())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| (row.user, row.password_hash)))
}

/// The active users of `workspace_id` named by emails or handles (as written in @mentions).
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
         WHERE workspace_id = $1 AND deactivated_at IS NULL
           AND (lower(email) = ANY($2) OR handle = ANY($2))
         ORDER BY id"
    ))
    .bind(workspace_id)
    .bind(names)
    .fetch_all(conn)
    .await
}
