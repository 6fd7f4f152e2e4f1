//! Where a login may send the browser afterwards: only a path of this site. `next` comes from
//! a link anyone can craft, so anything that a browser could read as another origin is refused.

use url::Url;

/// Where to go when `next` is missing or refused.
pub const DEFAULT_AFTER_LOGIN: &str = "/tickets";

/// `next` as a same-origin path (with its query), or `None` when it is anything else: a
/// scheme, `//`, a backslash, a control or whitespace character (raw or percent-encoded), or
/// anything that does not resolve under `app_url`'s origin.
pub fn same_origin_path(app_url: &Url, next: &str) -> Option<String> {
    let decoded = percent_decoded(next);
    for candidate in [next, decoded.as_str()] {
        let refused = !candidate.starts_with('/')
            || candidate.starts_with("//")
            || candidate.contains('\\')
            || candidate
                .chars()
                .any(|c| c.is_control() || c.is_whitespace());
        if refused {
            return None;
        }
    }
    let resolved = app_url.join(next).ok()?;
    if resolved.origin() != app_url.origin() || !resolved.username().is_empty() {
        return None;
    }
    let mut path = resolved.path().to_string();
    if let Some(query) = resolved.query() {
        path.push('?');
        path.push_str(query);
    }
    // Resolution cannot move a path to another origin, but it can turn `/./` tricks into
    // `//`: check the result too.
    (!path.starts_with("//")).then_some(path)
}

/// `next`, or the default when it is refused.
pub fn after_login(app_url: &Url, next: Option<&str>) -> String {
    next.and_then(|next| same_origin_path(app_url, next))
        .unwrap_or_else(|| DEFAULT_AFTER_LOGIN.to_string())
}

/// `raw` with `%XX` escapes decoded, twice over: a doubly encoded `%252F` must not slip
/// through either.
fn percent_decoded(raw: &str) -> String {
    let once = decode_once(raw);
    decode_once(&once)
}

fn decode_once(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> Url {
        Url::parse("https://help.example.com/").unwrap()
    }

    #[test]
    fn local_paths_pass_with_their_query() {
        assert_eq!(
            same_origin_path(&app(), "/tickets/3").as_deref(),
            Some("/tickets/3")
        );
        assert_eq!(
            same_origin_path(&app(), "/tickets?status=closed").as_deref(),
            Some("/tickets?status=closed")
        );
        assert_eq!(
            same_origin_path(&app(), "/settings/webhooks/4").as_deref(),
            Some("/settings/webhooks/4")
        );
    }

    #[test]
    fn hostile_forms_are_refused() {
        let hostile = [
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "/ /evil.example",
            "/%09/evil.example",
            "/%0a/evil.example",
            "/%0d%0a/evil.example",
            "/%5cevil.example",
            "/%5Cevil.example",
            "/%2f/evil.example",
            "/%2F%2Fevil.example",
            "/%252f/evil.example",
            "%2F%2Fevil.example",
            "https://evil.example",
            "http:evil.example",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,x",
            "evil.example",
            " /tickets",
            "/\u{3000}/evil.example",
            "/\u{7f}/evil.example",
            "",
            "https://help.example.com.evil.example/",
            "//help.example.com@evil.example",
        ];
        for next in hostile {
            assert_eq!(
                same_origin_path(&app(), next),
                None,
                "{next:?} was let through"
            );
        }
    }

    #[test]
    fn a_refused_next_goes_to_the_tickets() {
        assert_eq!(after_login(&app(), Some("//evil.example")), "/tickets");
        assert_eq!(after_login(&app(), None), "/tickets");
        assert_eq!(after_login(&app(), Some("/tickets/9")), "/tickets/9");
    }
}
