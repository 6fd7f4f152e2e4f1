//! The shared answer cache (`sidebar_cache`): one row per section and contact, for the
//! section's current version. Only successful answers are stored.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use super::items::Answer;
use super::sections::Section;

/// The cached answer for this section version and contact while it is fresh: within the
/// time its endpoint asked for (`cache_seconds`), else within `ttl`.
pub async fn fresh_entry(
    pool: &PgPool,
    section: &Section,
    contact_id: i64,
    ttl: Duration,
) -> Result<Option<(Vec<Value>, DateTime<Utc>)>, sqlx::Error> {
    entry(pool, section, contact_id, ttl, true).await
}

/// The last good answer if fetched within `max_age`, fresh or not (shown marked stale).
pub async fn last_good_entry(
    pool: &PgPool,
    section: &Section,
    contact_id: i64,
    max_age: Duration,
) -> Result<Option<(Vec<Value>, DateTime<Utc>)>, sqlx::Error> {
    entry(pool, section, contact_id, max_age, false).await
}

async fn entry(
    pool: &PgPool,
    section: &Section,
    contact_id: i64,
    max_age: Duration,
    answer_decides: bool,
) -> Result<Option<(Vec<Value>, DateTime<Utc>)>, sqlx::Error> {
    let row: Option<(sqlx::types::Json<Vec<Value>>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT items, fetched_at FROM sidebar_cache
         WHERE section_id = $1 AND contact_id = $2 AND section_version = $3
           AND fetched_at > now() - make_interval(secs => CASE WHEN $5 THEN COALESCE(cache_seconds, $4) ELSE $4 END)",
    )
    .bind(section.id)
    .bind(contact_id)
    .bind(section.version)
    .bind(max_age.as_secs_f64())
    .bind(answer_decides)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(json, at)| (json.0, at)))
}

pub async fn store(
    pool: &PgPool,
    section: &Section,
    contact_id: i64,
    answer: &Answer,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sidebar_cache (section_id, contact_id, section_version, items, fetched_at, cache_seconds)
         VALUES ($1, $2, $3, $4, now(), $5)
         ON CONFLICT (section_id, contact_id) DO UPDATE
           SET section_version = EXCLUDED.section_version, items = EXCLUDED.items,
               fetched_at = EXCLUDED.fetched_at, cache_seconds = EXCLUDED.cache_seconds",
    )
    .bind(section.id)
    .bind(contact_id)
    .bind(section.version)
    .bind(sqlx::types::Json(&answer.items))
    .bind(answer.cache_seconds.map(|s| s as i32))
    .execute(pool)
    .await?;
    Ok(())
}
