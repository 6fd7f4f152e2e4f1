//! Server-rendered pages (askama). Forms post back with the session's CSRF token; errors
//! render as pages, and a missing session sends the browser to the login page.

pub mod account;
pub mod charts;
pub mod extract;
pub mod flash;
pub mod login;
pub mod security;
pub mod settings;
pub mod sidebar_fragments;
pub mod sidebar_sections;
pub mod team;
pub mod tickets;
pub mod webhook_log;
pub mod webhooks;

use askama::Template;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::auth::{CurrentUser, csrf};
use crate::error::AppError;
use crate::web::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/tickets") }))
        .route("/login", get(login::show).post(login::submit))
        .route("/logout", post(login::logout))
        .route(
            "/invitations/accept",
            get(account::show_invitation).post(account::accept_invitation),
        )
        .route(
            "/password/forgot",
            get(account::show_forgot).post(account::request_reset),
        )
        .route(
            "/password/choose",
            get(account::show_choose).post(account::choose_password),
        )
        .route("/tickets", get(tickets::list))
        .route("/tickets/{id}", get(tickets::show))
        .route("/tickets/{id}/reply", post(tickets::reply))
        .route("/tickets/{id}/notes", post(tickets::note))
        .route("/tickets/{id}/assignee", post(tickets::assign))
        .route("/tickets/{id}/status", post(tickets::status))
        .route(
            "/settings",
            get(|| async { Redirect::to("/settings/profile") }),
        )
        .route("/settings/profile", get(settings::profile))
        .route("/settings/security", get(security::show))
        .route(
            "/settings/security/password",
            post(security::change_password),
        )
        .route("/settings/sessions/{id}/end", post(security::end_session))
        .route("/settings/team", get(team::show))
        .route("/settings/team/invitations", post(team::invite))
        .route("/settings/team/invitations/{id}/resend", post(team::resend))
        .route("/settings/team/invitations/{id}/revoke", post(team::revoke))
        .route("/settings/team/{id}/role", post(team::change_role))
        .route("/settings/team/{id}/deactivate", post(team::deactivate))
        .route("/settings/team/{id}/reactivate", post(team::reactivate))
        .route("/settings/team/{id}/end-sessions", post(team::end_sessions))
        .route(
            "/settings/api-tokens",
            get(settings::api_tokens).post(settings::create_api_token),
        )
        .route(
            "/settings/api-tokens/{id}/delete",
            post(settings::delete_api_token),
        )
        .route(
            "/settings/channels",
            get(settings::channels).post(settings::create_channel),
        )
        .route(
            "/tickets/{id}/sidebar/{section_id}",
            get(sidebar_fragments::ticket_fragment),
        )
        .route(
            "/tickets/{id}/sidebar/{section_id}/refresh",
            post(sidebar_fragments::refresh_fragment),
        )
        .route(
            "/settings/sidebar-sections",
            get(sidebar_sections::list).post(sidebar_sections::create),
        )
        .route("/settings/sidebar-sections/new", get(sidebar_sections::new))
        .route(
            "/settings/sidebar-sections/test-draft",
            post(sidebar_sections::test_draft),
        )
        .route(
            "/settings/sidebar-sections/{id}",
            get(sidebar_sections::show).post(sidebar_sections::update),
        )
        .route(
            "/settings/sidebar-sections/{id}/test",
            post(sidebar_sections::test),
        )
        .route(
            "/settings/sidebar-sections/{id}/enable",
            post(sidebar_sections::enable),
        )
        .route(
            "/settings/sidebar-sections/{id}/test-and-enable",
            post(sidebar_sections::test_and_enable),
        )
        .route(
            "/settings/sidebar-sections/{id}/disable",
            post(sidebar_sections::disable),
        )
        .route(
            "/settings/sidebar-sections/{id}/delete",
            post(sidebar_sections::delete),
        )
        .route(
            "/settings/sidebar-sections/{id}/move",
            post(sidebar_sections::move_section),
        )
        .route(
            "/settings/notifications",
            get(webhooks::personal).post(webhooks::create_personal),
        )
        .route(
            "/settings/workspace-notifications",
            get(webhooks::workspace).post(webhooks::create_workspace),
        )
        .route(
            "/settings/webhooks/{id}",
            get(webhooks::show).post(webhooks::update),
        )
        .route(
            "/settings/webhooks/{id}/regenerate-secret",
            post(webhooks::regenerate),
        )
        .route(
            "/settings/webhooks/{id}/retire-previous-secret",
            post(webhooks::retire_previous_secret),
        )
        .route("/settings/webhooks/{id}/test", post(webhooks::send_test))
        .route("/settings/webhooks/{id}/replay", post(webhook_log::replay))
        .route("/settings/webhooks/{id}/delete", post(webhooks::delete))
        .route("/settings/webhooks/{id}/deliveries", get(webhook_log::log))
        .route(
            "/settings/webhook-deliveries/{id}",
            get(webhook_log::delivery),
        )
        .route(
            "/settings/webhook-deliveries/{id}/resend",
            post(webhook_log::resend),
        )
        .layer(middleware::from_fn(csrf::capture_form_token))
}

/// What every page's frame shows: who is logged in, the navigation, the flash message.
pub struct Layout {
    pub title: String,
    pub nav: &'static str,
    pub user_name: String,
    pub is_admin: bool,
    pub csrf_token: String,
    pub flash: Option<String>,
    /// Owners are told while the demo's people still have the demo's published passwords.
    pub demo_passwords_warning: bool,
}

impl Layout {
    pub fn new(
        title: impl Into<String>,
        nav: &'static str,
        user: &CurrentUser,
        flash: Option<String>,
    ) -> Self {
        Layout {
            title: title.into(),
            nav,
            user_name: user.user.name.clone(),
            is_admin: user.user.role.is_admin(),
            csrf_token: user.csrf_token().to_string(),
            flash,
            demo_passwords_warning: user.user.role == crate::helpdesk::users::Role::Owner
                && crate::demo::passwords_in_use(),
        }
    }
}

/// The logged-in user of a page request; without a session the browser goes to log in.
/// Pages are for browser sessions only: an API token is refused here, so a leaked token
/// cannot reach what only a person should (minting tokens, managing people by form).
pub struct PageUser(pub CurrentUser);

impl FromRequestParts<AppState> for PageUser {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            return Err(PageError(AppError::forbidden(
                "API tokens work on the API (/api/...) only. Sign in with a browser to use the pages.",
            )));
        }
        // Without an Authorization header, only a session cookie can have authenticated it.
        CurrentUser::from_request_parts(parts, state)
            .await
            .map(PageUser)
            .map_err(PageError)
    }
}

/// An `AppError` shown as a page rather than JSON.
pub struct PageError(pub AppError);

impl From<AppError> for PageError {
    fn from(err: AppError) -> Self {
        PageError(err)
    }
}

impl From<sqlx::Error> for PageError {
    fn from(err: sqlx::Error) -> Self {
        PageError(err.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    heading: &'static str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let err = self.0;
        if matches!(err, AppError::Unauthorized) {
            return Redirect::to("/login").into_response();
        }
        err.log_if_internal();
        let status = err.status();
        let retry_after = err.retry_after();
        let heading = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            s if s.is_client_error() => "That didn't work",
            _ => "Something went wrong",
        };
        let message = match err {
            AppError::NotFound => "There is nothing here, or it belongs to another workspace.".to_string(),
            AppError::Csrf => "The form expired or came from another site. Go back, reload the page and try again.".to_string(),
            other => other.public_message(),
        };
        let page = ErrorPage {
            status: status.as_u16(),
            heading,
            message,
        };
        let mut response = (status, render(&page)).into_response();
        crate::error::set_retry_after(&mut response, retry_after);
        response
    }
}

/// The error page with a status, heading and message of the caller's choosing.
pub fn error_page(status: StatusCode, heading: &'static str, message: String) -> Response {
    let page = ErrorPage {
        status: status.as_u16(),
        heading,
        message,
    };
    (status, render(&page)).into_response()
}

/// Renders a template to an HTML response; a template error is an internal error.
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "rendering a template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}
