//! Extractors whose rejections answer in our error shape: `AppJson` and `AppQuery` name the
//! field or parameter serde complains of, `AppPath` answers 404 for an id that cannot exist.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::web::MAX_BODY_BYTES;

/// `Path` whose rejections answer in our error shape.
pub struct AppPath<T>(pub T);

impl<S, T> FromRequestParts<S> for AppPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(AppPath(value)),
            // A malformed id names nothing that exists.
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(AppError::NotFound),
            Err(other) => Err(AppError::Internal(anyhow::anyhow!(
                "path extraction: {other}"
            ))),
        }
    }
}

/// `Json` whose rejections answer in our error shape, naming the field when serde does.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(AppJson(value)),
            Err(rejection) => Err(json_rejection_to_error(rejection)),
        }
    }
}

/// An optional JSON body: none when the request has no `Content-Type` (an empty POST).
impl<S, T> axum::extract::OptionalFromRequest<S> for AppJson<T>
where
    axum::Json<T>: axum::extract::OptionalFromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        match <axum::Json<T> as axum::extract::OptionalFromRequest<S>>::from_request(req, state)
            .await
        {
            Ok(value) => Ok(value.map(|axum::Json(value)| AppJson(value))),
            Err(rejection) => Err(json_rejection_to_error(rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `Query` whose rejections answer in our error shape, naming the parameter when serde does.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for AppQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(AppQuery(value)),
            Err(rejection) => {
                let detail = std::error::Error::source(&rejection)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| rejection.body_text());
                Err(AppError::Validation {
                    field: field_named_in(&detail),
                    message: format!("A query parameter is wrong: {detail}"),
                })
            }
        }
    }
}

fn json_rejection_to_error(rejection: JsonRejection) -> AppError {
    match rejection {
        JsonRejection::JsonDataError(err) => {
            // serde's message names the offending field; keep it, it is about the caller's input.
            let detail = std::error::Error::source(&err)
                .map(|s| s.to_string())
                .unwrap_or_else(|| err.body_text());
            AppError::Validation {
                field: field_named_in(&detail),
                message: detail,
            }
        }
        JsonRejection::JsonSyntaxError(_) => {
            AppError::BadRequest("the request body is not valid JSON".into())
        }
        JsonRejection::BytesRejection(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            AppError::PayloadTooLarge {
                limit_bytes: MAX_BODY_BYTES,
            }
        }
        JsonRejection::MissingJsonContentType(_) => {
            AppError::BadRequest("expected a JSON body with Content-Type: application/json".into())
        }
        other => AppError::BadRequest(other.body_text()),
    }
}

/// Pulls `subject` out of serde messages like "missing field `subject`" or
/// "contact.email: invalid type: ...".
fn field_named_in(detail: &str) -> Option<String> {
    if let Some(start) = detail.find("field `") {
        let rest = &detail[start + 7..];
        return rest.find('`').map(|end| rest[..end].to_string());
    }
    let (path, _) = detail.split_once(": ")?;
    let looks_like_path = !path.is_empty()
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '[' || c == ']');
    looks_like_path.then(|| path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_is_found_in_serde_messages() {
        assert_eq!(
            field_named_in("missing field `subject` at line 1 column 2").as_deref(),
            Some("subject")
        );
        assert_eq!(
            field_named_in("contact.email: invalid type: integer `3`, expected a string")
                .as_deref(),
            Some("contact.email")
        );
        assert_eq!(field_named_in("something else entirely"), None);
    }
}
