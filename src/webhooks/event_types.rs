//! The five notification types, named as the spec names them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum EventType {
    #[serde(rename = "ticketOpened")]
    TicketOpened,
    #[serde(rename = "newReply")]
    NewReply,
    #[serde(rename = "assignedToMe")]
    AssignedToMe,
    #[serde(rename = "mentionedInNote")]
    MentionedInNote,
    #[serde(rename = "replyOnAssignedTicket")]
    ReplyOnAssignedTicket,
}

impl EventType {
    pub const ALL: [EventType; 5] = [
        EventType::TicketOpened,
        EventType::NewReply,
        EventType::AssignedToMe,
        EventType::MentionedInNote,
        EventType::ReplyOnAssignedTicket,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::TicketOpened => "ticketOpened",
            EventType::NewReply => "newReply",
            EventType::AssignedToMe => "assignedToMe",
            EventType::MentionedInNote => "mentionedInNote",
            EventType::ReplyOnAssignedTicket => "replyOnAssignedTicket",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == raw)
    }

    /// Workspace destinations take only the two types that are not about "me".
    pub fn allowed_for_workspace(self) -> bool {
        matches!(self, EventType::TicketOpened | EventType::NewReply)
    }

    /// The label people see in settings.
    pub fn label(self) -> &'static str {
        match self {
            EventType::TicketOpened => "Ticket opened",
            EventType::NewReply => "New reply on any ticket",
            EventType::AssignedToMe => "Ticket assigned to me",
            EventType::MentionedInNote => "Mentioned in a private note",
            EventType::ReplyOnAssignedTicket => {
                "New reply or private note on a ticket I'm assigned to"
            }
        }
    }
}
