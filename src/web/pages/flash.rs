//! One-shot messages shown on the page after a redirect ("Reply sent."), carried in a
//! short-lived cookie and cleared when shown.

use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};

const COOKIE_NAME: &str = "therethere_flash";

/// Sets the message for the next page the browser loads.
pub fn set(jar: CookieJar, message: &str) -> CookieJar {
    let encoded: String = url::form_urlencoded::byte_serialize(message.as_bytes()).collect();
    jar.add(
        Cookie::build((COOKIE_NAME, encoded))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .max_age(time_minutes(5)),
    )
}

/// Takes the pending message, if any, and returns the jar that clears it.
pub fn take(jar: CookieJar) -> (CookieJar, Option<String>) {
    let Some(cookie) = jar.get(COOKIE_NAME) else {
        return (jar, None);
    };
    let message: String = url::form_urlencoded::parse(format!("m={}", cookie.value()).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let jar = jar.remove(Cookie::build(COOKIE_NAME).path("/"));
    (jar, Some(message).filter(|m| !m.is_empty()))
}

fn time_minutes(minutes: i64) -> time::Duration {
    time::Duration::minutes(minutes)
}
