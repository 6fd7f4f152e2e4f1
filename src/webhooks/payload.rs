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

/// The type of the test notification, which is not one a destination subscribes to.
pub const TEST_TYPE: &str = "test";

/// Every payload `type`: the five notification types in the spec's order, then `test`.
pub fn payload_types() -> impl Iterator<Item = &'static str> {
    EventType::ALL
        .into_iter()
        .map(EventType::as_str)
        .chain([TEST_TYPE])
}

/// The body bytes of one delivery.
pub fn render(kind: Option<EventType>, sent_at: DateTime<Utc>, ulid: &str, body: &Body) -> String {
    let envelope = Envelope {
        kind: kind.map(EventType::as_str).unwrap_or(TEST_TYPE),
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

    fn ticket(channel: Option<ChannelObject>) -> TicketObject {
        TicketObject {
            id: 123,
            ulid: "01jab2cd3ef4gh5jk6mn7pq8r9".into(),
            number: 42,
            subject: "I can't log in".into(),
            status: "open".into(),
            url: "https://there-there.app/tickets/123".into(),
            channel,
            contact: ContactObject {
                name: "Jane Doe".into(),
                email: "jane@example.com".into(),
            },
        }
    }

    fn message() -> MessageObject {
        MessageObject {
            id: 999,
            ulid: "01jab2cd3ef4gh5jk6mn7pq8r0".into(),
            created_at: "2026-06-05T10:00:00+00:00".into(),
            excerpt: "Thanks, that worked.".into(),
        }
    }

    fn user(id: i64, name: &str, email: &str) -> UserObject {
        UserObject {
            id,
            name: name.into(),
            email: email.into(),
        }
    }

    fn rendered(kind: EventType, body: Body) -> String {
        let at = Utc.with_ymd_and_hms(2026, 6, 5, 10, 0, 0).unwrap();
        render(Some(kind), at, "01jab8z9r2pm3kc4td5ef6gh7j", &body)
    }

    const ENVELOPE: &str =
        r#""sent_at":"2026-06-05T10:00:00+00:00","ulid":"01jab8z9r2pm3kc4td5ef6gh7j""#;
    const TICKET_NO_CHANNEL: &str = r#""ticket":{"id":123,"ulid":"01jab2cd3ef4gh5jk6mn7pq8r9","number":42,"subject":"I can't log in","status":"open","url":"https://there-there.app/tickets/123","channel":null,"contact":{"name":"Jane Doe","email":"jane@example.com"}}"#;
    const MESSAGE: &str = r#"{"id":999,"ulid":"01jab2cd3ef4gh5jk6mn7pq8r0","created_at":"2026-06-05T10:00:00+00:00","excerpt":"Thanks, that worked."}"#;
    const ALEX: &str = r#"{"id":5,"name":"Alex Vanderbist","email":"alex@example.com"}"#;
    const FREEK: &str = r#"{"id":8,"name":"Freek Van der Herten","email":"freek@example.com"}"#;

    fn alex() -> UserObject {
        user(5, "Alex Vanderbist", "alex@example.com")
    }

    fn freek() -> UserObject {
        user(8, "Freek Van der Herten", "freek@example.com")
    }

    #[test]
    fn a_ticket_without_a_channel_says_channel_null() {
        assert_eq!(
            rendered(
                EventType::TicketOpened,
                Body::TicketOpened {
                    ticket: ticket(None)
                }
            ),
            format!(r#"{{"type":"ticketOpened",{ENVELOPE},{TICKET_NO_CHANNEL}}}"#)
        );
    }

    #[test]
    fn new_reply_bytes() {
        let body = Body::NewReply {
            ticket: ticket(None),
            message: message(),
        };
        assert_eq!(
            rendered(EventType::NewReply, body),
            format!(r#"{{"type":"newReply",{ENVELOPE},{TICKET_NO_CHANNEL},"message":{MESSAGE}}}"#)
        );
    }

    #[test]
    fn assigned_to_me_bytes_with_and_without_an_assigner() {
        let body = |by| Body::AssignedToMe {
            ticket: ticket(None),
            assigned_user: alex(),
            assigned_by: by,
        };
        assert_eq!(
            rendered(EventType::AssignedToMe, body(Some(freek()))),
            format!(
                r#"{{"type":"assignedToMe",{ENVELOPE},{TICKET_NO_CHANNEL},"assigned_user":{ALEX},"assigned_by":{FREEK}}}"#
            )
        );
        assert_eq!(
            rendered(EventType::AssignedToMe, body(None)),
            format!(
                r#"{{"type":"assignedToMe",{ENVELOPE},{TICKET_NO_CHANNEL},"assigned_user":{ALEX},"assigned_by":null}}"#
            )
        );
    }

    #[test]
    fn reply_on_assigned_ticket_bytes_for_a_reply_and_for_a_note() {
        let reply = Body::ReplyOnAssignedTicket {
            ticket: ticket(None),
            message: message(),
            assigned_user: alex(),
        };
        assert_eq!(
            rendered(EventType::ReplyOnAssignedTicket, reply),
            format!(
                r#"{{"type":"replyOnAssignedTicket",{ENVELOPE},{TICKET_NO_CHANNEL},"message":{MESSAGE},"assigned_user":{ALEX}}}"#
            )
        );
        let note = Body::NoteOnAssignedTicket {
            ticket: ticket(None),
            note: message(),
            assigned_user: alex(),
        };
        assert_eq!(
            rendered(EventType::ReplyOnAssignedTicket, note),
            format!(
                r#"{{"type":"replyOnAssignedTicket",{ENVELOPE},{TICKET_NO_CHANNEL},"note":{MESSAGE},"assigned_user":{ALEX}}}"#
            )
        );
    }

    #[test]
    fn mentioned_in_note_bytes() {
        let body = Body::MentionedInNote {
            ticket: ticket(None),
            note: message(),
            mentioned_user: alex(),
            mentioned_by: freek(),
        };
        assert_eq!(
            rendered(EventType::MentionedInNote, body),
            format!(
                r#"{{"type":"mentionedInNote",{ENVELOPE},{TICKET_NO_CHANNEL},"note":{MESSAGE},"mentioned_user":{ALEX},"mentioned_by":{FREEK}}}"#
            )
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
