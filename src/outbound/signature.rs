//! Request signing: lower-case hex HMAC-SHA256 of the exact body bytes sent.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

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

#[cfg(test)]
mod tests {
    use super::*;

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
