//! Every signature the service sends: the spec's headers (lower-case hex HMAC-SHA256 of the
//! exact body bytes) on sidebar calls and webhooks, and the Standard Webhooks headers on
//! webhooks; and their checks, for `therethere verify` and the tests.

use hmac::{Hmac, Mac};
use http::header::{HeaderMap, HeaderValue};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The header a sidebar call's signature travels in (spec: `X-There-There-Signature`).
pub const SIDEBAR_SIGNATURE_HEADER: &str = "x-there-there-signature";
/// The header a webhook's signature travels in (spec: `ThereThere-Signature`).
pub const WEBHOOK_SIGNATURE_HEADER: &str = "therethere-signature";

/// `hex(HMAC-SHA256(secret, body))`, lower-case.
pub fn sign_hex(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a hex signature in constant time; any malformed input is simply invalid.
pub fn verify_hex(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Ok(given) = hex::decode(signature.trim()) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// Standard Webhooks signing (<https://www.standardwebhooks.com>): `v1,` + base64 of
/// HMAC-SHA256 keyed with the base64-decoded secret (after `whsec_`) over
/// `{id}.{timestamp}.{body}`. `None` when the secret is not in that form.
pub fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Some(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The Standard Webhooks headers of one webhook: `webhook-id` (the delivery's ULID, the
/// same on every attempt), `webhook-timestamp`, and `webhook-signature` with one
/// space-separated `v1,` entry per secret in `whsec_` form (the current one first; a second
/// while a rotation's grace period lasts, as the Standard Webhooks spec allows).
pub fn standard_webhook_headers(
    secrets: &[&str],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> HeaderMap {
    let value =
        |v: &str| HeaderValue::from_str(v).expect("ulids, digits and base64 are header-safe");
    let mut headers = HeaderMap::new();
    headers.insert("webhook-id", value(id));
    headers.insert("webhook-timestamp", value(&timestamp.to_string()));
    let signatures: Vec<String> = secrets
        .iter()
        .filter_map(|secret| standard_signature(secret, id, timestamp, body))
        .collect();
    if !signatures.is_empty() {
        headers.insert("webhook-signature", value(&signatures.join(" ")));
    }
    headers
}

/// Why a Standard Webhooks signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StandardRefusal {
    #[error("the secret is not a whsec_ base64 secret")]
    BadSecret,
    #[error("the timestamp is not a number")]
    BadTimestamp,
    #[error("the timestamp is {0} seconds away from now (tolerance 300)")]
    OutsideTolerance(i64),
    #[error("no v1 signature matches")]
    NoMatch,
}

/// Checks a `webhook-signature` header (space-separated `v1,<base64>` entries) the way
/// Standard Webhooks libraries do, including the 5-minute replay window around `now`.
pub fn verify_standard(
    secret: &str,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<(), StandardRefusal> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| StandardRefusal::BadTimestamp)?;
    if (now - ts).abs() > 300 {
        return Err(StandardRefusal::OutsideTolerance(now - ts));
    }
    let expected = standard_signature(secret, id, ts, body).ok_or(StandardRefusal::BadSecret)?;
    let matches = signatures.split_whitespace().any(|given| {
        crate::auth::secret_token::constant_time_eq(given.as_bytes(), expected.as_bytes())
    });
    if matches {
        Ok(())
    } else {
        Err(StandardRefusal::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_standard_webhooks_test_vector() {
        let signature = standard_signature(
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(
            signature.as_deref(),
            Some("v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=")
        );
    }

    #[test]
    fn standard_verification_checks_signature_and_replay_window() {
        let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        let good = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
        let id = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
        assert_eq!(
            verify_standard(
                secret,
                id,
                "1649367553",
                &format!("v1,bad {good}"),
                body,
                1649367553 + 10
            ),
            Ok(())
        );
        assert_eq!(
            verify_standard(secret, id, "1649367553", good, body, 1649367553 + 301),
            Err(StandardRefusal::OutsideTolerance(301))
        );
        assert_eq!(
            verify_standard(secret, id, "1649367553", good, b"{}", 1649367553),
            Err(StandardRefusal::NoMatch)
        );
        assert_eq!(
            verify_standard(secret, id, "soon", good, body, 0),
            Err(StandardRefusal::BadTimestamp)
        );
    }

    // Published vector (hex HMAC-SHA256), checked independently in shared/NOTES.md.
    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const EXPECTED: &str = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn signs_the_published_test_vector() {
        assert_eq!(sign_hex(SECRET, BODY), EXPECTED);
    }

    #[test]
    fn verifies_only_the_right_signature() {
        assert!(verify_hex(SECRET, BODY, EXPECTED));
        assert!(verify_hex(SECRET, BODY, &EXPECTED.to_ascii_uppercase()));
        assert!(!verify_hex(SECRET, b"Hello, World?", EXPECTED));
        assert!(!verify_hex(b"another secret", BODY, EXPECTED));
        assert!(!verify_hex(SECRET, BODY, "not hex"));
        assert!(!verify_hex(SECRET, BODY, &EXPECTED[..62]));
    }
}
