//! `/metrics` for Prometheus, never public by accident: served on its own listener
//! (`METRICS_ADDR`, loopback by default), and on `BIND_ADDR` only to `METRICS_TOKEN`. Also the
//! HTTP request counting: each request's route template, status and time.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use secrecy::ExposeSecret;

use crate::auth::secret_token::constant_time_eq;
use crate::error::AppError;
use crate::metrics::{Backlog, CONTENT_TYPE, HttpLabels, Metrics};
use crate::web::state::AppState;
use crate::{mail, webhooks};

/// The metrics listener's router: `/metrics` to whoever reaches the listener.
pub fn listener_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(state): State<AppState>| render(state)),
        )
        .with_state(state)
}

/// `GET /metrics` on `BIND_ADDR`: 404 unless `METRICS_TOKEN` is set, then only to it.
pub async fn with_token(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(expected) = &state.config().metrics_token else {
        return AppError::NotFound.into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !constant_time_eq(given.trim().as_bytes(), expected.expose_secret().as_bytes()) {
        return AppError::Unauthorized.into_response();
    }
    render(state).await
}

async fn render(state: AppState) -> Response {
    let pool = state.pool();
    let read = async {
        Ok::<_, sqlx::Error>(Backlog {
            queue: webhooks::queue::backlog(pool).await?,
            fan_out_lag: webhooks::fanout::lag(pool).await?,
            mail_outbox: mail::outbox::depth(pool).await?,
        })
    };
    match read.await {
        Ok(backlog) => (
            [(header::CONTENT_TYPE, CONTENT_TYPE)],
            state.metrics().render(&backlog),
        )
            .into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "reading the backlog for /metrics failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// The route template a request matched, handed from inside the router to [`count`].
#[derive(Clone)]
struct RouteTemplate(String);

/// Inside the router (as a route layer): notes which route template answered.
pub async fn note_route(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| RouteTemplate(path.as_str().to_string()));
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(route);
    }
    response
}

/// Around everything (overload refusals included): counts the request and its time. A
/// request no route matched is counted as `unmatched`; one refused before routing as `-`.
pub async fn count(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // Only the methods we serve become label values: any other is one series, not one each.
    let method = match *request.method() {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let response = next.run(request).await;
    let route = match response.extensions().get::<RouteTemplate>() {
        Some(RouteTemplate(route)) => route.clone(),
        None if response.status() == StatusCode::NOT_FOUND => "unmatched".into(),
        None => "-".into(),
    };
    metrics.http_request(
        HttpLabels {
            method,
            route,
            status: response.status().as_u16(),
        },
        started.elapsed(),
    );
    response
}
