//! `AppError`: the one error type handlers return. 4xx errors carry a detail that is safe to
//! show; 5xx errors answer with an opaque body and log the real cause inside the request span.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input is well-formed but breaks a rule; `field` names the culprit when there is one.
    #[error("{message}")]
    Validation {
        field: Option<String>,
        message: String,
    },
    /// The request could not be read at all (malformed JSON, wrong content type).
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("CSRF check failed")]
    Csrf,
    #[error("not found")]
    NotFound,
    /// Asked again too soon; may be retried after the given number of seconds (every
    /// response of this kind carries `Retry-After`).
    #[error("{message}")]
    RateLimited { retry_after: u64, message: String },
    /// The service is busy with this kind of work; try again after the given seconds (503
    /// with `Retry-After`).
    #[error("{message}")]
    Overloaded { retry_after: u64, message: String },
    /// The database cannot be reached: 503 with `Retry-After` (`db::outage`).
    #[error("The service cannot reach its database right now. Try again in a few seconds.")]
    Unavailable { retry_after: u64 },
    /// Creating one more would pass a quota; `setting` names the setting that holds it.
    #[error("{message}")]
    QuotaExceeded {
        setting: &'static str,
        message: String,
    },
    /// The request body is larger than the route accepts.
    #[error("the request body is larger than {limit_bytes} bytes")]
    PayloadTooLarge { limit_bytes: usize },
    /// The input clashes with stored data (a duplicate name, say).
    #[error("{message}")]
    Conflict {
        field: Option<String>,
        message: String,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        AppError::Validation {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    pub fn conflict(field: &str, message: impl Into<String>) -> Self {
        AppError::Conflict {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        AppError::Forbidden(message.into())
    }

    /// Seconds after which a refused request may be tried again, for `Retry-After`.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            AppError::RateLimited { retry_after, .. }
            | AppError::Overloaded { retry_after, .. }
            | AppError::Unavailable { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Overloaded { .. } | AppError::Unavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::Conflict { .. } | AppError::QuotaExceeded { .. } => StatusCode::CONFLICT,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Validation { .. } => "validation_failed",
            AppError::BadRequest(_) => "bad_request",
            AppError::Unauthorized => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::Csrf => "csrf_failed",
            AppError::NotFound => "not_found",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::Overloaded { .. } => "overloaded",
            AppError::Unavailable { .. } => "unavailable",
            AppError::Conflict { .. } => "conflict",
            AppError::QuotaExceeded { .. } => "quota_exceeded",
            AppError::PayloadTooLarge { .. } => "payload_too_large",
            AppError::Internal(_) => "internal",
        }
    }

    /// The message shown to the user: never the cause of an internal error.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Internal(_) => "Something went wrong on our side. Please try again.".into(),
            other => other.to_string(),
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            AppError::Validation { field, .. } | AppError::Conflict { field, .. } => {
                field.as_deref()
            }
            _ => None,
        }
    }

    /// For a form: the field (empty when none) and message to show inline, when the error is
    /// about what was submitted rather than a failure to show as a page of its own.
    pub fn inline_on_form(&self) -> Option<(String, String)> {
        match self {
            AppError::Validation { field, message } | AppError::Conflict { field, message } => {
                Some((field.clone().unwrap_or_default(), message.clone()))
            }
            AppError::QuotaExceeded { message, .. } => Some((String::new(), message.clone())),
            _ => None,
        }
    }

    /// Logs an internal error's real cause; called once, where the error becomes a response.
    pub fn log_if_internal(&self) {
        if let AppError::Internal(cause) = self {
            tracing::error!(error = ?cause, "request failed");
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        // PostgreSQL text cannot hold a NUL character (22021): input that carries one is the
        // caller's mistake wherever it arrives, not a server error.
        const NUL_IN_TEXT: &str = "22021";
        match err {
            sqlx::Error::RowNotFound => AppError::NotFound,
            sqlx::Error::Database(db) if db.code().as_deref() == Some(NUL_IN_TEXT) => {
                AppError::BadRequest("text can't contain a NUL character".into())
            }
            err if crate::db::outage::is_unreachable(&err) => {
                crate::db::outage::noticed(&err);
                AppError::Unavailable { retry_after: 5 }
            }
            other => AppError::Internal(other.into()),
        }
    }
}

/// A constraint the schema enforces, and the conflict its violation means to the caller.
pub struct ConstraintConflict {
    pub constraint: &'static str,
    pub field: &'static str,
    pub message: &'static str,
}

pub trait ResultExt<T> {
    /// Turns the violation of one of `conflicts` into its 409 naming the field; any other
    /// error converts as usual.
    fn on_constraint(self, conflicts: &[ConstraintConflict]) -> Result<T, AppError>;
}

impl<T> ResultExt<T> for Result<T, sqlx::Error> {
    fn on_constraint(self, conflicts: &[ConstraintConflict]) -> Result<T, AppError> {
        self.map_err(|err| {
            let broken = err.as_database_error().and_then(|e| e.constraint());
            match conflicts.iter().find(|c| Some(c.constraint) == broken) {
                Some(c) => AppError::conflict(c.field, c.message),
                None => err.into(),
            }
        })
    }
}

/// The JSON body of every API error: `{"error": {"code", "message", "field"}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log_if_internal();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.public_message(),
                field: self.field().map(str::to_string),
            },
        };
        let mut response = (self.status(), axum::Json(body)).into_response();
        set_retry_after(&mut response, self.retry_after());
        response
    }
}

/// Adds `Retry-After` to a refusal that has one, whatever shape (JSON or page) it takes.
pub fn set_retry_after(response: &mut Response, seconds: Option<u64>) {
    if let Some(seconds) = seconds {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, seconds.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = AppError::Internal(anyhow::anyhow!("password=hunter2 connection refused"));
        assert!(!err.public_message().contains("hunter2"));
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
