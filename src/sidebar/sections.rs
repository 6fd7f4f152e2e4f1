//! Sidebar sections: what an admin configures (title, endpoint, secret, channels, order,
//! enabled) and the SQL that owns the `sidebar_sections` table.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;

use crate::auth::{CurrentUser, secret_token};
use crate::error::AppError;
use crate::helpdesk::contacts::Contact;
use crate::helpdesk::fields;
use crate::helpdesk::users::Role;
use crate::limits::{Limits, Quota, quota};
use crate::outbound::Outbound;

/// Consecutive failures after which a section disables itself (spec: 10).
pub const FAILURE_LIMIT: i32 = 10;
pub const MIN_SECRET_CHARS: usize = 8;
pub const MAX_SECRET_CHARS: usize = 256;

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Section {
    pub id: i64,
    pub title: String,
    /// Only owners and admins see it (a URL may carry credentials in its query).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Only owners and admins ever see it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub channel_ids: Vec<i64>,
    pub position: i32,
    pub enabled: bool,
    pub consecutive_failures: i32,
    /// Owners and admins only (an error may quote the endpoint).
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Owners and admins only, like `last_error`.
    pub disabled_reason: Option<String>,
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
        self.secret.as_deref().unwrap_or_default().as_bytes()
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
    SELECT s.id, s.title, s.endpoint_url, s.secret, s.position, s.enabled, s.consecutive_failures,
           s.last_error, s.last_error_at, s.disabled_at, s.disabled_reason, s.version, s.created_at, s.updated_at,
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

async fn get_section(
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
         AND cache.fetched_at > now() - make_interval(secs => $3)",
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

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SectionInput {
    pub title: Option<String>,
    pub endpoint_url: Option<String>,
    /// Leave out (or empty) on create to generate a strong secret.
    pub secret: Option<String>,
    pub channel_ids: Option<Vec<i64>>,
    /// 0-based place in the list; others move to make room.
    pub position: Option<i32>,
    /// Whether agents' tickets call it. On create, default true (the spec's sections work as
    /// soon as they are saved); send false to save it and Test it before it goes live.
    pub enabled: Option<bool>,
}

/// The secret typed on a form or sent to the API: checked, or generated when empty.
pub fn secret_or_generated(typed: Option<&str>) -> Result<String, AppError> {
    match typed.map(str::trim) {
        None | Some("") => Ok(generate_secret()),
        Some(custom) => check_secret(custom),
    }
}

/// A strong generated secret: 32 random bytes, hex.
pub fn generate_secret() -> String {
    secret_token::generate("", 32)
}

fn check_secret(secret: &str) -> Result<String, AppError> {
    let count = secret.chars().count();
    if count < MIN_SECRET_CHARS {
        return Err(AppError::validation(
            "secret",
            format!(
                "A secret needs at least {MIN_SECRET_CHARS} characters (or leave it empty to generate one)."
            ),
        ));
    }
    if count > MAX_SECRET_CHARS || secret.chars().any(char::is_control) {
        return Err(AppError::validation(
            "secret",
            format!("A secret is at most {MAX_SECRET_CHARS} printable characters."),
        ));
    }
    Ok(secret.to_string())
}

async fn check_channels(
    conn: &mut PgConnection,
    workspace_id: i64,
    ids: &[i64],
) -> Result<Vec<i64>, AppError> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let known: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM channels WHERE workspace_id = $1 AND id = ANY($2)",
    )
    .bind(workspace_id)
    .bind(&ids)
    .fetch_one(conn)
    .await?;
    if known as usize != ids.len() {
        return Err(AppError::validation(
            "channel_ids",
            "Pick channels of this workspace.",
        ));
    }
    Ok(ids)
}

pub async fn check_endpoint(outbound: &Outbound, raw: &str) -> Result<String, AppError> {
    outbound
        .validate_url(raw)
        .await
        .map(|url| url.to_string())
        .map_err(|rejection| AppError::validation("endpoint_url", rejection.message()))
}

pub async fn create_section(
    pool: &PgPool,
    outbound: &Outbound,
    limits: &Limits,
    user: &CurrentUser,
    input: SectionInput,
) -> Result<Section, AppError> {
    ensure_may_manage(user)?;
    let workspace_id = user.user.workspace_id;
    let title = fields::required_text(
        "title",
        "Title",
        input.title.as_deref().unwrap_or_default(),
        100,
    )?;
    let endpoint =
        check_endpoint(outbound, input.endpoint_url.as_deref().unwrap_or_default()).await?;
    let secret = secret_or_generated(input.secret.as_deref())?;
    let mut tx = pool.begin().await?;
    let channels = check_channels(
        &mut tx,
        workspace_id,
        input.channel_ids.as_deref().unwrap_or_default(),
    )
    .await?;
    // Serialise creations per workspace so positions stay distinct.
    sqlx::query("SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE")
        .bind(workspace_id)
        .execute(&mut *tx)
        .await?;
    quota::ensure_room(&mut tx, limits, Quota::SidebarSections, workspace_id).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO sidebar_sections (workspace_id, title, endpoint_url, secret, enabled, position,
                                       disabled_at, disabled_reason)
         VALUES ($1, $2, $3, $4, $5, (SELECT COALESCE(max(position) + 1, 0) FROM sidebar_sections WHERE workspace_id = $1),
                 CASE WHEN $5 THEN NULL ELSE now() END,
                 CASE WHEN $5 THEN NULL ELSE 'Saved disabled: not called until it is enabled.' END)
         RETURNING id",
    )
    .bind(workspace_id)
    .bind(&title)
    .bind(&endpoint)
    .bind(&secret)
    .bind(input.enabled.unwrap_or(true))
    .fetch_one(&mut *tx)
    .await?;
    set_channels(&mut tx, id, &channels).await?;
    if let Some(position) = input.position {
        move_to(&mut tx, workspace_id, id, position).await?;
    }
    let section = get_section(&mut tx, workspace_id, id).await?;
    tx.commit().await?;
    Ok(section)
}

/// Applies the fields given. A new endpoint, secret or channel list starts a new version,
/// so no response cached for the old settings is served again.
pub async fn update_section(
    pool: &PgPool,
    outbound: &Outbound,
    user: &CurrentUser,
    id: i64,
    input: SectionInput,
) -> Result<Section, AppError> {
    ensure_may_manage(user)?;
    let workspace_id = user.user.workspace_id;
    let title = match input.title.as_deref() {
        Some(t) => Some(fields::required_text("title", "Title", t, 100)?),
        None => None,
    };
    let endpoint = match input.endpoint_url.as_deref() {
        Some(raw) => Some(check_endpoint(outbound, raw).await?),
        None => None,
    };
    let secret = match input.secret.as_deref() {
        Some(s) => Some(check_secret(s)?),
        None => None,
    };
    let mut tx = pool.begin().await?;
    let current = lock_section(&mut tx, workspace_id, id).await?;
    let channels = match &input.channel_ids {
        Some(ids) => Some(check_channels(&mut tx, workspace_id, ids).await?),
        None => None,
    };
    let changes_calls = endpoint.as_ref().is_some_and(|e| e != current.endpoint())
        || secret
            .as_ref()
            .is_some_and(|s| Some(s) != current.secret.as_ref())
        || channels.as_ref().is_some_and(|c| *c != current.channel_ids);
    sqlx::query(
        "UPDATE sidebar_sections SET title = COALESCE($3, title), endpoint_url = COALESCE($4, endpoint_url),
                secret = COALESCE($5, secret), version = version + $6, updated_at = now()
         WHERE id = $1 AND workspace_id = $2",
    )
    .bind(id)
    .bind(workspace_id)
    .bind(title)
    .bind(endpoint)
    .bind(secret)
    .bind(i32::from(changes_calls))
    .execute(&mut *tx)
    .await?;
    if let Some(channels) = channels {
        set_channels(&mut tx, id, &channels).await?;
    }
    if changes_calls {
        sqlx::query("DELETE FROM sidebar_cache WHERE section_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(position) = input.position {
        move_to(&mut tx, workspace_id, id, position).await?;
    }
    let section = get_section(&mut tx, workspace_id, id).await?;
    tx.commit().await?;
    match input.enabled {
        Some(enabled) if enabled != section.enabled => set_enabled(pool, user, id, enabled).await,
        _ => Ok(section),
    }
}

pub async fn delete_section(pool: &PgPool, user: &CurrentUser, id: i64) -> Result<(), AppError> {
    ensure_may_manage(user)?;
    let workspace_id = user.user.workspace_id;
    let mut tx = pool.begin().await?;
    lock_section(&mut tx, workspace_id, id).await?;
    sqlx::query("DELETE FROM sidebar_sections WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    renumber(&mut tx, workspace_id, None).await?;
    tx.commit().await?;
    Ok(())
}

/// Enables (resetting the failure counter and the disable record) or disables by hand.
pub async fn set_enabled(
    pool: &PgPool,
    user: &CurrentUser,
    id: i64,
    enabled: bool,
) -> Result<Section, AppError> {
    ensure_may_manage(user)?;
    let workspace_id = user.user.workspace_id;
    let mut tx = pool.begin().await?;
    lock_section(&mut tx, workspace_id, id).await?;
    if enabled {
        sqlx::query(
            "UPDATE sidebar_sections SET enabled = true, consecutive_failures = 0, disabled_at = NULL,
                    disabled_reason = NULL, updated_at = now() WHERE id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
    } else {
        sqlx::query(
            "UPDATE sidebar_sections SET enabled = false, disabled_at = now(), disabled_reason = 'Disabled by an admin.',
                    updated_at = now() WHERE id = $1 AND enabled",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    let section = get_section(&mut tx, workspace_id, id).await?;
    tx.commit().await?;
    Ok(section)
}

/// Moves a section one place up (-1) or down (+1).
pub async fn move_section(
    pool: &PgPool,
    user: &CurrentUser,
    id: i64,
    by: i32,
) -> Result<(), AppError> {
    ensure_may_manage(user)?;
    let workspace_id = user.user.workspace_id;
    let mut tx = pool.begin().await?;
    let current = lock_section(&mut tx, workspace_id, id).await?;
    move_to(&mut tx, workspace_id, id, (current.position + by).max(0)).await?;
    tx.commit().await?;
    Ok(())
}

async fn lock_section(
    conn: &mut PgConnection,
    workspace_id: i64,
    id: i64,
) -> Result<Section, AppError> {
    sqlx::query("SELECT 1 FROM sidebar_sections WHERE id = $1 AND workspace_id = $2 FOR UPDATE")
        .bind(id)
        .bind(workspace_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(AppError::NotFound)?;
    get_section(conn, workspace_id, id).await
}

async fn set_channels(
    conn: &mut PgConnection,
    id: i64,
    channels: &[i64],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sidebar_section_channels WHERE section_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO sidebar_section_channels (section_id, channel_id) SELECT $1, unnest($2::bigint[])")
        .bind(id)
        .bind(channels)
        .execute(conn)
        .await?;
    Ok(())
}

async fn move_to(
    conn: &mut PgConnection,
    workspace_id: i64,
    id: i64,
    position: i32,
) -> Result<(), AppError> {
    if position < 0 {
        return Err(AppError::validation("position", "Position starts at 0."));
    }
    renumber(conn, workspace_id, Some((id, position as usize))).await
}

/// Rewrites positions as 0, 1, 2, ... in the current order, optionally moving one section.
async fn renumber(
    conn: &mut PgConnection,
    workspace_id: i64,
    moving: Option<(i64, usize)>,
) -> Result<(), AppError> {
    let mut order: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM sidebar_sections WHERE workspace_id = $1 ORDER BY position, id FOR UPDATE",
    )
    .bind(workspace_id)
    .fetch_all(&mut *conn)
    .await?;
    if let Some((id, to)) = moving {
        order.retain(|other| *other != id);
        order.insert(to.min(order.len()), id);
    }
    sqlx::query(
        "UPDATE sidebar_sections s SET position = o.position - 1
         FROM unnest($1::bigint[]) WITH ORDINALITY AS o(id, position) WHERE s.id = o.id",
    )
    .bind(&order)
    .execute(conn)
    .await?;
    Ok(())
}
