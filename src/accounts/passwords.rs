//! Changing one's own password: the current one is required, and every other session of
//! theirs ends (the one that made the change goes on).

use sqlx::{Connection, PgConnection};

use crate::auth::sessions;
use crate::error::AppError;
use crate::helpdesk::password;

pub async fn change_password(
    conn: &mut PgConnection,
    user_id: i64,
    session_id: i64,
    current: &str,
    new: &str,
) -> Result<(), AppError> {
    password::acceptable(new)?;
    let stored: Option<String> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await?;
    let (current, new) = (current.to_string(), new.to_string());
    // Argon2 takes tens of milliseconds: off the async threads.
    let hash = tokio::task::spawn_blocking(move || {
        let matches = stored.is_some_and(|stored| password::verify(&current, &stored));
        matches.then(|| password::hash(&new)).transpose()
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))??;
    let Some(hash) = hash else {
        return Err(AppError::validation(
            "current_password",
            "That is not your current password.",
        ));
    };
    let mut tx = conn.begin().await?;
    sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(user_id)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
    sessions::end_sessions_of(&mut tx, user_id, Some(session_id)).await?;
    tx.commit().await?;
    tracing::info!(user.id = user_id, "password changed");
    Ok(())
}
