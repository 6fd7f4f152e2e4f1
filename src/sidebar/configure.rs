//! Changing sections: create, update, delete, enable or disable, and reorder, each in one
//! transaction under the section's row lock, each for owners and admins only.

use crate::secrets::Opened;
use sqlx::{PgConnection, PgPool};

use super::section_input::{
    SectionInput, check_channels, check_endpoint, check_secret, secret_or_generated,
};
use super::sections::{Section, ensure_may_manage, get_section};
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::helpdesk::fields;
use crate::limits::{Limits, Quota, quota};
use crate::outbound::Outbound;

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
                                       disabled_at, disabled_reason, load_on_arrival)
         VALUES ($1, $2, $3, $4, $5, (SELECT COALESCE(max(position) + 1, 0) FROM sidebar_sections WHERE workspace_id = $1),
                 CASE WHEN $5 THEN NULL ELSE now() END,
                 CASE WHEN $5 THEN NULL ELSE 'Saved disabled: not called until it is enabled.' END, $6)
         RETURNING id",
    )
    .bind(workspace_id)
    .bind(&title)
    .bind(&endpoint)
    .bind(crate::secrets::seal(&secret))
    .bind(input.enabled.unwrap_or(true))
    .bind(input.load_on_arrival.unwrap_or(false))
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
            .is_some_and(|s| Some(s.as_str()) != current.secret.as_ref().map(Opened::as_str))
        || channels.as_ref().is_some_and(|c| *c != current.channel_ids);
    sqlx::query(
        "UPDATE sidebar_sections SET title = COALESCE($3, title), endpoint_url = COALESCE($4, endpoint_url),
                secret = COALESCE($5, secret), version = version + $6,
                load_on_arrival = COALESCE($7, load_on_arrival), updated_at = now()
         WHERE id = $1 AND workspace_id = $2",
    )
    .bind(id)
    .bind(workspace_id)
    .bind(title)
    .bind(endpoint)
    .bind(secret.as_deref().map(crate::secrets::seal))
    .bind(i32::from(changes_calls))
    .bind(input.load_on_arrival)
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
