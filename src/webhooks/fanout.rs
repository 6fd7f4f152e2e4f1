//! Fan-out: turns committed domain events into webhook deliveries. Each event is taken once
//! (`FOR UPDATE SKIP LOCKED`, then marked), its audience computed, and one delivery with
//! its exact payload queued per notification, all in one transaction.

use std::collections::HashMap;

use chrono::Utc;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use super::audience::{EventFacts, Notification, Subscriber, audience};
use super::event_types::EventType;
use super::payload::{
    self, Body, ChannelObject, ContactObject, MessageObject, TicketObject, UserObject,
};
use super::queue::{self, NewDelivery};
use crate::app_url::AppUrl;
use crate::helpdesk::new_ulid;

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    workspace_id: i64,
    ticket_id: i64,
    kind: String,
    actor_id: Option<i64>,
    data: Value,
}

impl EventRow {
    fn facts(&self) -> EventFacts {
        let id = |key: &str| self.data.get(key).and_then(Value::as_i64);
        EventFacts {
            kind: self.kind.clone(),
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

/// Fans out up to `batch` pending events; returns how many events it took.
pub async fn fan_out_pending(
    pool: &PgPool,
    app_url: &AppUrl,
    batch: i64,
) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let events: Vec<EventRow> = sqlx::query_as!(
        EventRow,
        "SELECT id, workspace_id, ticket_id, kind, actor_id, data FROM events
         WHERE NOT webhooks_fanned_out ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        batch,
    )
    .fetch_all(&mut *tx)
    .await?;
    if events.is_empty() {
        return Ok(0);
    }
    let mut subscribers: HashMap<i64, Vec<Subscriber>> = HashMap::new();
    let mut context = Context::default();
    let mut deliveries = Vec::new();
    for event in &events {
        if let std::collections::hash_map::Entry::Vacant(slot) =
            subscribers.entry(event.workspace_id)
        {
            slot.insert(load_subscribers(&mut tx, event.workspace_id).await?);
        }
        let notifications = audience(&event.facts(), &subscribers[&event.workspace_id]);
        for notification in notifications {
            let Some(body) = context.body(&mut tx, app_url, event, &notification).await? else {
                continue;
            };
            let ulid = new_ulid();
            deliveries.push(NewDelivery {
                payload: payload::render(Some(notification.event_type), Utc::now(), &ulid, &body),
                ulid,
                workspace_id: event.workspace_id,
                destination_id: notification.destination_id,
                event_id: Some(event.id),
                event_type: notification.event_type.as_str().to_string(),
            });
        }
    }
    queue::insert_deliveries(&mut tx, &deliveries).await?;
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    sqlx::query!(
        "UPDATE events SET webhooks_fanned_out = true WHERE id = ANY($1)",
        &ids
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(events.len())
}

async fn load_subscribers(
    conn: &mut PgConnection,
    workspace_id: i64,
) -> Result<Vec<Subscriber>, sqlx::Error> {
    let rows: Vec<(i64, Option<i64>, Vec<String>)> = sqlx::query_as(
        "SELECT id, owner_user_id, events FROM webhook_destinations WHERE workspace_id = $1 AND enabled ORDER BY id",
    )
    .bind(workspace_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, owner, events)| Subscriber {
            destination_id: id,
            owner_user_id: owner,
            events: events.iter().filter_map(|e| EventType::parse(e)).collect(),
        })
        .collect())
}

/// The objects payloads are made of, loaded once per batch.
#[derive(Default)]
struct Context {
    tickets: HashMap<i64, TicketObject>,
    messages: HashMap<i64, MessageObject>,
    notes: HashMap<i64, MessageObject>,
    users: HashMap<i64, UserObject>,
}

impl Context {
    async fn body(
        &mut self,
        conn: &mut PgConnection,
        app_url: &AppUrl,
        event: &EventRow,
        notification: &Notification,
    ) -> Result<Option<Body>, sqlx::Error> {
        let ticket = self.ticket(conn, app_url, event.ticket_id).await?;
        let data_id = |key: &str| event.data.get(key).and_then(Value::as_i64);
        let about = match notification.about_user_id {
            Some(id) => self.user(conn, id).await?,
            None => None,
        };
        let body = match notification.event_type {
            EventType::TicketOpened => Some(Body::TicketOpened { ticket }),
            EventType::NewReply => match data_id("message_id") {
                Some(id) => self
                    .message(conn, id)
                    .await?
                    .map(|message| Body::NewReply { ticket, message }),
                None => None,
            },
            EventType::ReplyOnAssignedTicket => {
                match (data_id("message_id"), data_id("note_id"), about) {
                    (Some(id), _, Some(assigned_user)) => {
                        self.message(conn, id)
                            .await?
                            .map(|message| Body::ReplyOnAssignedTicket {
                                ticket,
                                message,
                                assigned_user,
                            })
                    }
                    (None, Some(id), Some(assigned_user)) => {
                        self.note(conn, id)
                            .await?
                            .map(|note| Body::NoteOnAssignedTicket {
                                ticket,
                                note,
                                assigned_user,
                            })
                    }
                    _ => None,
                }
            }
            EventType::MentionedInNote => {
                let by = match event.actor_id {
                    Some(id) => self.user(conn, id).await?,
                    None => None,
                };
                match (data_id("note_id"), about, by) {
                    (Some(id), Some(mentioned_user), Some(mentioned_by)) => self
                        .note(conn, id)
                        .await?
                        .map(|note| Body::MentionedInNote {
                            ticket,
                            note,
                            mentioned_user,
                            mentioned_by,
                        }),
                    _ => None,
                }
            }
            EventType::AssignedToMe => {
                let assigned_by = match event.actor_id {
                    Some(id) => self.user(conn, id).await?,
                    None => None,
                };
                about.map(|assigned_user| Body::AssignedToMe {
                    ticket,
                    assigned_user,
                    assigned_by,
                })
            }
        };
        Ok(body)
    }

    async fn ticket(
        &mut self,
        conn: &mut PgConnection,
        app_url: &AppUrl,
        id: i64,
    ) -> Result<TicketObject, sqlx::Error> {
        if let Some(t) = self.tickets.get(&id) {
            return Ok(t.clone());
        }
        let row: (i64, String, i32, String, String, Option<i64>, Option<String>, String, String) = sqlx::query_as(
            "SELECT t.id, t.ulid, t.number, t.subject, t.status, ch.id, ch.name, c.name, c.email
             FROM tickets t JOIN contacts c ON c.id = t.contact_id LEFT JOIN channels ch ON ch.id = t.channel_id
             WHERE t.id = $1",
        )
        .bind(id)
        .fetch_one(conn)
        .await?;
        let ticket = TicketObject {
            id: row.0,
            ulid: row.1,
            number: row.2,
            subject: row.3,
            status: row.4,
            url: app_url.link(&format!("/tickets/{}", row.0)),
            channel: row
                .5
                .zip(row.6)
                .map(|(id, name)| ChannelObject { id, name }),
            contact: ContactObject {
                name: row.7,
                email: row.8,
            },
        };
        self.tickets.insert(id, ticket.clone());
        Ok(ticket)
    }

    async fn message(
        &mut self,
        conn: &mut PgConnection,
        id: i64,
    ) -> Result<Option<MessageObject>, sqlx::Error> {
        if let Some(m) = self.messages.get(&id) {
            return Ok(Some(m.clone()));
        }
        let object = text_object(conn, "messages", id).await?;
        if let Some(o) = &object {
            self.messages.insert(id, o.clone());
        }
        Ok(object)
    }

    async fn note(
        &mut self,
        conn: &mut PgConnection,
        id: i64,
    ) -> Result<Option<MessageObject>, sqlx::Error> {
        if let Some(n) = self.notes.get(&id) {
            return Ok(Some(n.clone()));
        }
        let object = text_object(conn, "notes", id).await?;
        if let Some(o) = &object {
            self.notes.insert(id, o.clone());
        }
        Ok(object)
    }

    async fn user(
        &mut self,
        conn: &mut PgConnection,
        id: i64,
    ) -> Result<Option<UserObject>, sqlx::Error> {
        if let Some(u) = self.users.get(&id) {
            return Ok(Some(u.clone()));
        }
        let row: Option<(i64, String, String)> =
            sqlx::query_as("SELECT id, name, email FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(conn)
                .await?;
        let user = row.map(|(id, name, email)| UserObject { id, name, email });
        if let Some(u) = &user {
            self.users.insert(id, u.clone());
        }
        Ok(user)
    }
}

/// A message or note as the payload shows it.
async fn text_object(
    conn: &mut PgConnection,
    table: &'static str,
    id: i64,
) -> Result<Option<MessageObject>, sqlx::Error> {
    let row: Option<(i64, String, chrono::DateTime<Utc>, String)> = sqlx::query_as(&format!(
        "SELECT id, ulid, created_at, body FROM {table} WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(id, ulid, created_at, body)| MessageObject {
        id,
        ulid,
        created_at: payload::iso8601(created_at),
        excerpt: payload::excerpt(&body),
    }))
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
