//! The shared answer cache (`sidebar_cache`): one row per section and contact, for the
//! section's current version. Only successful answers are stored.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use super::sections::Section;

/// The cached answer for this section version and contact, if fetched within `max_age`.
pub async fn fresh_entry(
    pool: &PgPool,
    section: &Section,
    contact_id: i64,
    max_age: Duration,
) -> Result<Option<(Vec<Value>, DateTime<Utc>)>, sqlx::Error> {
    let row: Option<(sqlx::types::Json<Vec<Value>>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT items, fetched_at FROM sidebar_cache
         WHERE section_id = $1 AND contact_id = $2 AND section_version = $3
           AND fetched_at > now() - make_interval(secs => $4)",
    )
    .bind(section.id)
    .bind(contact_id)
    .bind(section.version)
    .bind(max_age.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(json, at)| (json.0, at)))
}

pub async fn store(
    pool: &PgPool,
    section: &Section,
    contact_id: i64,
    items: &[Value],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sidebar_cache (section_id, contact_id, section_version, items, fetched_at)
         VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (section_id, contact_id) DO UPDATE
           SET section_version = EXCLUDED.section_version, items = EXCLUDED.items, fetched_at = EXCLUDED.fetched_at",
    )
    .bind(section.id)
    .bind(contact_id)
    .bind(section.version)
    .bind(sqlx::types::Json(items))
    .execute(pool)
    .await?;
    Ok(())
}
