//! Wakes the event consumers (webhook fan-out, sidebar warm-ups) of every instance after a
//! write: the one place new events are announced. Events are recorded by the domain
//! actions that requests run; each action commits before its handler answers, so when a
//! write request has succeeded its events are visible, and the doorbell's NOTIFY (sent
//! outside the action's transaction, see [`crate::db::doorbell`]) makes the listeners look.
//! A write that recorded no event costs one look that finds nothing; a consumer that missed
//! a NOTIFY finds the event at its next poll.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::db::doorbell::Doorbell;

pub async fn ring_after_writes(
    State(events): State<Doorbell>,
    request: Request,
    next: Next,
) -> Response {
    let writes = !request.method().is_safe();
    let response = next.run(request).await;
    let status = response.status();
    if writes && (status.is_success() || status.is_redirection()) {
        events.ring();
    }
    response
}
