//! What an admin types for a section, checked: the input shape, secrets (typed or generated),
//! channels of the workspace, and endpoints under the outbound URL rules.

use serde::Deserialize;
use sqlx::PgConnection;
use utoipa::ToSchema;

use crate::auth::secret_token;
use crate::error::AppError;
use crate::outbound::Outbound;

pub const MIN_SECRET_CHARS: usize = 8;
pub const MAX_SECRET_CHARS: usize = 256;

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SectionInput {
    pub title: Option<String>,
    pub endpoint_url: Option<String>,
    /// Leave out (or empty) on create to generate a strong secret.
    pub secret: Option<String>,
    pub channel_ids: Option<Vec<i64>>,
    /// 0-based place in the list; others move to make room.
    pub position: Option<i32>,
    /// Whether agents' tickets call it. On create, default true (the spec's sections work as
    /// soon as they are saved); send false to save it and Test it before it goes live.
    pub enabled: Option<bool>,
    /// "Load when a ticket arrives": also call it in the background when a ticket of its
    /// channel is opened, reopened or assigned, so agents open it warm. Default false: it
    /// adds calls the spec does not make, which the endpoint's owner should agree to.
    pub load_on_arrival: Option<bool>,
}

/// The secret typed on a form or sent to the API: checked, or generated when empty.
pub fn secret_or_generated(typed: Option<&str>) -> Result<String, AppError> {
    match typed.map(str::trim) {
        None | Some("") => Ok(generate_secret()),
        Some(custom) => check_secret(custom),
    }
}

/// A strong generated secret: 32 random bytes, hex.
pub fn generate_secret() -> String {
    secret_token::generate("", 32)
}

pub(super) fn check_secret(secret: &str) -> Result<String, AppError> {
    let count = secret.chars().count();
    if count < MIN_SECRET_CHARS {
        return Err(AppError::validation(
            "secret",
            format!(
                "A secret needs at least {MIN_SECRET_CHARS} characters (or leave it empty to generate one)."
            ),
        ));
    }
    if count > MAX_SECRET_CHARS || secret.chars().any(char::is_control) {
        return Err(AppError::validation(
            "secret",
            format!("A secret is at most {MAX_SECRET_CHARS} printable characters."),
        ));
    }
    Ok(secret.to_string())
}

pub(super) async fn check_channels(
    conn: &mut PgConnection,
    workspace_id: i64,
    ids: &[i64],
) -> Result<Vec<i64>, AppError> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let known: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM channels WHERE workspace_id = $1 AND id = ANY($2)",
    )
    .bind(workspace_id)
    .bind(&ids)
    .fetch_one(conn)
    .await?;
    if known as usize != ids.len() {
        return Err(AppError::validation(
            "channel_ids",
            "Pick channels of this workspace.",
        ));
    }
    Ok(ids)
}

pub async fn check_endpoint(outbound: &Outbound, raw: &str) -> Result<String, AppError> {
    outbound
        .validate_url(raw)
        .await
        .map(|url| url.to_string())
        .map_err(|rejection| AppError::validation("endpoint_url", rejection.message()))
}
