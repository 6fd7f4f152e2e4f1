//! The JSON API under `/api`, described by an OpenAPI document generated from the handlers.

pub mod channels;
pub mod me;
pub mod path;
pub mod sidebar_sections;
pub mod tickets;
pub mod users;
pub mod webhooks;

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "therethere API", description = "The helpdesk integration service's JSON API. \
        Authenticate with `Authorization: Bearer <personal API token>`. Errors answer \
        `{\"error\": {\"code\", \"message\", \"field\"}}`."),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The API's routes together with the OpenAPI document describing them.
pub fn router() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(me::get_me))
        .routes(routes!(users::list_users))
        .routes(routes!(channels::list_channels, channels::create_channel))
        .routes(routes!(tickets::list_tickets, tickets::create_ticket))
        .routes(routes!(tickets::get_ticket))
        .routes(routes!(tickets::list_ticket_events))
        .routes(routes!(tickets::add_message))
        .routes(routes!(tickets::add_note))
        .routes(routes!(tickets::set_assignee))
        .routes(routes!(tickets::set_status))
        .routes(routes!(sidebar_sections::ticket_sidebar))
        .routes(routes!(sidebar_sections::refresh_ticket_section))
        .routes(routes!(
            sidebar_sections::list_sections,
            sidebar_sections::create_section
        ))
        .routes(routes!(
            sidebar_sections::get_section,
            sidebar_sections::update_section,
            sidebar_sections::delete_section
        ))
        .routes(routes!(sidebar_sections::test_section))
        .routes(routes!(sidebar_sections::test_draft_section))
        .routes(routes!(sidebar_sections::enable_section))
        .routes(routes!(sidebar_sections::disable_section))
        .routes(routes!(
            webhooks::list_destinations,
            webhooks::create_destination
        ))
        .routes(routes!(
            webhooks::get_destination,
            webhooks::update_destination,
            webhooks::delete_destination
        ))
        .routes(routes!(webhooks::regenerate_secret))
        .routes(routes!(webhooks::send_test))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::get_delivery))
        .routes(routes!(webhooks::resend_delivery))
        .split_for_parts()
}
