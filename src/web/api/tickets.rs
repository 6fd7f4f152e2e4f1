//! `/api/tickets`: receive, read, reply, note, assign, close and reopen.

use crate::limits::creation::Creation;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::extract::{AppJson, AppPath, AppQuery};
use crate::auth::CurrentUser;
use crate::error::{AppError, ErrorBody};
use crate::helpdesk::events::{self, Event};
use crate::helpdesk::intake::NewTicket;
use crate::helpdesk::messages::{self, Author, Message};
use crate::helpdesk::notes::{self, Note};
use crate::helpdesk::tickets::{self, Ticket, TicketDetail, TicketFilter, TicketStatus};
use crate::web::state::AppState;

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// `open` (default), `closed` or `all`.
    #[serde(default)]
    #[param(value_type = Option<String>)]
    pub status: TicketFilter,
}

#[utoipa::path(get, path = "/api/tickets", tag = "tickets", params(ListQuery),
    responses((status = 200, body = Vec<Ticket>), (status = 401, body = ErrorBody)))]
pub async fn list_tickets(
    State(state): State<AppState>,
    current: CurrentUser,
    AppQuery(query): AppQuery<ListQuery>,
) -> Result<AppJson<Vec<Ticket>>, AppError> {
    let mut conn = state.pool().acquire().await?;
    let list =
        tickets::list_tickets(&mut conn, current.user.workspace_id, query.status, 200).await?;
    Ok(AppJson(list))
}

/// Receives a new ticket from a contact, as an inbound email would.
#[utoipa::path(post, path = "/api/tickets", tag = "tickets", request_body = NewTicket,
    responses((status = 201, body = Ticket), (status = 422, body = ErrorBody)))]
pub async fn create_ticket(
    State(state): State<AppState>,
    current: CurrentUser,
    AppJson(new): AppJson<NewTicket>,
) -> Result<(StatusCode, AppJson<Ticket>), AppError> {
    state.admit_creation(Creation::Ticket, &current.user)?;
    let ticket = state
        .intake()
        .receive(current.user.workspace_id, new)
        .await?;
    Ok((StatusCode::CREATED, AppJson(ticket)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ThreadQuery {
    /// Messages older than this id (`earlier_messages_before` of the previous answer).
    pub messages_before: Option<i64>,
    /// Notes older than this id (`earlier_notes_before` of the previous answer).
    pub notes_before: Option<i64>,
    /// How many messages and how many notes, 1 to 200 (default 50), the newest chosen.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// A ticket with its newest messages and notes (older ones a page at a time).
#[utoipa::path(get, path = "/api/tickets/{id}", tag = "tickets", params(("id" = i64, Path), ThreadQuery),
    responses((status = 200, body = TicketDetail), (status = 404, body = ErrorBody)))]
pub async fn get_ticket(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
    AppQuery(query): AppQuery<ThreadQuery>,
) -> Result<AppJson<TicketDetail>, AppError> {
    let limit = query.limit.unwrap_or(tickets::ThreadPage::DEFAULT);
    if !(1..=tickets::ThreadPage::MAX).contains(&limit) {
        return Err(AppError::validation("limit", "The page size is 1 to 200."));
    }
    let page = |before| tickets::ThreadPage { before, limit };
    Ok(AppJson(
        tickets::get_ticket_detail(
            state.pool(),
            current.user.workspace_id,
            id,
            page(query.messages_before),
            page(query.notes_before),
        )
        .await?,
    ))
}

/// The ticket's activity: every domain event recorded for it, oldest first.
#[utoipa::path(get, path = "/api/tickets/{id}/events", tag = "tickets", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Event>), (status = 404, body = ErrorBody)))]
pub async fn list_ticket_events(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<Vec<Event>>, AppError> {
    let mut conn = state.pool().acquire().await?;
    let ticket = tickets::get_ticket(&mut conn, current.user.workspace_id, id).await?;
    Ok(AppJson(
        events::list_ticket_events(&mut conn, current.user.workspace_id, ticket.id).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct NewMessage {
    /// `contact` records a reply from the customer (as an inbound email would); `agent` a reply by the caller.
    pub from: Author,
    pub body: String,
}

#[utoipa::path(post, path = "/api/tickets/{id}/messages", tag = "tickets", params(("id" = i64, Path)),
    request_body = NewMessage,
    responses((status = 201, body = Message), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_message(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
    AppJson(new): AppJson<NewMessage>,
) -> Result<(StatusCode, AppJson<Message>), AppError> {
    state.admit_creation(Creation::Message, &current.user)?;
    let workspace_id = current.user.workspace_id;
    let message = match new.from {
        Author::Contact => {
            messages::add_contact_reply(state.pool(), state.events(), workspace_id, id, &new.body)
                .await?
        }
        Author::Agent => {
            messages::add_agent_reply(
                state.pool(),
                state.events(),
                workspace_id,
                id,
                &current.user,
                &new.body,
            )
            .await?
        }
    };
    Ok((StatusCode::CREATED, AppJson(message)))
}

#[derive(Deserialize, ToSchema)]
pub struct NewNote {
    /// Mention teammates with `@` and their email or handle.
    pub body: String,
}

#[utoipa::path(post, path = "/api/tickets/{id}/notes", tag = "tickets", params(("id" = i64, Path)),
    request_body = NewNote,
    responses((status = 201, body = Note), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_note(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
    AppJson(new): AppJson<NewNote>,
) -> Result<(StatusCode, AppJson<Note>), AppError> {
    state.admit_creation(Creation::Note, &current.user)?;
    let note = notes::add_note(
        state.pool(),
        state.events(),
        current.user.workspace_id,
        id,
        &current.user,
        &new.body,
    )
    .await?;
    Ok((StatusCode::CREATED, AppJson(note)))
}

#[derive(Deserialize, ToSchema)]
pub struct AssigneeChange {
    /// The user to assign, or null to unassign. Required.
    #[schema(value_type = Option<i64>)]
    pub user_id: serde_json::Value,
}

#[utoipa::path(put, path = "/api/tickets/{id}/assignee", tag = "tickets", params(("id" = i64, Path)),
    request_body = AssigneeChange,
    responses((status = 200, body = Ticket), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_assignee(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
    AppJson(change): AppJson<AssigneeChange>,
) -> Result<AppJson<Ticket>, AppError> {
    let assignee = match change.user_id {
        serde_json::Value::Null => None,
        value => Some(value.as_i64().ok_or_else(|| {
            AppError::validation("user_id", "user_id must be a user's id or null.")
        })?),
    };
    let ticket = tickets::assign_ticket(
        state.pool(),
        state.events(),
        current.user.workspace_id,
        id,
        Some(&current.user),
        assignee,
    )
    .await?;
    Ok(AppJson(ticket))
}

#[derive(Deserialize, ToSchema)]
pub struct StatusChange {
    pub status: TicketStatus,
}

#[utoipa::path(put, path = "/api/tickets/{id}/status", tag = "tickets", params(("id" = i64, Path)),
    request_body = StatusChange,
    responses((status = 200, body = Ticket), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_status(
    State(state): State<AppState>,
    current: CurrentUser,
    AppPath(id): AppPath<i64>,
    AppJson(change): AppJson<StatusChange>,
) -> Result<AppJson<Ticket>, AppError> {
    let ticket = tickets::set_ticket_status(
        state.pool(),
        state.events(),
        current.user.workspace_id,
        id,
        Some(&current.user),
        change.status,
    )
    .await?;
    Ok(AppJson(ticket))
}
