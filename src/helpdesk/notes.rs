//! Private notes: agents talking among themselves on a ticket, with @mentions.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;

use super::events::{EventKind, record_event};
use super::mentions::parse_mentions;
use super::thread::ThreadPage;
use super::ticket_lock::{lock_ticket, touch_ticket};
use super::users::{User, UserSummary, find_users_by_email_or_handle};
use super::{fields, new_ulid};
use crate::db::doorbell::Doorbell;
use crate::error::AppError;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Note {
    pub id: i64,
    pub ulid: String,
    pub author: UserSummary,
    pub body: String,
    /// The teammates the note @mentions.
    pub mentions: Vec<UserSummary>,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct NoteRow {
    id: i64,
    ulid: String,
    author_id: i64,
    author_name: String,
    author_email: String,
    #[sqlx(default)]
    author_deactivated: bool,
    body: String,
    created_at: DateTime<Utc>,
    #[sqlx(json)]
    mentions: Vec<MentionRow>,
}

#[derive(serde::Deserialize)]
struct MentionRow {
    id: i64,
    name: String,
    email: String,
    #[serde(default)]
    deactivated: bool,
}

impl From<NoteRow> for Note {
    fn from(r: NoteRow) -> Self {
        Note {
            id: r.id,
            ulid: r.ulid,
            author: UserSummary {
                id: r.author_id,
                name: r.author_name,
                email: r.author_email,
                deactivated: r.author_deactivated,
            },
            body: r.body,
            mentions: r
                .mentions
                .into_iter()
                .map(|m| UserSummary {
                    id: m.id,
                    name: m.name,
                    email: m.email,
                    deactivated: m.deactivated,
                })
                .collect(),
            created_at: r.created_at,
        }
    }
}

const NOTE_SELECT: &str = "
    SELECT n.id, n.ulid, n.author_id, a.name AS author_name, a.email AS author_email,
           a.deactivated_at IS NOT NULL AS author_deactivated, n.body, n.created_at,
           COALESCE((SELECT json_agg(json_build_object('id', u.id, 'name', u.name, 'email', u.email, 'deactivated', u.deactivated_at IS NOT NULL) ORDER BY u.id)
                     FROM note_mentions nm JOIN users u ON u.id = nm.user_id WHERE nm.note_id = n.id),
                    '[]'::json) AS mentions
    FROM notes n JOIN users a ON a.id = n.author_id";

/// A ticket holds at most this many notes; one more is refused (409).
pub const MAX_PER_TICKET: i64 = 5_000;

/// The newest `page.limit` notes before `page.before`, oldest first, and whether earlier ones
/// exist.
pub async fn list_notes(
    conn: &mut PgConnection,
    ticket_id: i64,
    page: ThreadPage,
) -> Result<(Vec<Note>, bool), sqlx::Error> {
    let rows: Vec<NoteRow> = sqlx::query_as(&format!(
        "{NOTE_SELECT} WHERE n.ticket_id = $1 AND ($2::int8 IS NULL OR n.id < $2)
         ORDER BY n.id DESC LIMIT $3"
    ))
    .bind(ticket_id)
    .bind(page.before)
    .bind(page.rows_to_fetch())
    .fetch_all(conn)
    .await?;
    let (rows, earlier) = page.from_newest(rows);
    Ok((rows.into_iter().map(Note::from).collect(), earlier))
}

/// An agent adds a private note. Mentions (`@email` or `@handle`) are resolved to users of
/// the same workspace; names that match nobody stay plain text.
pub async fn add_note(
    pool: &PgPool,
    bell: &Doorbell,
    workspace_id: i64,
    ticket_id: i64,
    author: &User,
    body: &str,
) -> Result<Note, AppError> {
    let body = fields::required_text("body", "Note", body, fields::MAX_BODY_CHARS)?;
    let mut tx = pool.begin().await?;
    let locked = lock_ticket(&mut tx, workspace_id, ticket_id).await?;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM notes WHERE ticket_id = $1")
        .bind(locked.id)
        .fetch_one(&mut *tx)
        .await?;
    if count >= MAX_PER_TICKET {
        return Err(AppError::conflict(
            "body",
            format!("This ticket holds {MAX_PER_TICKET} notes, the most one ticket may."),
        ));
    }
    let mentioned =
        find_users_by_email_or_handle(&mut tx, workspace_id, &parse_mentions(&body)).await?;
    let note_id: i64 = sqlx::query_scalar(
        "INSERT INTO notes (ulid, workspace_id, ticket_id, author_id, body) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(new_ulid())
    .bind(workspace_id)
    .bind(locked.id)
    .bind(author.id)
    .bind(&body)
    .fetch_one(&mut *tx)
    .await?;
    let mentioned_ids: Vec<i64> = mentioned.iter().map(|u| u.id).collect();
    sqlx::query("INSERT INTO note_mentions (note_id, user_id) SELECT $1, unnest($2::bigint[])")
        .bind(note_id)
        .bind(&mentioned_ids)
        .execute(&mut *tx)
        .await?;
    touch_ticket(&mut tx, locked.id).await?;
    record_event(
        &mut tx,
        workspace_id,
        locked.id,
        EventKind::NoteAdded,
        Some(author.id),
        json!({ "note_id": note_id, "mentioned_user_ids": mentioned_ids, "assignee_id": locked.assignee_id }),
    )
    .await?;
    let row: NoteRow = sqlx::query_as(&format!("{NOTE_SELECT} WHERE n.id = $1"))
        .bind(note_id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    bell.ring();
    Ok(row.into())
}
