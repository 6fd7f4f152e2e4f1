//! Test notifications: a `test` payload queued to one destination on request, delivered and
//! retried like any other.

use chrono::Utc;
use sqlx::PgPool;

use super::deliveries::{AttemptPage, DeliverySummary, get_delivery};
use super::destinations::get_destination;
use super::payload::{self, Body, TEST_MESSAGE, WorkspaceObject};
use super::queue;
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::helpdesk::new_ulid;
use crate::helpdesk::workspaces::get_workspace;
use crate::limits::{Limits, RatedAction, rate};

/// Queues a `test` notification to the destination; it is delivered (and retried) like any other.
pub async fn send_test(
    pool: &PgPool,
    limits: &Limits,
    user: &CurrentUser,
    destination_id: i64,
) -> Result<DeliverySummary, AppError> {
    let mut conn = pool.acquire().await?;
    let destination = get_destination(&mut conn, user, destination_id).await?;
    rate::hit(pool, limits, RatedAction::TestNotification, destination.id).await?;
    let workspace = get_workspace(&mut conn, user.user.workspace_id).await?;
    drop(conn);
    let ulid = new_ulid();
    let body = Body::Test {
        message: TEST_MESSAGE,
        workspace: WorkspaceObject {
            id: workspace.id,
            name: workspace.name,
        },
    };
    let payload = payload::render(None, Utc::now(), &ulid, &body);
    let id = queue::queue_delivery(
        pool,
        user.user.workspace_id,
        destination.id,
        payload::TEST_TYPE,
        &ulid,
        &payload,
    )
    .await?;
    Ok(get_delivery(pool, user, id, AttemptPage::default())
        .await?
        .1
        .summary)
}
