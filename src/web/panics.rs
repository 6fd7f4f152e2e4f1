//! A handler that panics must not drop its connection: tower-http's `CatchPanic` turns the
//! panic into a 500, and [`explain`] gives it our shape (JSON under `/api`, the error page
//! elsewhere) with the request id, so the person who saw it can quote it, and counts it.

use std::any::Any;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;

use crate::metrics::Metrics;

/// Marks the response `CatchPanic` made, for [`explain`] to dress.
#[derive(Clone, Copy)]
struct Panicked;

/// Wraps `routes` so that a panic in any of them answers 500 (the request id is set outside).
pub fn catch_panics<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    metrics: Arc<Metrics>,
) -> Router<S> {
    routes
        .layer(CatchPanicLayer::custom(answer))
        .layer(axum::middleware::from_fn_with_state(metrics, explain))
}

fn answer(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = detail, "a request's handler panicked");
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(Panicked);
    response
}

async fn explain(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let response = next.run(request).await;
    if response.extensions().get::<Panicked>().is_none() {
        return response;
    }
    metrics.http_panicked();
    let message =
        format!("Something went wrong on our side. If it happens again, tell us request id {id}.");
    let mut response = if api {
        let body = serde_json::json!({"error": {"code": "internal", "message": message, "field": null, "request_id": id}});
        (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
    } else {
        crate::web::pages::error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            message,
        )
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::routing::get;
    use tower::ServiceExt;

    async fn boom() -> &'static str {
        let offset = "+1é1";
        // The slice an endpoint's date once reached: a byte index inside a character.
        &offset[..3]
    }

    fn app(metrics: Arc<Metrics>) -> Router {
        catch_panics(
            Router::new()
                .route("/api/boom", get(boom))
                .route("/page/boom", get(boom)),
            metrics,
        )
    }

    fn request(path: &str) -> Request {
        Request::builder()
            .uri(path)
            .header("x-request-id", "01TESTREQUEST")
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_the_request_id_and_is_counted() {
        let metrics = Arc::new(Metrics::default());
        let response = app(metrics.clone())
            .oneshot(request("/api/boom"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()["x-request-id"], "01TESTREQUEST");
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(response.into_body(), 10_000).await.unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "internal");
        assert_eq!(body["error"]["request_id"], "01TESTREQUEST");
        assert!(
            !body.to_string().contains("byte index"),
            "the panic's text stays in the log"
        );

        let page = app(metrics.clone())
            .oneshot(request("/page/boom"))
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let html =
            String::from_utf8(to_bytes(page.into_body(), 100_000).await.unwrap().to_vec()).unwrap();
        assert!(
            html.contains("01TESTREQUEST") && html.contains("<html"),
            "{html}"
        );
        assert!(
            metrics
                .render(&Default::default())
                .contains("therethere_http_panics_total 2")
        );
    }
}
