//! Sidebar sections: what an admin configures (title, endpoint, secret, channels, order,
//! enabled), who may configure them, and reading them. Changes are in [`super::configure`],
//! the checks of what is typed in [`super::section_input`].

use crate::secrets::Opened;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;

use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::helpdesk::contacts::Contact;
use crate::helpdesk::users::Role;

/// Consecutive failures after which a section disables itself (spec: 10).
pub const FAILURE_LIMIT: i32 = 10;

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Section {
    pub id: i64,
    pub title: String,
    /// Only owners and admins see it (a URL may carry credentials in its query).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Only owners and admins ever see it (stored sealed: opened as it is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub secret: Option<Opened>,
    pub channel_ids: Vec<i64>,
    pub position: i32,
    pub enabled: bool,
    /// "Load when a ticket arrives": called in the background when a ticket of its channel is
    /// opened, reopened or assigned, so the agent's first open is served from the cache.
    pub load_on_arrival: bool,
    pub consecutive_failures: i32,
    /// Owners and admins only (an error may quote the endpoint).
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Owners and admins only, like `last_error`.
    pub disabled_reason: Option<String>,
    /// When a call last succeeded (to the minute).
    pub last_success_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Section {
    /// The section as `role` may see it: agents get its title, channels, order and state,
    /// not where it calls, with what secret, or how it last failed.
    pub fn as_seen_by(mut self, role: Role) -> Self {
        if !role.is_admin() {
            self.secret = None;
            self.endpoint_url = None;
            self.last_error = None;
            self.last_error_at = None;
            self.disabled_reason = None;
        }
        self
    }

    /// The URL the section calls (empty only in a copy shown to an agent).
    pub fn endpoint(&self) -> &str {
        self.endpoint_url.as_deref().unwrap_or_default()
    }

    pub fn secret_bytes(&self) -> &[u8] {
        self.secret.as_ref().map_or(&[], |s| s.as_str().as_bytes())
    }

    /// Past half the failure limit the settings page warns before the section disables.
    pub fn is_failing(&self) -> bool {
        self.enabled && self.consecutive_failures * 2 >= FAILURE_LIMIT
    }
}

/// Owners and admins configure sections; agents only see them on their tickets.
pub fn ensure_may_manage(user: &CurrentUser) -> Result<(), AppError> {
    user.require_admin()
}

const SECTION_SELECT: &str = "
    SELECT s.id, s.title, s.endpoint_url, s.secret, s.position, s.enabled, s.load_on_arrival, s.consecutive_failures,
           s.last_error, s.last_error_at, s.disabled_at, s.disabled_reason, s.last_success_at, s.version, s.created_at, s.updated_at,
           ARRAY(SELECT channel_id FROM sidebar_section_channels c WHERE c.section_id = s.id ORDER BY channel_id)
             AS channel_ids
    FROM sidebar_sections s";

/// The workspace's sections in order, as `user` may see them.
pub async fn list_sections(
    conn: &mut PgConnection,
    user: &CurrentUser,
) -> Result<Vec<Section>, sqlx::Error> {
    let list: Vec<Section> = sqlx::query_as(&format!(
        "{SECTION_SELECT} WHERE s.workspace_id = $1 ORDER BY s.position, s.id"
    ))
    .bind(user.user.workspace_id)
    .fetch_all(conn)
    .await?;
    Ok(list
        .into_iter()
        .map(|s| s.as_seen_by(user.user.role))
        .collect())
}

/// One section as `user` may see it.
pub async fn get_section_seen_by(
    conn: &mut PgConnection,
    user: &CurrentUser,
    id: i64,
) -> Result<Section, AppError> {
    let section = get_section(conn, user.user.workspace_id, id).await?;
    Ok(section.as_seen_by(user.user.role))
}

pub(super) async fn get_section(
    conn: &mut PgConnection,
    workspace_id: i64,
    id: i64,
) -> Result<Section, AppError> {
    sqlx::query_as(&format!(
        "{SECTION_SELECT} WHERE s.workspace_id = $1 AND s.id = $2"
    ))
    .bind(workspace_id)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or(AppError::NotFound)
}

/// Sections by id, whatever their workspace: for background work whose ids come from the
/// database, never from a request.
pub(super) async fn sections_by_ids(
    conn: &mut PgConnection,
    ids: &[i64],
) -> Result<Vec<Section>, sqlx::Error> {
    sqlx::query_as(&format!("{SECTION_SELECT} WHERE s.id = ANY($1)"))
        .bind(ids)
        .fetch_all(conn)
        .await
}

/// A section as its settings page shows it: for owners and admins only.
pub async fn get_section_to_manage(
    conn: &mut PgConnection,
    user: &CurrentUser,
    id: i64,
) -> Result<Section, AppError> {
    ensure_may_manage(user)?;
    get_section(conn, user.user.workspace_id, id).await
}

/// The sections shown on a ticket of `channel_id`, in order (disabled ones included, so the
/// caller can report them). A ticket without a channel shows none.
pub async fn sections_for_channel(
    conn: &mut PgConnection,
    workspace_id: i64,
    channel_id: Option<i64>,
) -> Result<Vec<Section>, sqlx::Error> {
    let Some(channel_id) = channel_id else {
        return Ok(Vec::new());
    };
    sqlx::query_as(&format!(
        "{SECTION_SELECT} WHERE s.workspace_id = $1
           AND EXISTS (SELECT 1 FROM sidebar_section_channels c WHERE c.section_id = s.id AND c.channel_id = $2)
         ORDER BY s.position, s.id"
    ))
    .bind(workspace_id)
    .bind(channel_id)
    .fetch_all(conn)
    .await
}

/// A section with its fresh cached answer for one contact, if it has one.
#[derive(Debug, sqlx::FromRow)]
pub struct SectionWithCache {
    #[sqlx(flatten)]
    pub section: Section,
    pub cached_items: Option<sqlx::types::Json<Vec<serde_json::Value>>>,
    pub cached_at: Option<DateTime<Utc>>,
}

/// A ticket's contact and the sections of its channel (as [`sections_for_channel`]), each with
/// the contact's cached answer when it is younger than `ttl` and from the section's current
/// version: the warm sidebar in one query. `None` when the workspace has no such ticket.
pub async fn ticket_sections_with_cache(
    pool: &PgPool,
    workspace_id: i64,
    ticket_id: i64,
    ttl: std::time::Duration,
) -> Result<Option<(Contact, Vec<SectionWithCache>)>, sqlx::Error> {
    use sqlx::{FromRow, Row};
    let sections = SECTION_SELECT.replace(
        "FROM sidebar_sections s",
        ", cache.items AS cached_items, cache.fetched_at AS cached_at
    FROM sidebar_sections s
    LEFT JOIN sidebar_cache cache ON cache.section_id = s.id AND cache.contact_id = ct.id
         AND cache.section_version = s.version
         AND cache.fetched_at > now() - make_interval(secs => COALESCE(cache.cache_seconds, $3))",
    );
    let rows = sqlx::query(&format!(
        "SELECT ct.id AS contact_id, ct.name AS contact_name, ct.email AS contact_email, x.*
         FROM tickets t JOIN contacts ct ON ct.id = t.contact_id
         LEFT JOIN LATERAL ({sections} WHERE s.workspace_id = t.workspace_id
           AND EXISTS (SELECT 1 FROM sidebar_section_channels c
                       WHERE c.section_id = s.id AND c.channel_id = t.channel_id)) x ON true
         WHERE t.id = $1 AND t.workspace_id = $2
         ORDER BY x.position, x.id"
    ))
    .bind(ticket_id)
    .bind(workspace_id)
    .bind(ttl.as_secs_f64())
    .fetch_all(pool)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let contact = Contact {
        id: first.try_get("contact_id")?,
        name: first.try_get("contact_name")?,
        email: first.try_get("contact_email")?,
    };
    let mut sections = Vec::with_capacity(rows.len());
    for row in &rows {
        // A ticket whose channel has no sections (or no channel) still gives its one row.
        if row.try_get::<Option<i64>, _>("id")?.is_some() {
            sections.push(SectionWithCache::from_row(row)?);
        }
    }
    Ok(Some((contact, sections)))
}
