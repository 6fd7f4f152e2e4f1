//! The JSON API under `/api`, described by an OpenAPI document generated from the handlers.

pub mod channels;
pub mod extract;
pub mod invitations;
pub mod me;
pub mod sidebar_sections;
pub mod tickets;
pub mod users;
pub mod webhooks;

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::web::state::AppState;

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

/// Adds to every operation the refusals any of them can answer, so the document lists every
/// status a caller can see: a request that cannot be read (400), no or a bad token (401), an
/// unknown id (404, operations with a path id), a body over the limit (413), input that
/// breaks a rule or a bad query parameter (422, operations with a body or parameters), and
/// overload or a request that ran too long (503, with `Retry-After`). Statuses an operation
/// documents itself (403, 409, 429, ...) are kept.
struct EveryStatus;

impl Modify for EveryStatus {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let has_id = path.contains('{');
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let takes_input = operation.request_body.is_some()
                    || operation.parameters.as_ref().is_some_and(|p| {
                        p.iter().any(|p| {
                            !matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Path)
                        })
                    });
                let mut add = |status: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| error(description).into());
                };
                add(
                    "400",
                    "The request could not be read (malformed JSON, wrong content type).",
                );
                add("401", "No valid API token.");
                if has_id {
                    add(
                        "404",
                        "No such object in the caller's workspace, or an id that is not a number.",
                    );
                }
                if operation.request_body.is_some() {
                    add("413", "The body is larger than 1 MiB.");
                }
                if takes_input {
                    add("422", "The input breaks a rule; `field` names it.");
                }
                add(
                    "503",
                    "Overloaded, or the request ran too long; see `Retry-After`.",
                );
            }
        }
    }
}

/// The API's routes together with the OpenAPI document describing them.
pub fn router() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(me::get_me))
        .routes(routes!(users::list_users))
        .routes(routes!(users::update_user))
        .routes(routes!(users::deactivate_user))
        .routes(routes!(users::reactivate_user))
        .routes(routes!(users::end_user_sessions))
        .routes(routes!(users::list_sessions))
        .routes(routes!(users::end_session))
        .routes(routes!(
            invitations::list_invitations,
            invitations::create_invitation
        ))
        .routes(routes!(invitations::resend_invitation))
        .routes(routes!(invitations::revoke_invitation))
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
        .routes(routes!(sidebar_sections::test_and_enable_section))
        .routes(routes!(sidebar_sections::test_draft_section))
        .routes(routes!(sidebar_sections::enable_section))
        .routes(routes!(sidebar_sections::disable_section))
        .routes(routes!(webhooks::event_types))
        .routes(routes!(webhooks::event_type))
        .routes(routes!(
            webhooks::list_destinations,
            webhooks::create_destination
        ))
        .routes(routes!(
            webhooks::get_destination,
            webhooks::update_destination,
            webhooks::delete_destination
        ))
        .routes(routes!(webhooks::destination_health))
        .routes(routes!(webhooks::regenerate_secret))
        .routes(routes!(webhooks::retire_previous_secret))
        .routes(routes!(webhooks::send_test))
        .routes(routes!(webhooks::replay_failed, webhooks::latest_replay))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::get_delivery))
        .routes(routes!(webhooks::resend_delivery))
        .split_for_parts();
    // After the routes are in: modifiers given to `#[openapi]` run before any path exists.
    EveryStatus.modify(&mut openapi);
    (router, openapi)
}
