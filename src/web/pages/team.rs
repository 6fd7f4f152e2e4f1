//! Settings › Team: everyone in the workspace, invitations (owners and admins), roles (owners),
//! deactivation and reactivation, and the tickets a deactivated person leaves to reassign.
//! Every rule is the domain's (`accounts::team::permissions`); this page only offers what
//! they allow and shows what they refuse.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::extract::{PageForm, PagePath};
use super::{Layout, PageError, PageUser, flash, render};
use crate::accounts::invitations::{self, Invitation, InvitationStatus};
use crate::accounts::team::{self, MemberStatus, StrandedTicket, TeamMember};
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::helpdesk::users::Role;
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "settings/team.html")]
struct TeamPage {
    layout: Layout,
    me: i64,
    is_owner: bool,
    can_invite: bool,
    members: Vec<TeamMember>,
    invitations: Vec<Invitation>,
    stranded: Vec<StrandedTicket>,
    invitation_days: u64,
    email_draft: String,
    invite_error: Option<String>,
    invite_link: Option<String>,
    error: Option<String>,
}

#[derive(Default)]
struct Outcome {
    flash: Option<String>,
    email_draft: String,
    invite_error: Option<String>,
    invite_link: Option<String>,
    error: Option<String>,
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    outcome: Outcome,
) -> Result<TeamPage, PageError> {
    let mut conn = state.pool().acquire().await?;
    let ws = user.user.workspace_id;
    let can_invite = user.user.role.is_admin();
    Ok(TeamPage {
        layout: Layout::new("Team", "team", user, outcome.flash),
        me: user.user.id,
        is_owner: user.user.role == Role::Owner,
        can_invite,
        members: team::list_members(&mut conn, ws).await?,
        invitations: if can_invite {
            invitations::list_invitations(&mut conn, ws).await?
        } else {
            Vec::new()
        },
        stranded: team::tickets_to_reassign(&mut conn, ws).await?,
        invitation_days: state
            .config()
            .accounts
            .invitation_validity
            .as_secs()
            .div_ceil(86_400),
        email_draft: outcome.email_draft,
        invite_error: outcome.invite_error,
        invite_link: outcome.invite_link,
        error: outcome.error,
    })
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let (jar, flash) = flash::take(jar);
    let outcome = Outcome {
        flash,
        ..Outcome::default()
    };
    Ok((jar, render(&page(&state, &user, outcome).await?)).into_response())
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// Sends an invitation (or resends one) and shows the page with the link when there is no
/// mail server to carry it.
async fn sent(
    state: &AppState,
    user: &CurrentUser,
    result: Result<invitations::Sent, AppError>,
    email_draft: String,
) -> Result<Response, PageError> {
    match result {
        Ok(sent) => {
            let mail_configured = state.config().mail.smtp_url.is_some();
            let outcome = Outcome {
                flash: Some(format!("Invitation sent to {}.", sent.invitation.email)),
                invite_link: (!mail_configured).then_some(sent.link),
                ..Outcome::default()
            };
            Ok(render(&page(state, user, outcome).await?))
        }
        Err(err) => match err.inline_on_form() {
            Some((_, message)) => {
                let status = err.status();
                let outcome = Outcome {
                    email_draft,
                    invite_error: Some(message),
                    ..Outcome::default()
                };
                Ok((status, render(&page(state, user, outcome).await?)).into_response())
            }
            None => Err(err.into()),
        },
    }
}

pub async fn invite(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PageForm(form): PageForm<InviteForm>,
) -> Result<Response, PageError> {
    let result = match parse_role(&form.role) {
        Ok(role) => {
            invitations::invite(
                state.pool(),
                &user.user,
                &form.email,
                role,
                &state.invitation_mailing(),
            )
            .await
        }
        Err(err) => Err(err),
    };
    sent(&state, &user, result, form.email).await
}

pub async fn resend(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
) -> Result<Response, PageError> {
    let result =
        invitations::resend(state.pool(), &user.user, id, &state.invitation_mailing()).await;
    sent(&state, &user, result, String::new()).await
}

pub async fn revoke(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let mut conn = state.pool().acquire().await?;
    invitations::revoke(&mut conn, &user.user, id).await?;
    let jar = flash::set(jar, "Invitation revoked: its link no longer works.");
    Ok((jar, Redirect::to("/settings/team")).into_response())
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

fn parse_role(raw: &str) -> Result<Role, AppError> {
    Role::try_from(raw.to_string())
        .map_err(|_| AppError::validation("role", "Choose owner, admin or agent."))
}

/// A refused change is shown on the page; anything else is an error page.
async fn done(
    state: &AppState,
    user: &CurrentUser,
    jar: CookieJar,
    result: Result<String, AppError>,
) -> Result<Response, PageError> {
    match result {
        Ok(message) => {
            // Other instances forget credentials when notified; this one at once.
            state.credentials().forget_all();
            let jar = flash::set(jar, &message);
            Ok((jar, Redirect::to("/settings/team")).into_response())
        }
        Err(err @ (AppError::Conflict { .. } | AppError::Validation { .. })) => {
            let status = err.status();
            let outcome = Outcome {
                error: Some(err.public_message()),
                ..Outcome::default()
            };
            Ok((status, render(&page(state, user, outcome).await?)).into_response())
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn change_role(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
    PageForm(form): PageForm<RoleForm>,
) -> Result<Response, PageError> {
    let mut conn = state.pool().acquire().await?;
    let result = match parse_role(&form.role) {
        Ok(role) => team::change_role(&mut conn, &user.user, id, role)
            .await
            .map(|m| format!("{} is now {}.", m.name, m.role.as_str())),
        Err(err) => Err(err),
    };
    drop(conn);
    done(&state, &user, jar, result).await
}

/// What an owner or admin does to a person from the Team page.
#[derive(Clone, Copy)]
enum PersonAction {
    Deactivate,
    Reactivate,
    EndSessions,
}

async fn act(
    state: AppState,
    user: CurrentUser,
    jar: CookieJar,
    id: i64,
    action: PersonAction,
) -> Result<Response, PageError> {
    let mut conn = state.pool().acquire().await?;
    let actor = &user.user;
    let result = match action {
        PersonAction::Deactivate => team::deactivate(&mut conn, actor, id)
            .await
            .map(|m| format!("{} was deactivated: their access ended.", m.name)),
        PersonAction::Reactivate => team::reactivate(&mut conn, actor, id)
            .await
            .map(|m| format!("{} was reactivated.", m.name)),
        PersonAction::EndSessions => team::end_all_sessions(&mut conn, actor, id)
            .await
            .map(|n| format!("{n} session{} ended.", if n == 1 { "" } else { "s" })),
    };
    drop(conn);
    done(&state, &user, jar, result).await
}

pub async fn deactivate(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    act(state, user, jar, id, PersonAction::Deactivate).await
}

pub async fn reactivate(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    act(state, user, jar, id, PersonAction::Reactivate).await
}

pub async fn end_sessions(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    act(state, user, jar, id, PersonAction::EndSessions).await
}
