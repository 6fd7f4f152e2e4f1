//! Webhook destinations: a URL, the notification types it wants, and its signing secret.
//! Personal destinations belong to one user and are visible to that user alone; workspace
//! destinations belong to the workspace and are managed by owners and admins.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;

use super::event_types::EventType;
use super::replay_offer::{self, ReplayOffer};
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::limits::{Limits, Quota, quota};
use crate::outbound::Outbound;
use crate::secrets::{self, Opened};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Personal,
    Workspace,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Destination {
    pub id: i64,
    pub scope: Scope,
    /// The owner of a personal destination; null for a workspace destination.
    pub owner_user_id: Option<i64>,
    pub name: String,
    pub url: String,
    pub events: Vec<EventType>,
    pub enabled: bool,
    /// When the service disabled it (a receiver's 410 Gone); null otherwise, and once anyone
    /// enables or disables it themselves.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Why the service disabled it.
    pub disabled_reason: Option<String>,
    /// Deliveries in a row that failed every attempt (0 after any success); at
    /// `WEBHOOK_DISABLE_AFTER_FAILURES` over `WEBHOOK_DISABLE_AFTER_HOURS` it is disabled.
    pub failed_deliveries: i32,
    /// The signing secret; shown to whoever may manage the destination.
    pub secret: String,
    /// Until when the secret replaced by the last regenerate still signs `webhook-signature`
    /// beside this one (a grace period asked for when regenerating); null when it no longer does.
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// The replaced secret while it still signs; never shown or returned.
    #[serde(skip)]
    pub previous_secret: Option<String>,
    /// Only in the answer to the change that enabled a destination that had been failing:
    /// what failed meanwhile, to resend with `POST .../replay` and this `since`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_offer: Option<ReplayOffer>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct DestinationRow {
    id: i64,
    owner_user_id: Option<i64>,
    name: String,
    url: String,
    events: Vec<String>,
    enabled: bool,
    disabled_at: Option<DateTime<Utc>>,
    disabled_reason: Option<String>,
    failed_deliveries: i32,
    /// Opened as they are read (stored sealed).
    secret: Opened,
    previous_secret: Option<Opened>,
    previous_secret_until: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<DestinationRow> for Destination {
    fn from(r: DestinationRow) -> Self {
        Destination {
            id: r.id,
            scope: if r.owner_user_id.is_some() {
                Scope::Personal
            } else {
                Scope::Workspace
            },
            owner_user_id: r.owner_user_id,
            name: r.name,
            url: r.url,
            events: r
                .events
                .iter()
                .filter_map(|e| EventType::parse(e))
                .collect(),
            enabled: r.enabled,
            disabled_at: r.disabled_at,
            disabled_reason: r.disabled_reason,
            failed_deliveries: r.failed_deliveries,
            secret: r.secret.0,
            previous_secret_until: r.previous_secret_until,
            previous_secret: r.previous_secret.map(|s| s.0),
            replay_offer: None,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A destination's columns; the previous secret only while its grace period lasts.
const COLUMNS: &str = "id, owner_user_id, name, url, events, enabled, disabled_at, disabled_reason, failed_deliveries, secret,
     CASE WHEN previous_secret_until > now() THEN previous_secret END AS previous_secret,
     CASE WHEN previous_secret_until > now() THEN previous_secret_until END AS previous_secret_until,
     created_at, updated_at";

/// The longest a replaced secret may keep signing after a regenerate.
pub const MAX_SECRET_GRACE_HOURS: i64 = 7 * 24;

/// A new secret in the Standard Webhooks form: `whsec_` and 32 random bytes in base64.
pub fn generate_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Who may see and change a destination: a personal one only its owner; a workspace one
/// owners and admins. Anyone else is told it does not exist.
pub fn may_manage(user: &CurrentUser, destination: &Destination) -> bool {
    match destination.owner_user_id {
        Some(owner) => owner == user.user.id,
        None => user.user.role.is_admin(),
    }
}

/// The destinations `user` may manage: their own personal ones, and the workspace's when
/// they are an owner or admin.
pub async fn list_destinations(
    conn: &mut PgConnection,
    user: &CurrentUser,
    scope: Option<Scope>,
) -> Result<Vec<Destination>, sqlx::Error> {
    let rows: Vec<DestinationRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM webhook_destinations
         WHERE workspace_id = $1 AND (owner_user_id = $2 OR (owner_user_id IS NULL AND $3))
           AND ($4::text IS NULL OR ($4 = 'personal') = (owner_user_id IS NOT NULL))
         ORDER BY id"
    ))
    .bind(user.user.workspace_id)
    .bind(user.user.id)
    .bind(user.user.role.is_admin())
    .bind(scope.map(|s| {
        if s == Scope::Personal {
            "personal"
        } else {
            "workspace"
        }
    }))
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Destination::from).collect())
}

/// A destination `user` may manage, or NotFound.
pub async fn get_destination(
    conn: &mut PgConnection,
    user: &CurrentUser,
    id: i64,
) -> Result<Destination, AppError> {
    let row: Option<DestinationRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM webhook_destinations WHERE id = $1 AND workspace_id = $2"
    ))
    .bind(id)
    .bind(user.user.workspace_id)
    .fetch_optional(conn)
    .await?;
    let destination = row.map(Destination::from).ok_or(AppError::NotFound)?;
    if may_manage(user, &destination) {
        Ok(destination)
    } else {
        Err(AppError::NotFound)
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DestinationInput {
    /// Required on create: `personal` or `workspace`.
    pub scope: Option<Scope>,
    pub url: Option<String>,
    /// Notification types: ticketOpened, newReply, assignedToMe, mentionedInNote,
    /// replyOnAssignedTicket (workspace destinations: the first two only).
    pub events: Option<Vec<String>>,
    pub name: Option<String>,
    pub enabled: Option<bool>,
}

fn check_events(scope: Scope, events: &[String]) -> Result<Vec<String>, AppError> {
    let mut checked: Vec<EventType> = Vec::new();
    for raw in events {
        let event = EventType::parse(raw).ok_or_else(|| {
            AppError::validation(
                "events",
                format!(
                    "Unknown notification type {raw:?}. Use: {}.",
                    EventType::ALL.map(EventType::as_str).join(", ")
                ),
            )
        })?;
        if scope == Scope::Workspace && !event.allowed_for_workspace() {
            return Err(AppError::validation(
                "events",
                format!(
                    "{} is personal: workspace destinations support only ticketOpened and newReply.",
                    event.as_str()
                ),
            ));
        }
        if !checked.contains(&event) {
            checked.push(event);
        }
    }
    if checked.is_empty() {
        return Err(AppError::validation(
            "events",
            "Pick at least one notification type.",
        ));
    }
    checked.sort();
    Ok(checked.iter().map(|e| e.as_str().to_string()).collect())
}

fn check_name(name: Option<&str>) -> Result<String, AppError> {
    let name = name.unwrap_or_default().trim();
    if name.chars().count() > 100 {
        return Err(AppError::validation(
            "name",
            "A name is at most 100 characters.",
        ));
    }
    Ok(name.to_string())
}

async fn check_url(outbound: &Outbound, raw: &str) -> Result<String, AppError> {
    outbound
        .validate_url(raw)
        .await
        .map(|u| u.to_string())
        .map_err(|rejection| AppError::validation("url", rejection.message()))
}

pub async fn create_destination(
    pool: &PgPool,
    outbound: &Outbound,
    limits: &Limits,
    user: &CurrentUser,
    input: DestinationInput,
) -> Result<Destination, AppError> {
    let scope = input.scope.ok_or_else(|| {
        AppError::validation(
            "scope",
            "Say whether this is a personal or a workspace destination.",
        )
    })?;
    if scope == Scope::Workspace {
        user.require_admin()?;
    }
    let events = check_events(scope, input.events.as_deref().unwrap_or_default())?;
    let name = check_name(input.name.as_deref())?;
    let url = check_url(outbound, input.url.as_deref().unwrap_or_default()).await?;
    let owner = (scope == Scope::Personal).then_some(user.user.id);
    let mut tx = pool.begin().await?;
    match owner {
        Some(user_id) => {
            quota::ensure_room(&mut tx, limits, Quota::PersonalDestinations, user_id).await?
        }
        None => {
            let workspace = user.user.workspace_id;
            quota::ensure_room(&mut tx, limits, Quota::WorkspaceDestinations, workspace).await?
        }
    }
    let row: DestinationRow = sqlx::query_as(&format!(
        "INSERT INTO webhook_destinations (workspace_id, owner_user_id, name, url, events, enabled, secret)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(user.user.workspace_id)
    .bind(owner)
    .bind(name)
    .bind(url)
    .bind(events)
    .bind(input.enabled.unwrap_or(true))
    .bind(secrets::seal(&generate_secret()))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row.into())
}

pub async fn update_destination(
    pool: &PgPool,
    outbound: &Outbound,
    user: &CurrentUser,
    id: i64,
    input: DestinationInput,
) -> Result<Destination, AppError> {
    let mut conn = pool.acquire().await?;
    let current = get_destination(&mut conn, user, id).await?;
    if input.scope.is_some_and(|s| s != current.scope) {
        return Err(AppError::validation(
            "scope",
            "A destination's scope can't change; create a new one.",
        ));
    }
    let events = match &input.events {
        Some(events) => Some(check_events(current.scope, events)?),
        None => None,
    };
    let name = match input.name.as_deref() {
        Some(n) => Some(check_name(Some(n))?),
        None => None,
    };
    let url = match input.url.as_deref() {
        Some(raw) => Some(check_url(outbound, raw).await?),
        None => None,
    };
    // Read before enabling resets the failure streak it is measured from.
    let offer = if input.enabled == Some(true) && !current.enabled {
        replay_offer::offer_on_enabling(pool, id).await?
    } else {
        None
    };
    let row: DestinationRow = sqlx::query_as(&format!(
        "UPDATE webhook_destinations SET name = COALESCE($2, name), url = COALESCE($3, url),
                events = COALESCE($4, events), enabled = COALESCE($5, enabled),
                disabled_at = CASE WHEN $5 IS NULL THEN disabled_at END,
                disabled_reason = CASE WHEN $5 IS NULL THEN disabled_reason END,
                failed_deliveries = CASE WHEN $5 IS NULL THEN failed_deliveries ELSE 0 END,
                failing_since = CASE WHEN $5 IS NULL THEN failing_since END,
                failure_warned = failure_warned AND $5 IS NULL,
                updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(name)
    .bind(url)
    .bind(events)
    .bind(input.enabled)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Destination {
        replay_offer: offer,
        ..row.into()
    })
}

pub async fn delete_destination(
    pool: &PgPool,
    user: &CurrentUser,
    id: i64,
) -> Result<(), AppError> {
    let mut conn = pool.acquire().await?;
    get_destination(&mut conn, user, id).await?;
    sqlx::query("DELETE FROM webhook_destinations WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Rolls the secret: every later attempt (retries and resends too) signs with the new one.
/// With a grace period (hours, 1 to [`MAX_SECRET_GRACE_HOURS`]) the replaced secret keeps
/// signing `webhook-signature` beside it until then, so receivers can switch without
/// refusing anything; `ThereThere-Signature` carries the new secret's alone, as the spec says.
/// Regenerating again within a grace period keeps only the secret being replaced.
pub async fn regenerate_secret(
    pool: &PgPool,
    user: &CurrentUser,
    id: i64,
    grace_hours: Option<i64>,
) -> Result<Destination, AppError> {
    let grace_hours = grace_hours.unwrap_or(0);
    if !(0..=MAX_SECRET_GRACE_HOURS).contains(&grace_hours) {
        return Err(AppError::validation(
            "grace_period_hours",
            format!(
                "The grace period must be between 0 (none) and {MAX_SECRET_GRACE_HOURS} hours."
            ),
        ));
    }
    let mut conn = pool.acquire().await?;
    get_destination(&mut conn, user, id).await?;
    let row: DestinationRow = sqlx::query_as(&format!(
        "UPDATE webhook_destinations SET secret = $2,
             previous_secret = CASE WHEN $3 > 0 THEN secret END,
             previous_secret_until = CASE WHEN $3 > 0 THEN now() + make_interval(hours => $3) END,
             updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(secrets::seal(&generate_secret()))
    .bind(grace_hours as i32)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.into())
}

/// Ends a grace period now: only the current secret signs from the next attempt on.
pub async fn retire_previous_secret(
    pool: &PgPool,
    user: &CurrentUser,
    id: i64,
) -> Result<Destination, AppError> {
    let mut conn = pool.acquire().await?;
    get_destination(&mut conn, user, id).await?;
    let row: DestinationRow = sqlx::query_as(&format!(
        "UPDATE webhook_destinations SET previous_secret = NULL, previous_secret_until = NULL, updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.into())
}
