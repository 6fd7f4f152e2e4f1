//! Probes: `/healthz` says the process is up; `/readyz` that the database answers and is
//! fully migrated and, where this instance delivers webhooks, that its worker loop is alive.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::db;
use crate::web::state::AppState;

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// A worker loop goes round at least twice a second; this long without means it is stuck.
const WORKER_STALLED_AFTER: Duration = Duration::from_secs(30);

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let applied = db::migrations_applied(state.pool()).await;
    if applied.is_ok() {
        db::outage::recovered();
    }
    match applied {
        Ok(true) if state.config().role.runs_workers() => worker_readiness(&state),
        Ok(true) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "migrations pending" })),
        ),
        Err(err) => {
            if db::outage::is_unreachable(&err) {
                db::outage::noticed(&err);
            } else {
                tracing::warn!(error = %err, "readiness check failed");
            }
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "database unreachable", "database": "down" })),
            )
        }
    }
}

fn worker_readiness(state: &AppState) -> (StatusCode, Json<Value>) {
    match state.metrics().worker_last_tick_age() {
        Some(age) if age < WORKER_STALLED_AFTER => (
            StatusCode::OK,
            Json(
                json!({ "status": "ready", "worker": { "last_tick_seconds_ago": age.as_secs_f64() } }),
            ),
        ),
        Some(age) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "status": "worker stalled", "worker": { "last_tick_seconds_ago": age.as_secs_f64() } }),
            ),
        ),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "worker starting", "worker": null })),
        ),
    }
}
