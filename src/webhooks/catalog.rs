//! The event catalog: every payload type with its JSON Schema (draft 2020-12) and an example,
//! served at `GET /api/webhook-event-types` and kept in `docs/webhook-event-types.json`.
//! The schemas are exact: every field required (nullable ones say so), no field beyond them,
//! so a receiver (or our own test suite) can validate a payload strictly. The examples are
//! rendered by the very code that renders deliveries.

use chrono::{TimeZone, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::event_types::EventType;
use super::payload::{
    self, Body, ChannelObject, ContactObject, MessageObject, TEST_MESSAGE, TEST_TYPE, TicketObject,
    UserObject, WorkspaceObject,
};

/// One payload type of the catalog.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventTypeEntry {
    /// The payload's `type`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Its name in Settings.
    pub name: &'static str,
    /// When it is sent.
    pub description: &'static str,
    /// Which destinations may subscribe to it (`personal`, `workspace`); the test
    /// notification goes to any destination on request.
    pub scopes: Vec<&'static str>,
    /// A JSON Schema (draft 2020-12) of the whole payload.
    #[schema(value_type = Object)]
    pub schema: Value,
    /// A payload of this type.
    #[schema(value_type = Object)]
    pub example: Value,
}

/// The whole catalog.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Catalog {
    pub event_types: Vec<EventTypeEntry>,
}

/// Every payload type: the five notification types in the spec's order, then `test`.
pub fn catalog() -> Catalog {
    let mut event_types: Vec<EventTypeEntry> = EventType::ALL
        .into_iter()
        .map(|kind| EventTypeEntry {
            kind: kind.as_str(),
            name: kind.label(),
            description: description(kind),
            scopes: if kind.allowed_for_workspace() {
                vec!["personal", "workspace"]
            } else {
                vec!["personal"]
            },
            schema: schema(kind.as_str(), description(kind), body_schema(kind)),
            example: example(Some(kind)),
        })
        .collect();
    let test_description = "Sent when you trigger a test notification from a webhook destination.";
    event_types.push(EventTypeEntry {
        kind: TEST_TYPE,
        name: "Test notification",
        description: test_description,
        scopes: vec!["personal", "workspace"],
        schema: schema(
            TEST_TYPE,
            test_description,
            object(&[
                ("message", json!({"const": TEST_MESSAGE})),
                ("workspace", reference("workspace")),
            ]),
        ),
        example: example(None),
    });
    Catalog { event_types }
}

/// The catalog as the docs keep it: pretty-printed, ending in a newline.
pub fn catalog_json() -> String {
    serde_json::to_string_pretty(&catalog()).expect("the catalog serializes") + "\n"
}

fn description(kind: EventType) -> &'static str {
    match kind {
        EventType::TicketOpened => {
            "Sent when a new ticket is received or an existing ticket is reopened."
        }
        EventType::NewReply => "Sent when a contact replies to any ticket.",
        EventType::AssignedToMe => {
            "Sent when a ticket is assigned to the destination owner. assigned_by is null when \
             the assignment was not performed by a specific user."
        }
        EventType::MentionedInNote => {
            "Sent when someone mentions the destination owner in a private note."
        }
        EventType::ReplyOnAssignedTicket => {
            "Sent when a contact replies (the reply under message), or a teammate leaves a \
             private note (the note under note), on a ticket the destination owner is assigned to."
        }
    }
}

/// The fields after the envelope, per type.
fn body_schema(kind: EventType) -> Value {
    let ticket = ("ticket", reference("ticket"));
    match kind {
        EventType::TicketOpened => object(&[ticket]),
        EventType::NewReply => object(&[ticket, ("message", reference("message"))]),
        EventType::AssignedToMe => object(&[
            ticket,
            ("assigned_user", reference("user")),
            ("assigned_by", nullable("user")),
        ]),
        EventType::MentionedInNote => object(&[
            ticket,
            ("note", reference("message")),
            ("mentioned_user", reference("user")),
            ("mentioned_by", reference("user")),
        ]),
        EventType::ReplyOnAssignedTicket => json!({
            "oneOf": [
                object(&[ticket.clone(), ("message", reference("message")), ("assigned_user", reference("user"))]),
                object(&[ticket, ("note", reference("message")), ("assigned_user", reference("user"))]),
            ]
        }),
    }
}

/// A payload's whole schema: the envelope's fields added to each object of `body`.
fn schema(kind: &str, description: &str, body: Value) -> Value {
    let mut body = body;
    let with_envelope = |object: &mut Value| {
        let envelope = [
            ("type", json!({"const": kind})),
            (
                "sent_at",
                json!({"$ref": "#/$defs/timestamp", "description": "When the notification was sent."}),
            ),
            (
                "ulid",
                json!({"$ref": "#/$defs/ulid", "description": "This delivery's id: the same on every retry and resend."}),
            ),
        ];
        let properties = object["properties"]
            .as_object_mut()
            .expect("an object schema");
        let mut ordered = serde_json::Map::new();
        for (name, field) in envelope {
            ordered.insert(name.to_string(), field);
        }
        ordered.append(properties);
        *properties = ordered;
        let required = object["required"].as_array_mut().expect("an object schema");
        required.splice(0..0, ["type", "sent_at", "ulid"].map(Value::from));
    };
    match body.get_mut("oneOf").and_then(Value::as_array_mut) {
        Some(variants) => variants.iter_mut().for_each(with_envelope),
        None => with_envelope(&mut body),
    }
    let mut schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": kind,
        "description": description,
    });
    let fields = schema.as_object_mut().expect("an object");
    fields.append(body.as_object_mut().expect("an object"));
    fields.insert("$defs".into(), definitions());
    schema
}

/// An object with exactly these fields, all required.
fn object(fields: &[(&str, Value)]) -> Value {
    let mut properties = serde_json::Map::new();
    for (name, field) in fields {
        properties.insert(name.to_string(), field.clone());
    }
    json!({
        "type": "object",
        "properties": properties,
        "required": fields.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
        "additionalProperties": false,
    })
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/$defs/{name}")})
}

fn nullable(name: &str) -> Value {
    json!({"anyOf": [reference(name), {"type": "null"}]})
}

/// The shared shapes of the spec's payload reference.
fn definitions() -> Value {
    let id = json!({"type": "integer", "minimum": 1});
    let text = json!({"type": "string"});
    json!({
        "ulid": {"type": "string", "pattern": "^[0-9a-hjkmnp-tv-z]{26}$", "description": "A ULID, lower-case."},
        "timestamp": {"type": "string", "format": "date-time", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\+00:00$", "description": "ISO 8601 in UTC, e.g. 2026-06-05T10:00:00+00:00."},
        "channel": object(&[("id", id.clone()), ("name", text.clone())]),
        "contact": object(&[("name", text.clone()), ("email", text.clone())]),
        "ticket": object(&[
            ("id", id.clone()),
            ("ulid", reference("ulid")),
            ("number", json!({"type": "integer", "minimum": 1})),
            ("subject", text.clone()),
            ("status", json!({"enum": ["open", "closed"]})),
            ("url", json!({"type": "string", "format": "uri", "pattern": "^https?://"})),
            ("channel", json!({"anyOf": [reference("channel"), {"type": "null"}], "description": "null when the ticket is not bound to a channel."})),
            ("contact", reference("contact")),
        ]),
        "message": object(&[
            ("id", id.clone()),
            ("ulid", reference("ulid")),
            ("created_at", reference("timestamp")),
            ("excerpt", json!({"type": "string", "maxLength": super::excerpt::EXCERPT_CHARS, "description": "The first 500 characters of the message or note, tags stripped."})),
        ]),
        "user": object(&[("id", id.clone()), ("name", text.clone()), ("email", text.clone())]),
        "workspace": object(&[("id", id), ("name", text)]),
    })
}

/// A payload of the type, rendered as deliveries are.
fn example(kind: Option<EventType>) -> Value {
    let at = Utc.with_ymd_and_hms(2026, 6, 5, 10, 0, 0).unwrap();
    let ticket = TicketObject {
        id: 123,
        ulid: "01jab2cd3ef4gh5jk6mn7pq8r9".into(),
        number: 42,
        subject: "I can't log in".into(),
        status: "open".into(),
        url: "https://helpdesk.example.com/tickets/123".into(),
        channel: Some(ChannelObject {
            id: 7,
            name: "Support".into(),
        }),
        contact: ContactObject {
            name: "Jane Doe".into(),
            email: "jane@example.com".into(),
        },
    };
    let message = MessageObject {
        id: 999,
        ulid: "01jab2cd3ef4gh5jk6mn7pq8r0".into(),
        created_at: payload::iso8601(at),
        excerpt: "Thanks, that worked.".into(),
    };
    let alex = UserObject {
        id: 5,
        name: "Alex Vanderbist".into(),
        email: "alex@example.com".into(),
    };
    let freek = UserObject {
        id: 8,
        name: "Freek Van der Herten".into(),
        email: "freek@example.com".into(),
    };
    let body = match kind {
        Some(EventType::TicketOpened) => Body::TicketOpened { ticket },
        Some(EventType::NewReply) => Body::NewReply { ticket, message },
        Some(EventType::AssignedToMe) => Body::AssignedToMe {
            ticket,
            assigned_user: alex,
            assigned_by: Some(freek),
        },
        Some(EventType::MentionedInNote) => Body::MentionedInNote {
            ticket,
            note: message,
            mentioned_user: alex,
            mentioned_by: freek,
        },
        Some(EventType::ReplyOnAssignedTicket) => Body::ReplyOnAssignedTicket {
            ticket,
            message,
            assigned_user: alex,
        },
        None => Body::Test {
            message: TEST_MESSAGE,
            workspace: WorkspaceObject {
                id: 1,
                name: "Acme".into(),
            },
        },
    };
    let rendered = payload::render(kind, at, "01jab8z9r2pm3kc4td5ef6gh7j", &body);
    serde_json::from_str(&rendered).expect("payloads are JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_payload_type_is_in_the_catalog_once() {
        let kinds: Vec<&str> = catalog().event_types.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                "ticketOpened",
                "newReply",
                "assignedToMe",
                "mentionedInNote",
                "replyOnAssignedTicket",
                "test"
            ]
        );
    }

    #[test]
    fn the_envelope_leads_every_object_and_is_required() {
        for entry in catalog().event_types {
            let objects: Vec<&Value> = match entry.schema.get("oneOf") {
                Some(variants) => variants.as_array().unwrap().iter().collect(),
                None => vec![&entry.schema],
            };
            for object in objects {
                let names: Vec<&String> =
                    object["properties"].as_object().unwrap().keys().collect();
                assert_eq!(names[..3], ["type", "sent_at", "ulid"], "{}", entry.kind);
                assert_eq!(object["required"][0], "type");
                assert_eq!(object["properties"]["type"]["const"], entry.kind);
            }
        }
    }
}
