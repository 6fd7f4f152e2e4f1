//! The ticket list and the ticket view, with the forms that act on a ticket.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::extract::{PageForm, PagePath, PageQuery};
use super::{Layout, PageError, PageUser, flash, render};
use crate::error::AppError;
use crate::helpdesk::tickets::{self, Ticket, TicketDetail, TicketFilter, TicketStatus};
use crate::helpdesk::users::{self, User};
use crate::helpdesk::{messages, notes};
use crate::sidebar::sections::{Section, sections_for_channel};
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "tickets/list.html")]
struct ListPage {
    layout: Layout,
    filter: &'static str,
    tickets: Vec<Ticket>,
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    status: TicketFilter,
}

pub async fn list(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PageQuery(query): PageQuery<ListQuery>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let (jar, flash) = flash::take(jar);
    let mut conn = state.pool().acquire().await?;
    let tickets =
        tickets::list_tickets(&mut conn, user.user.workspace_id, query.status, 200).await?;
    let page = ListPage {
        layout: Layout::new("Tickets", "tickets", &user, flash),
        filter: match query.status {
            TicketFilter::Open => "open",
            TicketFilter::Closed => "closed",
            TicketFilter::All => "all",
        },
        tickets,
    };
    Ok((jar, render(&page)).into_response())
}

#[derive(Template)]
#[template(path = "tickets/show.html")]
struct ShowPage {
    layout: Layout,
    detail: TicketDetail,
    teammates: Vec<User>,
    /// The enabled custom sections of the ticket's channel; each loads on its own.
    sections: Vec<Section>,
    /// What the user typed into a form that failed, with the reason, so nothing is lost.
    reply_draft: String,
    reply_error: Option<String>,
    note_draft: String,
    note_error: Option<String>,
}

impl ShowPage {
    fn assignee_id(&self) -> i64 {
        self.detail
            .ticket
            .assignee
            .as_ref()
            .map(|a| a.id)
            .unwrap_or(0)
    }

    fn is_open(&self) -> bool {
        self.detail.ticket.status == TicketStatus::Open
    }
}

async fn show_page(
    state: &AppState,
    user: &crate::auth::CurrentUser,
    id: i64,
    flash: Option<String>,
    earlier: &EarlierQuery,
) -> Result<ShowPage, PageError> {
    let page = |before| tickets::ThreadPage {
        before,
        ..tickets::ThreadPage::newest()
    };
    let detail = tickets::get_ticket_detail(
        state.pool(),
        user.user.workspace_id,
        id,
        page(earlier.messages_before),
        page(earlier.notes_before),
    )
    .await?;
    let mut conn = state.pool().acquire().await?;
    let mut teammates = users::list_users(&mut conn, user.user.workspace_id).await?;
    // A deactivated assignee stays shown (and selected) until someone reassigns the ticket.
    if let Some(assignee) = detail.ticket.assignee.as_ref().filter(|a| a.deactivated) {
        teammates.push(users::User {
            id: assignee.id,
            workspace_id: user.user.workspace_id,
            name: format!("{} (deactivated)", assignee.name),
            email: assignee.email.clone(),
            handle: String::new(),
            role: users::Role::Agent,
        });
    }
    let channel_id = detail.ticket.channel.as_ref().map(|c| c.id);
    let sections = sections_for_channel(&mut conn, user.user.workspace_id, channel_id)
        .await?
        .into_iter()
        .filter(|s| s.enabled)
        .collect();
    let title = format!("#{} {}", detail.ticket.number, detail.ticket.subject);
    Ok(ShowPage {
        layout: Layout::new(title, "tickets", user, flash),
        detail,
        teammates,
        sections,
        reply_draft: String::new(),
        reply_error: None,
        note_draft: String::new(),
        note_error: None,
    })
}

/// "Show earlier": which part of the thread the page shows (the newest by default).
#[derive(Deserialize, Default)]
pub struct EarlierQuery {
    messages_before: Option<i64>,
    notes_before: Option<i64>,
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    PageQuery(earlier): PageQuery<EarlierQuery>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let (jar, flash) = flash::take(jar);
    let page = show_page(&state, &user, id, flash, &earlier).await?;
    Ok((jar, render(&page)).into_response())
}

#[derive(Deserialize)]
pub struct BodyForm {
    body: String,
}

/// The two composers on the ticket page.
#[derive(Clone, Copy)]
enum Composer {
    Reply,
    Note,
}

/// After a composer posts: back to the ticket with a flash, or, when the text was refused,
/// the page again with the error under that composer and what was typed kept.
async fn after_compose(
    state: &AppState,
    user: &crate::auth::CurrentUser,
    id: i64,
    jar: CookieJar,
    composer: Composer,
    body: String,
    posted: Result<(), AppError>,
) -> Result<Response, PageError> {
    match posted {
        Ok(()) => {
            let done = match composer {
                Composer::Reply => "Reply sent.",
                Composer::Note => "Note added.",
            };
            Ok((
                flash::set(jar, done),
                Redirect::to(&format!("/tickets/{id}")),
            )
                .into_response())
        }
        Err(AppError::Validation { message, .. }) => {
            let mut page = show_page(state, user, id, None, &EarlierQuery::default()).await?;
            match composer {
                Composer::Reply => (page.reply_draft, page.reply_error) = (body, Some(message)),
                Composer::Note => (page.note_draft, page.note_error) = (body, Some(message)),
            }
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn reply(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
    PageForm(form): PageForm<BodyForm>,
) -> Result<Response, PageError> {
    state.admit_creation(crate::limits::creation::Creation::Message, &user.user)?;
    let posted = messages::add_agent_reply(
        state.pool(),
        state.events(),
        user.user.workspace_id,
        id,
        &user.user,
        &form.body,
    )
    .await
    .map(|_| ());
    after_compose(&state, &user, id, jar, Composer::Reply, form.body, posted).await
}

pub async fn note(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
    PageForm(form): PageForm<BodyForm>,
) -> Result<Response, PageError> {
    state.admit_creation(crate::limits::creation::Creation::Note, &user.user)?;
    let posted = notes::add_note(
        state.pool(),
        state.events(),
        user.user.workspace_id,
        id,
        &user.user,
        &form.body,
    )
    .await
    .map(|_| ());
    after_compose(&state, &user, id, jar, Composer::Note, form.body, posted).await
}

#[derive(Deserialize)]
pub struct AssignForm {
    /// Empty for "nobody".
    user_id: String,
}

pub async fn assign(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
    PageForm(form): PageForm<AssignForm>,
) -> Result<Response, PageError> {
    let assignee = match form.user_id.trim() {
        "" => None,
        raw => Some(
            raw.parse::<i64>()
                .map_err(|_| AppError::validation("user_id", "Pick a teammate from the list."))?,
        ),
    };
    let ticket = tickets::assign_ticket(
        state.pool(),
        state.events(),
        user.user.workspace_id,
        id,
        Some(&user.user),
        assignee,
    )
    .await?;
    let message = match ticket.assignee {
        Some(a) => format!("Assigned to {}.", a.name),
        None => "Unassigned.".to_string(),
    };
    Ok((
        flash::set(jar, &message),
        Redirect::to(&format!("/tickets/{id}")),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct StatusForm {
    status: TicketStatus,
}

pub async fn status(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
    PageForm(form): PageForm<StatusForm>,
) -> Result<Response, PageError> {
    tickets::set_ticket_status(
        state.pool(),
        state.events(),
        user.user.workspace_id,
        id,
        Some(&user.user),
        form.status,
    )
    .await?;
    let message = match form.status {
        TicketStatus::Open => "Ticket reopened.",
        TicketStatus::Closed => "Ticket closed.",
    };
    Ok((
        flash::set(jar, message),
        Redirect::to(&format!("/tickets/{id}")),
    )
        .into_response())
}
