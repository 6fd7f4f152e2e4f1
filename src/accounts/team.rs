//! The people of a workspace: who is in it with which role, deactivating and reactivating them,
//! and the rules of who may manage whom. Nothing is deleted: a deactivated person's name stays
//! on what they wrote and did, and tickets assigned to them stay assigned until reassigned.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Connection, PgConnection};
use utoipa::ToSchema;

use crate::error::AppError;
use crate::helpdesk::users::{Role, User};

/// Who may do what to whom: one home for every rule about managing people.
pub mod permissions {
    use super::*;

    /// Owners and admins invite; admins may not invite (so make) owners.
    pub fn may_invite(actor: Role, role: Role) -> Result<(), AppError> {
        match (actor, role) {
            (Role::Owner, _) => Ok(()),
            (Role::Admin, Role::Owner) => Err(AppError::forbidden(
                "Only an owner can invite another owner.",
            )),
            (Role::Admin, _) => Ok(()),
            (Role::Agent, _) => Err(AppError::forbidden(
                "Only the workspace's owners and admins can invite people.",
            )),
        }
    }

    /// Deactivating, reactivating and ending someone's sessions: owners may for anyone, admins
    /// for admins and agents.
    pub fn may_manage(actor: Role, target: Role) -> Result<(), AppError> {
        match (actor, target) {
            (Role::Owner, _) => Ok(()),
            (Role::Admin, Role::Owner) => Err(AppError::forbidden(
                "Only an owner can manage another owner.",
            )),
            (Role::Admin, _) => Ok(()),
            (Role::Agent, _) => Err(AppError::forbidden(
                "Only the workspace's owners and admins can manage people.",
            )),
        }
    }

    /// Only owners change roles (including handing ownership to someone).
    pub fn may_change_roles(actor: Role) -> Result<(), AppError> {
        if actor == Role::Owner {
            Ok(())
        } else {
            Err(AppError::forbidden("Only an owner can change roles."))
        }
    }

    /// Everyone may end their own sessions; owners may end anyone's.
    pub fn may_end_sessions(actor: Role, own: bool) -> Result<(), AppError> {
        if own || actor == Role::Owner {
            Ok(())
        } else {
            Err(AppError::forbidden(
                "Only an owner can end someone else's sessions.",
            ))
        }
    }

    /// The workspace always keeps an active owner: the last one can be neither demoted nor
    /// deactivated.
    pub fn keeps_an_owner(other_active_owners: i64) -> Result<(), AppError> {
        if other_active_owners > 0 {
            Ok(())
        } else {
            Err(AppError::conflict(
                "role",
                "The workspace needs at least one active owner: make someone else an owner first.",
            ))
        }
    }
}

/// Whether a person can sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    Active,
    /// Created with no password yet (a new owner who has not opened their link).
    AwaitingPassword,
    Deactivated,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Active => "active",
            MemberStatus::AwaitingPassword => "awaiting_password",
            MemberStatus::Deactivated => "deactivated",
        }
    }
}

/// A person as the Team page and `GET /api/users` show them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamMember {
    pub id: i64,
    pub workspace_id: i64,
    pub name: String,
    pub email: String,
    pub handle: String,
    pub role: Role,
    pub status: MemberStatus,
    pub deactivated_at: Option<DateTime<Utc>>,
    /// The latest request of any of their sessions or API tokens.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Open tickets assigned to them (to reassign when they leave).
    pub open_assigned_tickets: i64,
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    #[sqlx(flatten)]
    user: User,
    deactivated_at: Option<DateTime<Utc>>,
    awaiting_password: bool,
    last_seen_at: Option<DateTime<Utc>>,
    open_assigned_tickets: i64,
}

impl From<MemberRow> for TeamMember {
    fn from(row: MemberRow) -> Self {
        let status = if row.deactivated_at.is_some() {
            MemberStatus::Deactivated
        } else if row.awaiting_password {
            MemberStatus::AwaitingPassword
        } else {
            MemberStatus::Active
        };
        TeamMember {
            id: row.user.id,
            workspace_id: row.user.workspace_id,
            name: row.user.name,
            email: row.user.email,
            handle: row.user.handle,
            role: row.user.role,
            status,
            deactivated_at: row.deactivated_at,
            last_seen_at: row.last_seen_at,
            open_assigned_tickets: row.open_assigned_tickets,
        }
    }
}

const MEMBER_QUERY: &str = "
    SELECT u.id, u.workspace_id, u.name, u.email, u.handle, u.role, u.deactivated_at,
           u.password_hash IS NULL AS awaiting_password,
           greatest((SELECT max(s.last_seen_at) FROM sessions s WHERE s.user_id = u.id),
                    (SELECT max(t.last_used_at) FROM api_tokens t WHERE t.user_id = u.id)) AS last_seen_at,
           coalesce(a.open, 0) AS open_assigned_tickets
    FROM users u
    LEFT JOIN (SELECT assignee_id, count(*) AS open FROM tickets
               WHERE workspace_id = $1 AND status = 'open' AND assignee_id IS NOT NULL
               GROUP BY assignee_id) a ON a.assignee_id = u.id
    WHERE u.workspace_id = $1";

/// Everyone in the workspace: active people first, then by name.
pub async fn list_members(
    conn: &mut PgConnection,
    workspace_id: i64,
) -> Result<Vec<TeamMember>, sqlx::Error> {
    let rows: Vec<MemberRow> = sqlx::query_as(&format!(
        "{MEMBER_QUERY} ORDER BY u.deactivated_at IS NOT NULL, u.name, u.id"
    ))
    .bind(workspace_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(TeamMember::from).collect())
}

pub async fn get_member(
    conn: &mut PgConnection,
    workspace_id: i64,
    user_id: i64,
) -> Result<TeamMember, AppError> {
    let row: Option<MemberRow> = sqlx::query_as(&format!("{MEMBER_QUERY} AND u.id = $2"))
        .bind(workspace_id)
        .bind(user_id)
        .fetch_optional(conn)
        .await?;
    row.map(TeamMember::from).ok_or(AppError::NotFound)
}

/// An open ticket assigned to someone who was deactivated: to be reassigned.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StrandedTicket {
    pub id: i64,
    pub number: i32,
    pub subject: String,
    pub assignee_name: String,
}

pub async fn tickets_to_reassign(
    conn: &mut PgConnection,
    workspace_id: i64,
) -> Result<Vec<StrandedTicket>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.id, t.number, t.subject, u.name AS assignee_name
         FROM tickets t JOIN users u ON u.id = t.assignee_id
         WHERE t.workspace_id = $1 AND t.status = 'open' AND u.deactivated_at IS NOT NULL
         ORDER BY t.updated_at DESC LIMIT 100",
    )
    .bind(workspace_id)
    .fetch_all(conn)
    .await
}

/// The target of a change, locked with its workspace's owners so two owners demoting each
/// other at once cannot leave none.
struct Locked {
    role: Role,
    deactivated: bool,
    other_active_owners: i64,
}

async fn lock_member(
    conn: &mut PgConnection,
    workspace_id: i64,
    user_id: i64,
) -> Result<Locked, AppError> {
    // The workspace row is the lock every change of owners takes first.
    sqlx::query("SELECT id FROM workspaces WHERE id = $1 FOR UPDATE")
        .bind(workspace_id)
        .execute(&mut *conn)
        .await?;
    let row: Option<(String, bool, i64)> = sqlx::query_as(
        "SELECT role, deactivated_at IS NOT NULL,
                (SELECT count(*) FROM users o WHERE o.workspace_id = $1 AND o.role = 'owner'
                   AND o.deactivated_at IS NULL AND o.id <> $2)
         FROM users WHERE workspace_id = $1 AND id = $2",
    )
    .bind(workspace_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (role, deactivated, other_active_owners) = row.ok_or(AppError::NotFound)?;
    Ok(Locked {
        role: Role::try_from(role).map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?,
        deactivated,
        other_active_owners,
    })
}

/// Gives `user_id` a new role (owners only; the last active owner keeps theirs).
pub async fn change_role(
    conn: &mut PgConnection,
    actor: &User,
    user_id: i64,
    role: Role,
) -> Result<TeamMember, AppError> {
    permissions::may_change_roles(actor.role)?;
    let mut tx = conn.begin().await?;
    let target = lock_member(&mut tx, actor.workspace_id, user_id).await?;
    if target.role == Role::Owner && role != Role::Owner && !target.deactivated {
        permissions::keeps_an_owner(target.other_active_owners)?;
    }
    sqlx::query("UPDATE users SET role = $3 WHERE workspace_id = $1 AND id = $2 AND role <> $3")
        .bind(actor.workspace_id)
        .bind(user_id)
        .bind(role.as_str())
        .execute(&mut *tx)
        .await?;
    let member = get_member(&mut tx, actor.workspace_id, user_id).await?;
    tx.commit().await?;
    tracing::info!(user.id = user_id, role = role.as_str(), "role changed");
    Ok(member)
}

/// Takes `user_id`'s access away at once: their sessions end, their API tokens and personal
/// webhook destinations stop working until they are reactivated.
pub async fn deactivate(
    conn: &mut PgConnection,
    actor: &User,
    user_id: i64,
) -> Result<TeamMember, AppError> {
    if user_id == actor.id {
        return Err(AppError::conflict(
            "user_id",
            "You can't deactivate yourself: ask another owner or admin.",
        ));
    }
    let mut tx = conn.begin().await?;
    let target = lock_member(&mut tx, actor.workspace_id, user_id).await?;
    permissions::may_manage(actor.role, target.role)?;
    if target.role == Role::Owner && !target.deactivated {
        permissions::keeps_an_owner(target.other_active_owners)?;
    }
    // The update tells every instance to forget the credentials it remembers (migration 0007).
    sqlx::query(
        "UPDATE users SET deactivated_at = now()
         WHERE workspace_id = $1 AND id = $2 AND deactivated_at IS NULL",
    )
    .bind(actor.workspace_id)
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    crate::auth::sessions::end_sessions_of(&mut tx, user_id, None).await?;
    let member = get_member(&mut tx, actor.workspace_id, user_id).await?;
    tx.commit().await?;
    tracing::info!(user.id = user_id, by = actor.id, "person deactivated");
    Ok(member)
}

/// Gives a deactivated person their access back (their password and API tokens work again).
pub async fn reactivate(
    conn: &mut PgConnection,
    actor: &User,
    user_id: i64,
) -> Result<TeamMember, AppError> {
    let mut tx = conn.begin().await?;
    let target = lock_member(&mut tx, actor.workspace_id, user_id).await?;
    permissions::may_manage(actor.role, target.role)?;
    sqlx::query("UPDATE users SET deactivated_at = NULL WHERE workspace_id = $1 AND id = $2")
        .bind(actor.workspace_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let member = get_member(&mut tx, actor.workspace_id, user_id).await?;
    tx.commit().await?;
    tracing::info!(user.id = user_id, by = actor.id, "person reactivated");
    Ok(member)
}

/// Ends every session of `user_id` (owners for anyone; everyone for themselves).
pub async fn end_all_sessions(
    conn: &mut PgConnection,
    actor: &User,
    user_id: i64,
) -> Result<u64, AppError> {
    crate::helpdesk::users::get_workspace_user(conn, actor.workspace_id, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    permissions::may_end_sessions(actor.role, user_id == actor.id)?;
    Ok(crate::auth::sessions::end_sessions_of(conn, user_id, None).await?)
}

/// Ends one session: one's own, or (owners) anyone's in the workspace.
pub async fn end_session(
    conn: &mut PgConnection,
    actor: &User,
    session_id: i64,
) -> Result<(), AppError> {
    let holder = crate::auth::sessions::session_holder(conn, actor.workspace_id, session_id)
        .await?
        .ok_or(AppError::NotFound)?;
    permissions::may_end_sessions(actor.role, holder == actor.id)?;
    crate::auth::sessions::end_session(conn, actor.workspace_id, session_id).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::permissions::*;
    use super::*;

    #[test]
    fn admins_invite_admins_and_agents_but_not_owners() {
        assert!(may_invite(Role::Owner, Role::Owner).is_ok());
        assert!(may_invite(Role::Admin, Role::Admin).is_ok());
        assert!(may_invite(Role::Admin, Role::Agent).is_ok());
        assert!(may_invite(Role::Admin, Role::Owner).is_err());
        assert!(may_invite(Role::Agent, Role::Agent).is_err());
    }

    #[test]
    fn admins_manage_everyone_but_owners_and_only_owners_change_roles() {
        assert!(may_manage(Role::Owner, Role::Owner).is_ok());
        assert!(may_manage(Role::Admin, Role::Agent).is_ok());
        assert!(may_manage(Role::Admin, Role::Admin).is_ok());
        assert!(may_manage(Role::Admin, Role::Owner).is_err());
        assert!(may_manage(Role::Agent, Role::Agent).is_err());
        assert!(may_change_roles(Role::Owner).is_ok());
        assert!(may_change_roles(Role::Admin).is_err());
    }

    #[test]
    fn the_last_active_owner_stays() {
        assert!(keeps_an_owner(0).is_err());
        assert!(keeps_an_owner(1).is_ok());
    }
}
