//! Fan-out: turns committed domain events into webhook deliveries. Each event is taken once
//! (`FOR UPDATE SKIP LOCKED`, then marked), its audience computed, and one delivery with
//! its exact payload queued per notification, all in one transaction.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use super::audience::{EventFacts, Notification, Subscriber, audience};
use super::event_types::EventType;
use super::payload::{
    self, Body, ChannelObject, ContactObject, MessageObject, TicketObject, UserObject,
};
use super::queue::{self, NewDelivery};
use crate::app_url::AppUrl;
use crate::helpdesk::intake::AfterBatch;
use crate::helpdesk::new_ulid;

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    workspace_id: i64,
    ticket_id: i64,
    kind: String,
    actor_id: Option<i64>,
    data: Value,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl EventRow {
    fn facts(&self) -> EventFacts {
        let id = |key: &str| self.data.get(key).and_then(Value::as_i64);
        EventFacts {
            kind: self.kind.clone(),
            recorded_at: self.created_at,
            actor_id: self.actor_id,
            assignee_id: id("assignee_id").filter(|_| self.kind != "ticket_assigned"),
            new_assignee_id: id("assignee_id").filter(|_| self.kind == "ticket_assigned"),
            mentioned_user_ids: self
                .data
                .get("mentioned_user_ids")
                .and_then(Value::as_array)
                .map(|ids| ids.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default(),
        }
    }
}

/// Fans out up to `batch` pending events; returns how many events it took. Workspaces take
/// turns (every workspace's oldest pending event before any workspace's second), so one
/// workspace's burst of thousands delays another's next event by one batch, not by the
/// burst: pending workspaces are found by a loose index scan (one probe each), then each
/// gives its oldest events.
pub async fn fan_out_pending(
    pool: &PgPool,
    app_url: &AppUrl,
    batch: i64,
) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let events: Vec<EventRow> = sqlx::query_as!(
        EventRow,
        "WITH RECURSIVE pending_workspaces AS (
             (SELECT workspace_id FROM events WHERE NOT webhooks_fanned_out
              ORDER BY workspace_id LIMIT 1)
             UNION ALL
             SELECT (SELECT e.workspace_id FROM events e
                     WHERE NOT e.webhooks_fanned_out AND e.workspace_id > p.workspace_id
                     ORDER BY e.workspace_id LIMIT 1)
             FROM pending_workspaces p WHERE p.workspace_id IS NOT NULL),
         turns AS (
             SELECT e.id, row_number() OVER (PARTITION BY e.workspace_id ORDER BY e.id) AS turn
             FROM pending_workspaces p CROSS JOIN LATERAL (
                 SELECT id, workspace_id FROM events e
                 WHERE NOT e.webhooks_fanned_out AND e.workspace_id = p.workspace_id
                 ORDER BY id LIMIT $1) e)
         SELECT id, workspace_id, ticket_id, kind, actor_id, data, created_at FROM events
         WHERE id = ANY(ARRAY(SELECT id FROM turns ORDER BY turn, id LIMIT $1))
           AND NOT webhooks_fanned_out
         ORDER BY id FOR UPDATE SKIP LOCKED",
        batch,
    )
    .fetch_all(&mut *tx)
    .await?;
    fan_out(tx, app_url, events).await
}

/// Fans out those of `ids` not taken already (by the worker's loop, or another instance's),
/// at once; returns how many events it took. For the ticket intake's batches.
pub async fn fan_out_events(
    pool: &PgPool,
    app_url: &AppUrl,
    ids: &[i64],
) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let events: Vec<EventRow> = sqlx::query_as(
        "SELECT id, workspace_id, ticket_id, kind, actor_id, data, created_at FROM events
         WHERE id = ANY($1) AND NOT webhooks_fanned_out
         ORDER BY id FOR UPDATE SKIP LOCKED",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    fan_out(tx, app_url, events).await
}

/// The intake's step after each batch of tickets (`helpdesk::intake::AfterBatch`): the
/// batch's events are fanned out before the next batch starts. What fails here stays pending
/// for the worker's loop.
pub fn after_intake(pool: PgPool, app_url: AppUrl) -> AfterBatch {
    Arc::new(move |ids| {
        let (pool, app_url) = (pool.clone(), app_url.clone());
        Box::pin(async move {
            if let Err(err) = fan_out_events(&pool, &app_url, &ids).await {
                tracing::warn!(error = %err, "fanning out new tickets failed; the worker will");
            }
        })
    })
}

/// Most deliveries one fan-out transaction queues (an event's own always go together). It
/// bounds how long the intake's after-batch step holds up the next batch of tickets, every
/// workspace's, for one workspace with many destinations; the events left over wait for the
/// worker's next pass (a poll at most away).
const MOST_DELIVERIES: usize = 2_000;

/// Queues the deliveries of `events` (locked by the caller's `tx`), up to [`MOST_DELIVERIES`],
/// and marks the events fanned out, then commits; returns how many events it took.
async fn fan_out(
    mut tx: Transaction<'_, Postgres>,
    app_url: &AppUrl,
    events: Vec<EventRow>,
) -> Result<usize, sqlx::Error> {
    if events.is_empty() {
        return Ok(0);
    }
    let subscribers = load_subscribers(&mut tx, &events).await?;
    // Who hears what first: the objects payloads are made of are loaded only for the events
    // someone hears (a workspace with no destinations costs its events' marks alone). Up to
    // the bound, workspaces take turns here too: each one's oldest event before any one's
    // second.
    let mut turns: HashMap<i64, usize> = HashMap::new();
    let mut in_turn: Vec<(usize, &EventRow)> = events
        .iter()
        .map(|event| {
            let turn = turns.entry(event.workspace_id).or_default();
            *turn += 1;
            (*turn, event)
        })
        .collect();
    in_turn.sort_by_key(|(turn, event)| (*turn, event.id));
    let mut taken: Vec<(&EventRow, Vec<Notification>)> = Vec::new();
    let mut planned = 0;
    for (_, event) in in_turn {
        let subscribers = subscribers
            .get(&event.workspace_id)
            .map_or(&[][..], Vec::as_slice);
        let notifications = audience(&event.facts(), subscribers);
        if !taken.is_empty() && planned + notifications.len() > MOST_DELIVERIES {
            break;
        }
        planned += notifications.len();
        taken.push((event, notifications));
    }
    // Those past the bound stay pending (locked until this commits).
    let ids: Vec<i64> = taken.iter().map(|(event, _)| event.id).collect();
    let heard: Vec<(&EventRow, Vec<Notification>)> = taken
        .into_iter()
        .filter(|(_, notifications)| !notifications.is_empty())
        .collect();
    let mut deliveries = Vec::new();
    if !heard.is_empty() {
        let context = Context::load(&mut tx, app_url, &heard).await?;
        for (event, notifications) in heard {
            for notification in notifications {
                let Some(body) = context.body(event, &notification) else {
                    continue;
                };
                let ulid = new_ulid();
                deliveries.push(NewDelivery {
                    payload: payload::render(
                        Some(notification.event_type),
                        Utc::now(),
                        &ulid,
                        &body,
                    ),
                    ulid,
                    workspace_id: event.workspace_id,
                    destination_id: notification.destination_id,
                    event_id: Some(event.id),
                    event_type: notification.event_type.as_str().to_string(),
                });
            }
        }
    }
    queue::insert_deliveries(&mut tx, &deliveries).await?;
    sqlx::query!(
        "UPDATE events SET webhooks_fanned_out = true WHERE id = ANY($1)",
        &ids
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ids.len())
}

/// The enabled destinations of the workspaces `events` come from, by workspace, in one query.
async fn load_subscribers(
    conn: &mut PgConnection,
    events: &[EventRow],
) -> Result<HashMap<i64, Vec<Subscriber>>, sqlx::Error> {
    let mut workspaces: Vec<i64> = events.iter().map(|e| e.workspace_id).collect();
    workspaces.sort_unstable();
    workspaces.dedup();
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        i64,
        i64,
        Option<i64>,
        Vec<String>,
        chrono::DateTime<chrono::Utc>,
    )> = sqlx::query_as(
        // A deactivated person's personal destinations hear nothing until they are back.
        "SELECT d.workspace_id, d.id, d.owner_user_id, d.events, d.listening_since
         FROM webhook_destinations d
         WHERE d.workspace_id = ANY($1) AND d.enabled
           AND NOT EXISTS (SELECT 1 FROM users u
                           WHERE u.id = d.owner_user_id AND u.deactivated_at IS NOT NULL)
         ORDER BY d.id",
    )
    .bind(&workspaces)
    .fetch_all(conn)
    .await?;
    let mut subscribers: HashMap<i64, Vec<Subscriber>> = HashMap::new();
    for (workspace_id, id, owner, events, listening_since) in rows {
        subscribers
            .entry(workspace_id)
            .or_default()
            .push(Subscriber {
                destination_id: id,
                owner_user_id: owner,
                events: events.iter().filter_map(|e| EventType::parse(e)).collect(),
                listening_since,
            });
    }
    Ok(subscribers)
}

/// A ticket as its payload object is made.
#[derive(sqlx::FromRow)]
struct TicketFacts {
    id: i64,
    ulid: String,
    number: i32,
    subject: String,
    status: String,
    channel_id: Option<i64>,
    channel_name: Option<String>,
    contact_name: String,
    contact_email: String,
}

/// The objects payloads are made of: every ticket, message, note and user a batch's events
/// name, loaded in four queries for the whole batch (a query per event and object made
/// fan-out lag seconds behind a burst of tickets).
struct Context {
    tickets: HashMap<i64, TicketObject>,
    messages: HashMap<i64, MessageObject>,
    notes: HashMap<i64, MessageObject>,
    users: HashMap<i64, UserObject>,
}

impl Context {
    async fn load(
        conn: &mut PgConnection,
        app_url: &AppUrl,
        heard: &[(&EventRow, Vec<Notification>)],
    ) -> Result<Context, sqlx::Error> {
        let events: Vec<&EventRow> = heard.iter().map(|(event, _)| *event).collect();
        let ids = |key: &str| -> Vec<i64> {
            events
                .iter()
                .filter_map(|e| e.data.get(key).and_then(Value::as_i64))
                .collect()
        };
        // Messages and notes only where a payload shows them ([`Context::body`]): a new
        // ticket's event names its first message, which `ticketOpened` never shows.
        let shown = |key: &str, types: &[EventType]| -> Vec<i64> {
            heard
                .iter()
                .filter(|(_, notifications)| {
                    notifications.iter().any(|n| types.contains(&n.event_type))
                })
                .filter_map(|(e, _)| e.data.get(key).and_then(Value::as_i64))
                .collect()
        };
        let mut user_ids: Vec<i64> = events.iter().filter_map(|e| e.actor_id).collect();
        user_ids.extend(ids("assignee_id"));
        for event in &events {
            let facts = event.facts();
            user_ids.extend(facts.mentioned_user_ids);
        }
        let ticket_ids: Vec<i64> = events.iter().map(|e| e.ticket_id).collect();
        let tickets: Vec<TicketFacts> = sqlx::query_as(
            "SELECT t.id, t.ulid, t.number, t.subject, t.status, ch.id AS channel_id,
                    ch.name AS channel_name, c.name AS contact_name, c.email AS contact_email
             FROM tickets t JOIN contacts c ON c.id = t.contact_id LEFT JOIN channels ch ON ch.id = t.channel_id
             WHERE t.id = ANY($1)",
        )
        .bind(&ticket_ids)
        .fetch_all(&mut *conn)
        .await?;
        let users: Vec<(i64, String, String)> = if user_ids.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as("SELECT id, name, email FROM users WHERE id = ANY($1)")
                .bind(&user_ids)
                .fetch_all(&mut *conn)
                .await?
        };
        Ok(Context {
            tickets: tickets
                .into_iter()
                .map(|row| {
                    let ticket = TicketObject {
                        url: app_url.link(&format!("/tickets/{}", row.id)),
                        channel: row
                            .channel_id
                            .zip(row.channel_name)
                            .map(|(id, name)| ChannelObject { id, name }),
                        contact: ContactObject {
                            name: row.contact_name,
                            email: row.contact_email,
                        },
                        id: row.id,
                        ulid: row.ulid,
                        number: row.number,
                        subject: row.subject,
                        status: row.status,
                    };
                    (ticket.id, ticket)
                })
                .collect(),
            messages: text_objects(
                conn,
                "messages",
                &shown(
                    "message_id",
                    &[EventType::NewReply, EventType::ReplyOnAssignedTicket],
                ),
            )
            .await?,
            notes: text_objects(
                conn,
                "notes",
                &shown(
                    "note_id",
                    &[EventType::MentionedInNote, EventType::ReplyOnAssignedTicket],
                ),
            )
            .await?,
            users: users
                .into_iter()
                .map(|(id, name, email)| (id, UserObject { id, name, email }))
                .collect(),
        })
    }

    /// The payload's body for this notification of `event`; `None` when an object it needs
    /// is gone.
    fn body(&self, event: &EventRow, notification: &Notification) -> Option<Body> {
        let ticket = self.tickets.get(&event.ticket_id)?.clone();
        let data_id = |key: &str| event.data.get(key).and_then(Value::as_i64);
        let user = |id: Option<i64>| id.and_then(|id| self.users.get(&id)).cloned();
        let message = || {
            data_id("message_id")
                .and_then(|id| self.messages.get(&id))
                .cloned()
        };
        let note = || {
            data_id("note_id")
                .and_then(|id| self.notes.get(&id))
                .cloned()
        };
        let about = user(notification.about_user_id);
        match notification.event_type {
            EventType::TicketOpened => Some(Body::TicketOpened { ticket }),
            EventType::NewReply => message().map(|message| Body::NewReply { ticket, message }),
            EventType::ReplyOnAssignedTicket => {
                let assigned_user = about?;
                match data_id("message_id") {
                    Some(_) => message().map(|message| Body::ReplyOnAssignedTicket {
                        ticket,
                        message,
                        assigned_user,
                    }),
                    None => note().map(|note| Body::NoteOnAssignedTicket {
                        ticket,
                        note,
                        assigned_user,
                    }),
                }
            }
            EventType::MentionedInNote => Some(Body::MentionedInNote {
                ticket,
                note: note()?,
                mentioned_user: about?,
                mentioned_by: user(event.actor_id)?,
            }),
            EventType::AssignedToMe => Some(Body::AssignedToMe {
                ticket,
                assigned_user: about?,
                assigned_by: user(event.actor_id),
            }),
        }
    }
}

/// Messages or notes as payloads show them, by id.
async fn text_objects(
    conn: &mut PgConnection,
    table: &'static str,
    ids: &[i64],
) -> Result<HashMap<i64, MessageObject>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, String, chrono::DateTime<Utc>, String)> = sqlx::query_as(&format!(
        "SELECT id, ulid, created_at, body FROM {table} WHERE id = ANY($1)"
    ))
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, ulid, created_at, body)| {
            let object = MessageObject {
                id,
                ulid,
                created_at: payload::iso8601(created_at),
                excerpt: payload::excerpt(&body),
            };
            (id, object)
        })
        .collect())
}

/// The age of the oldest event not yet fanned out (zero when none), for `/metrics`.
pub async fn lag(pool: &PgPool) -> Result<std::time::Duration, sqlx::Error> {
    let seconds: f64 = sqlx::query_scalar(
        "SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8
         FROM events WHERE NOT webhooks_fanned_out",
    )
    .fetch_one(pool)
    .await?;
    Ok(std::time::Duration::from_secs_f64(seconds.max(0.0)))
}
