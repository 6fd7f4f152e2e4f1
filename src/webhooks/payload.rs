//! The exact payloads of the spec: field names, nesting, order, nulls and types. Structs
//! (not maps) keep the field order; the body is built once per delivery and every attempt
//! sends the same bytes.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::event_types::EventType;

/// `2026-06-05T10:00:00+00:00`, as in the spec.
pub fn iso8601(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

#[derive(Debug, Clone, Serialize)]
pub struct ChannelObject {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContactObject {
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TicketObject {
    pub id: i64,
    pub ulid: String,
    pub number: i32,
    pub subject: String,
    pub status: String,
    pub url: String,
    pub channel: Option<ChannelObject>,
    pub contact: ContactObject,
}

/// A message or a note.
#[derive(Debug, Clone, Serialize)]
pub struct MessageObject {
    pub id: i64,
    pub ulid: String,
    pub created_at: String,
    pub excerpt: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct UserObject {
    pub id: i64,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkspaceObject {
    pub id: i64,
    pub name: String,
}

/// The part after the envelope, per type.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Body {
    TicketOpened {
        ticket: TicketObject,
    },
    NewReply {
        ticket: TicketObject,
        message: MessageObject,
    },
    AssignedToMe {
        ticket: TicketObject,
        assigned_user: UserObject,
        assigned_by: Option<UserObject>,
    },
    /// A contact's reply on the owner's ticket.
    ReplyOnAssignedTicket {
        ticket: TicketObject,
        message: MessageObject,
        assigned_user: UserObject,
    },
    /// A teammate's private note on the owner's ticket: the note under `note`.
    NoteOnAssignedTicket {
        ticket: TicketObject,
        note: MessageObject,
        assigned_user: UserObject,
    },
    MentionedInNote {
        ticket: TicketObject,
        note: MessageObject,
        mentioned_user: UserObject,
        mentioned_by: UserObject,
    },
    Test {
        message: &'static str,
        workspace: WorkspaceObject,
    },
}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    sent_at: String,
    ulid: &'a str,
    #[serde(flatten)]
    body: &'a Body,
}

pub const TEST_MESSAGE: &str = "This is a test webhook from There There.";

/// The body bytes of one delivery.
pub fn render(kind: Option<EventType>, sent_at: DateTime<Utc>, ulid: &str, body: &Body) -> String {
    let envelope = Envelope {
        kind: kind.map(EventType::as_str).unwrap_or("test"),
        sent_at: iso8601(sent_at),
        ulid,
        body,
    };
    serde_json::to_string(&envelope).expect("payloads serialize")
}

pub use super::excerpt::excerpt;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_envelope_and_ticket_follow_the_spec_field_by_field() {
        let at = Utc.with_ymd_and_hms(2026, 6, 5, 10, 0, 0).unwrap();
        let body = Body::TicketOpened {
            ticket: TicketObject {
                id: 123,
                ulid: "01jab2cd3ef4gh5jk6mn7pq8r9".into(),
                number: 42,
                subject: "I can't log in".into(),
                status: "open".into(),
                url: "https://there-there.app/tickets/123".into(),
                channel: Some(ChannelObject {
                    id: 7,
                    name: "Support".into(),
                }),
                contact: ContactObject {
                    name: "Jane Doe".into(),
                    email: "jane@example.com".into(),
                },
            },
        };
        let json = render(
            Some(EventType::TicketOpened),
            at,
            "01jab8z9r2pm3kc4td5ef6gh7j",
            &body,
        );
        assert_eq!(
            json,
            r#"{"type":"ticketOpened","sent_at":"2026-06-05T10:00:00+00:00","ulid":"01jab8z9r2pm3kc4td5ef6gh7j","ticket":{"id":123,"ulid":"01jab2cd3ef4gh5jk6mn7pq8r9","number":42,"subject":"I can't log in","status":"open","url":"https://there-there.app/tickets/123","channel":{"id":7,"name":"Support"},"contact":{"name":"Jane Doe","email":"jane@example.com"}}}"#
        );
    }

    #[test]
    fn the_test_payload_matches_the_spec() {
        let at = Utc.with_ymd_and_hms(2026, 6, 5, 10, 0, 0).unwrap();
        let body = Body::Test {
            message: TEST_MESSAGE,
            workspace: WorkspaceObject {
                id: 1,
                name: "Spatie".into(),
            },
        };
        assert_eq!(
            render(None, at, "01jab8z9r2pm3kc4td5ef6gh7j", &body),
            r#"{"type":"test","sent_at":"2026-06-05T10:00:00+00:00","ulid":"01jab8z9r2pm3kc4td5ef6gh7j","message":"This is a test webhook from There There.","workspace":{"id":1,"name":"Spatie"}}"#
        );
    }
}
