//! The HTTP surface: health probes, the JSON API, the pages and their static assets, wrapped
//! in request ids and tracing.

pub mod api;
pub mod assets;
pub mod connections;
pub mod health;
pub mod metrics;
pub mod pages;
pub mod panics;
pub mod redirect;
pub mod state;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Request, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::BoxError;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use crate::web::state::AppState;

/// Only our own scripts and styles run; third-party data rendered in pages can never add any.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The largest request body any route accepts: JSON bodies and forms alike (a message's body
/// is at most 100,000 characters). Larger bodies answer 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// `Strict-Transport-Security` when `APP_URL` is https: one year.
const HSTS: &str = "max-age=31536000";

pub fn router(state: AppState) -> Router {
    let http = state.config().http.clone();
    let counted = state.metrics().clone();
    let https = state.config().app_url.scheme() == "https";
    let (api_routes, openapi) = api::router();
    let openapi_json = serde_json::to_string(&openapi).expect("the OpenAPI document serializes");

    let routes = panics::catch_panics(
        Router::new()
            .route("/healthz", get(health::healthz))
            .route("/readyz", get(health::readyz))
            .route(
                "/api/openapi.json",
                get(move || async move {
                    ([("content-type", "application/json")], openapi_json.clone())
                }),
            )
            .route("/metrics", get(metrics::with_token))
            .merge(api_routes)
            .merge(pages::router())
            .merge(assets::router())
            .route_layer(axum::middleware::from_fn(metrics::note_route))
            .fallback(api_or_page_not_found),
        counted.clone(),
    )
    .with_state(state)
    .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    // Overload turns into quick 503s instead of an unbounded queue; a request that runs too
    // long is cut off. Wrapped around the whole router, not layered onto it: `Router::layer`
    // gives each route its own copy, and so its own limit.
    let shed = tower::ServiceBuilder::new()
        .layer(HandleErrorLayer::new(overload_or_timeout))
        .load_shed()
        .concurrency_limit(http.max_in_flight)
        .timeout(http.request_timeout)
        .service(routes);
    Router::new()
        .fallback_service(shed)
        .layer(axum::middleware::from_fn_with_state(counted, metrics::count))
        .layer(
            tower::ServiceBuilder::new()
                // Responses hold a user's data (and some a secret shown once): never stored
                // by browsers or proxies unless a route says otherwise (static assets do).
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                ))
                .option_layer(https.then(|| {
                    SetResponseHeaderLayer::overriding(
                        header::STRICT_TRANSPORT_SECURITY,
                        HeaderValue::from_static(HSTS),
                    )
                })),
        )
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUlid))
                .layer(
                    TraceLayer::new_for_http()
                    // A 5xx's cause is logged once where it happens (`AppError`); logging
                    // every refusal again at error level would let a flood fill the logs.
                    .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG))
                    .make_span_with(|req: &Request<_>| {
                        let id = req
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        // `user_id` and `workspace_id` are filled in once the caller is known.
                        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id,
                            user_id = tracing::field::Empty, workspace_id = tracing::field::Empty)
                    }),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(CONTENT_SECURITY_POLICY),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("same-origin"),
                )),
        )
}

/// What a `worker` instance serves on `BIND_ADDR`: the probes, and `/metrics` to its token.
pub fn worker_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::with_token))
        .with_state(state)
}

/// Unknown paths: JSON under `/api`, a page elsewhere.
async fn api_or_page_not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        crate::error::AppError::NotFound.into_response()
    } else {
        pages::PageError(crate::error::AppError::NotFound).into_response()
    }
}

/// What the load-shedding and timeout layers refuse, in our error shape.
async fn overload_or_timeout(err: BoxError) -> Response {
    use crate::error::AppError;
    if err.is::<tower::timeout::error::Elapsed>() {
        AppError::Overloaded {
            retry_after: 1,
            message: "The request took too long and was stopped. Try again in a moment.".into(),
        }
        .into_response()
    } else if err.is::<tower::load_shed::error::Overloaded>() {
        AppError::Overloaded {
            retry_after: 1,
            message: "The service is busy. Try again in a moment.".into(),
        }
        .into_response()
    } else {
        AppError::Internal(anyhow::anyhow!(err)).into_response()
    }
}

/// Request ids are ULIDs: unique, and sortable by time in the logs.
#[derive(Clone, Copy)]
struct MakeRequestUlid;

impl MakeRequestId for MakeRequestUlid {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&crate::helpdesk::new_ulid())
            .ok()
            .map(RequestId::new)
    }
}
