//! The page routes' extractors: axum's `Path`, `Query` and `Form`, whose refusals are our
//! error page instead of axum's plain text (a malformed id names nothing: 404; a query or form
//! that cannot be read: 422 or 400), as the API's wrappers answer in its JSON shape.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum_extra::extract::FormRejection;
use serde::de::DeserializeOwned;

use super::PageError;
use crate::error::AppError;
use crate::web::MAX_BODY_BYTES;
use crate::web::api::extract::{AppPath, AppQuery};

/// `Path` for pages: an id that cannot exist shows the 404 page.
pub struct PagePath<T>(pub T);

impl<S, T> FromRequestParts<S> for PagePath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AppPath(value) = AppPath::<T>::from_request_parts(parts, state).await?;
        Ok(PagePath(value))
    }
}

/// `Query` for pages: a parameter that cannot be read shows the error page naming it.
pub struct PageQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for PageQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AppQuery(value) = AppQuery::<T>::from_request_parts(parts, state).await?;
        Ok(PageQuery(value))
    }
}

/// `Form` for pages (axum-extra's, so a field may repeat, as checkboxes do): a form that cannot
/// be read shows the error page.
pub struct PageForm<T>(pub T);

impl<S, T> FromRequest<S> for PageForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum_extra::extract::Form::<T>::from_request(req, state).await {
            Ok(axum_extra::extract::Form(value)) => Ok(PageForm(value)),
            Err(FormRejection::RawFormRejection(raw))
                if raw.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(PageError(AppError::PayloadTooLarge {
                    limit_bytes: MAX_BODY_BYTES,
                }))
            }
            Err(FormRejection::RawFormRejection(raw)) => Err(PageError(AppError::BadRequest(
                format!("The form could not be read: {}", raw.body_text()),
            ))),
            Err(other) => {
                let detail = std::error::Error::source(&other)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| other.body_text());
                Err(PageError(AppError::Validation {
                    field: None,
                    message: format!("The form could not be read: {detail}"),
                }))
            }
        }
    }
}
