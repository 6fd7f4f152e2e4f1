//! Who hears about what: the rules that turn one domain event into notifications for
//! destinations. Pure functions, so every rule is unit tested here.
//!
//! Each notification type is defined by its own trigger, and a destination gets one
//! notification for every type it subscribes to whose trigger holds (so one action may send
//! it several, each with its own ulid):
//!
//! - A ticket received or reopened (by anyone, yourself included): `ticketOpened`.
//! - A contact's reply: `newReply`, and `replyOnAssignedTicket` to the assignee's destinations.
//! - A private note: `mentionedInNote` to each mentioned user's destinations, and
//!   `replyOnAssignedTicket` to the assignee's.
//! - An assignment (yourself too): `assignedToMe` to the new assignee's destinations.
//!
//! Only the exclusions the spec states: a note is a *teammate's* only when someone other than
//! the assignee wrote it, and nobody is "mentioned" by themselves. Workspace destinations
//! belong to no one. Linear in the number of destinations.

use chrono::{DateTime, Utc};

use super::event_types::EventType;

/// What the rules need to know of a domain event.
#[derive(Debug, Clone, Default)]
pub struct EventFacts {
    pub kind: String,
    /// When the event was recorded (committed with its change).
    pub recorded_at: DateTime<Utc>,
    /// The user who acted; None for the contact or the system.
    pub actor_id: Option<i64>,
    /// The ticket's assignee when the event happened (replies and notes).
    pub assignee_id: Option<i64>,
    /// The new assignee (assignments).
    pub new_assignee_id: Option<i64>,
    pub mentioned_user_ids: Vec<i64>,
}

#[derive(Debug, Clone)]
pub struct Subscriber {
    pub destination_id: i64,
    /// None for a workspace destination.
    pub owner_user_id: Option<i64>,
    pub events: Vec<EventType>,
    /// Made, or enabled again, at this moment: it hears only of events recorded since.
    pub listening_since: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub destination_id: i64,
    pub event_type: EventType,
    /// The user the notification is about ("me"): assigned_user, mentioned_user.
    pub about_user_id: Option<i64>,
}

pub fn audience(event: &EventFacts, subscribers: &[Subscriber]) -> Vec<Notification> {
    let mut out: Vec<Notification> = Vec::new();
    let mut offer = |sub: &Subscriber, event_type: EventType, about: Option<i64>| {
        // Nothing from before the destination listened, however late fan-out runs.
        if sub.events.contains(&event_type) && event.recorded_at >= sub.listening_since {
            out.push(Notification {
                destination_id: sub.destination_id,
                event_type,
                about_user_id: about,
            });
        }
    };
    let owned_by =
        |sub: &Subscriber, user: Option<i64>| user.is_some() && sub.owner_user_id == user;
    let other_than_actor = |user: Option<i64>| user.filter(|u| Some(*u) != event.actor_id);

    match event.kind.as_str() {
        "ticket_opened" | "ticket_reopened" => {
            for sub in subscribers {
                offer(sub, EventType::TicketOpened, None);
            }
        }
        "contact_replied" => {
            for sub in subscribers {
                offer(sub, EventType::NewReply, None);
                if owned_by(sub, event.assignee_id) {
                    offer(sub, EventType::ReplyOnAssignedTicket, event.assignee_id);
                }
            }
        }
        "note_added" => {
            let teammates_note_for = other_than_actor(event.assignee_id);
            for sub in subscribers {
                // A personal destination has one owner: at most one mention is theirs.
                let mentioned = event
                    .mentioned_user_ids
                    .iter()
                    .copied()
                    .find(|m| owned_by(sub, other_than_actor(Some(*m))));
                if let Some(mentioned) = mentioned {
                    offer(sub, EventType::MentionedInNote, Some(mentioned));
                }
                if owned_by(sub, teammates_note_for) {
                    offer(sub, EventType::ReplyOnAssignedTicket, teammates_note_for);
                }
            }
        }
        "ticket_assigned" => {
            for sub in subscribers
                .iter()
                .filter(|s| owned_by(s, event.new_assignee_id))
            {
                offer(sub, EventType::AssignedToMe, event.new_assignee_id);
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventType::*;

    const ALEX: i64 = 1;
    const SAM: i64 = 2;
    const KIM: i64 = 3;

    fn personal(id: i64, owner: i64, events: &[EventType]) -> Subscriber {
        Subscriber {
            destination_id: id,
            owner_user_id: Some(owner),
            events: events.to_vec(),
            listening_since: DateTime::<Utc>::default(),
        }
    }

    fn workspace(id: i64, events: &[EventType]) -> Subscriber {
        Subscriber {
            destination_id: id,
            owner_user_id: None,
            events: events.to_vec(),
            listening_since: DateTime::<Utc>::default(),
        }
    }

    fn everyone() -> Vec<Subscriber> {
        vec![
            workspace(10, &[TicketOpened, NewReply]),
            personal(11, ALEX, &EventType::ALL),
            personal(12, SAM, &EventType::ALL),
            personal(13, KIM, &[TicketOpened]),
        ]
    }

    fn facts(kind: &str) -> EventFacts {
        EventFacts {
            kind: kind.into(),
            ..Default::default()
        }
    }

    fn got(event: &EventFacts, subs: &[Subscriber]) -> Vec<(i64, EventType, Option<i64>)> {
        audience(event, subs)
            .into_iter()
            .map(|n| (n.destination_id, n.event_type, n.about_user_id))
            .collect()
    }

    #[test]
    fn a_received_ticket_reaches_every_ticket_opened_subscriber() {
        assert_eq!(
            got(&facts("ticket_opened"), &everyone()),
            [
                (10, TicketOpened, None),
                (11, TicketOpened, None),
                (12, TicketOpened, None),
                (13, TicketOpened, None)
            ]
        );
    }

    #[test]
    fn whoever_reopens_is_told_of_it_too() {
        let event = EventFacts {
            actor_id: Some(ALEX),
            ..facts("ticket_reopened")
        };
        let ids: Vec<i64> = got(&event, &everyone()).iter().map(|n| n.0).collect();
        assert_eq!(ids, [10, 11, 12, 13]);
    }

    #[test]
    fn a_contact_reply_is_new_reply_for_all_and_also_reply_on_assigned_for_the_assignee() {
        let event = EventFacts {
            assignee_id: Some(SAM),
            ..facts("contact_replied")
        };
        assert_eq!(
            got(&event, &everyone()),
            [
                (10, NewReply, None),
                (11, NewReply, None),
                (12, NewReply, None),
                (12, ReplyOnAssignedTicket, Some(SAM))
            ]
        );
    }

    #[test]
    fn only_subscribed_types_are_sent() {
        let event = EventFacts {
            assignee_id: Some(SAM),
            ..facts("contact_replied")
        };
        let subs = vec![
            personal(12, SAM, &[NewReply]),
            personal(14, SAM, &[ReplyOnAssignedTicket]),
            personal(15, SAM, &[AssignedToMe]),
        ];
        assert_eq!(
            got(&event, &subs),
            [(12, NewReply, None), (14, ReplyOnAssignedTicket, Some(SAM))]
        );
    }

    #[test]
    fn a_note_mentions_and_tells_the_assignee_but_never_its_author() {
        let event = EventFacts {
            actor_id: Some(ALEX),
            assignee_id: Some(SAM),
            mentioned_user_ids: vec![ALEX, KIM],
            ..facts("note_added")
        };
        let subs = vec![
            personal(11, ALEX, &EventType::ALL),
            personal(12, SAM, &EventType::ALL),
            personal(13, KIM, &EventType::ALL),
            workspace(10, &[TicketOpened, NewReply]),
        ];
        assert_eq!(
            got(&event, &subs),
            [
                (12, ReplyOnAssignedTicket, Some(SAM)),
                (13, MentionedInNote, Some(KIM))
            ]
        );
    }

    #[test]
    fn a_teammates_note_mentioning_the_assignee_sends_both_types() {
        let event = EventFacts {
            actor_id: Some(ALEX),
            assignee_id: Some(SAM),
            mentioned_user_ids: vec![SAM, SAM],
            ..facts("note_added")
        };
        assert_eq!(
            got(&event, &everyone()),
            [
                (12, MentionedInNote, Some(SAM)),
                (12, ReplyOnAssignedTicket, Some(SAM))
            ]
        );
    }

    #[test]
    fn the_assignees_own_note_tells_nobody_about_their_ticket() {
        let event = EventFacts {
            actor_id: Some(SAM),
            assignee_id: Some(SAM),
            ..facts("note_added")
        };
        assert!(got(&event, &everyone()).is_empty());
    }

    #[test]
    fn assignment_tells_the_assignee_even_when_they_took_it_themselves() {
        let by_alex = EventFacts {
            actor_id: Some(ALEX),
            new_assignee_id: Some(SAM),
            ..facts("ticket_assigned")
        };
        assert_eq!(got(&by_alex, &everyone()), [(12, AssignedToMe, Some(SAM))]);
        let by_system = EventFacts {
            actor_id: None,
            new_assignee_id: Some(SAM),
            ..facts("ticket_assigned")
        };
        assert_eq!(
            got(&by_system, &everyone()),
            [(12, AssignedToMe, Some(SAM))]
        );
        let self_assigned = EventFacts {
            actor_id: Some(SAM),
            new_assignee_id: Some(SAM),
            ..facts("ticket_assigned")
        };
        assert_eq!(
            got(&self_assigned, &everyone()),
            [(12, AssignedToMe, Some(SAM))]
        );
    }

    #[test]
    fn one_destination_per_subscriber_scan_stays_linear() {
        let subs: Vec<Subscriber> = (0..10_000)
            .map(|i| personal(i, i, &EventType::ALL))
            .collect();
        let event = EventFacts {
            actor_id: Some(1),
            assignee_id: Some(2),
            mentioned_user_ids: vec![2, 3],
            ..facts("note_added")
        };
        assert_eq!(got(&event, &subs).len(), 3);
    }

    #[test]
    fn other_events_notify_nobody() {
        for kind in ["agent_replied", "ticket_closed", "ticket_unassigned"] {
            assert!(
                got(
                    &EventFacts {
                        actor_id: Some(ALEX),
                        ..facts(kind)
                    },
                    &everyone()
                )
                .is_empty(),
                "{kind}"
            );
        }
    }

    #[test]
    fn a_destination_hears_nothing_recorded_before_it_listened() {
        let at = |secs| DateTime::<Utc>::from_timestamp(secs, 0).unwrap();
        let event = EventFacts {
            recorded_at: at(100),
            ..facts("ticket_opened")
        };
        let since = |secs| Subscriber {
            listening_since: at(secs),
            ..workspace(10, &[TicketOpened])
        };
        assert_eq!(
            audience(&event, &[since(100)]).len(),
            1,
            "the same moment counts"
        );
        assert!(audience(&event, &[since(101)]).is_empty());
    }
}
