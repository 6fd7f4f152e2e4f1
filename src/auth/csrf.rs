//! CSRF protection for requests authenticated by the session cookie. Forms carry the
//! session's token in a hidden `csrf_token` field; scripts send it as `X-CSRF-Token`.
//! Cookies are also `SameSite=Lax`, and browsers' `Sec-Fetch-Site: cross-site` is refused.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::secret_token::constant_time_eq;
use crate::error::AppError;

pub const FORM_FIELD: &str = "csrf_token";
pub const HEADER: &str = "x-csrf-token";
/// Forms are small; anything larger is refused before it is buffered.
const MAX_FORM_BYTES: usize = 1024 * 1024;

/// The token a form submitted, lifted out of its body by [`capture_form_token`].
#[derive(Debug, Clone)]
pub struct SubmittedCsrfToken(pub String);

/// Middleware for form posts: reads `csrf_token` from an urlencoded body, keeps it in the
/// request's extensions for [`verify`], and passes the body on untouched.
pub async fn capture_form_token(request: Request, next: Next) -> Response {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if request.method() == Method::GET || request.method() == Method::HEAD || !is_form {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let bytes = match to_bytes(body, MAX_FORM_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => return AppError::BadRequest("the form is too large".into()).into_response(),
    };
    if let Some((_, token)) = url::form_urlencoded::parse(&bytes).find(|(k, _)| k == FORM_FIELD) {
        parts
            .extensions
            .insert(SubmittedCsrfToken(token.into_owned()));
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Checks a cookie-authenticated, state-changing request against the session's token.
pub fn verify(
    headers: &HeaderMap,
    submitted: Option<&SubmittedCsrfToken>,
    expected: &str,
) -> Result<(), AppError> {
    if is_cross_site(headers) {
        return Err(AppError::Csrf);
    }
    let from_header = headers.get(HEADER).and_then(|v| v.to_str().ok());
    let given = from_header
        .or(submitted.map(|s| s.0.as_str()))
        .unwrap_or("");
    if !given.is_empty() && constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(AppError::Csrf)
    }
}

/// Browsers say where a request comes from; a cross-site state change is never ours.
/// For forms posted before there is a session (login, invitations, password links): no token
/// to check, so a post from another site is refused by its headers instead.
pub fn refuse_cross_site(headers: &HeaderMap, app_url: &url::Url) -> Result<(), AppError> {
    if is_cross_site(headers) || !origin_matches(headers, app_url) {
        return Err(AppError::Csrf);
    }
    Ok(())
}

pub fn is_cross_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"))
}

/// False when the request names an `Origin` other than `app_url`'s (including the opaque
/// `null` of sandboxed frames and privacy redirects). No `Origin` at all passes: old browsers
/// and non-browser clients send none, and `SameSite` cookies still hold.
pub fn origin_matches(headers: &HeaderMap, app_url: &url::Url) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(origin) = origin.to_str().ok().and_then(|o| url::Url::parse(o).ok()) else {
        return false;
    };
    origin.origin() == app_url.origin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_token_passes_and_anything_else_fails() {
        let headers = HeaderMap::new();
        let good = SubmittedCsrfToken("abc123".into());
        let bad = SubmittedCsrfToken("abc124".into());
        assert!(verify(&headers, Some(&good), "abc123").is_ok());
        assert!(verify(&headers, Some(&bad), "abc123").is_err());
        assert!(verify(&headers, None, "abc123").is_err());
    }

    #[test]
    fn only_our_own_origin_or_none_passes() {
        let app = url::Url::parse("https://help.example.com/").unwrap();
        let with = |origin: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ORIGIN, origin.parse().unwrap());
            origin_matches(&headers, &app)
        };
        assert!(origin_matches(&HeaderMap::new(), &app));
        assert!(with("https://help.example.com"));
        assert!(!with("https://evil.example"));
        assert!(!with("http://help.example.com"));
        assert!(!with("null"));
    }

    #[test]
    fn a_cross_site_request_fails_even_with_the_token() {
        let mut headers = HeaderMap::new();
        headers.insert("sec-fetch-site", "cross-site".parse().unwrap());
        headers.insert(HEADER, "abc123".parse().unwrap());
        assert!(verify(&headers, None, "abc123").is_err());
    }
}
