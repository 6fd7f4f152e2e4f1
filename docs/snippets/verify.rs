// Cargo.toml: hmac = "0.12", sha2 = "0.10", hex = "0.4", base64 = "0.22"
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `raw_body`: the exact bytes received; `signature`: the ThereThere-Signature header.
pub fn verify_therethere_signature(raw_body: &[u8], signature: &str, secret: &str) -> bool {
    let Ok(given) = hex::decode(signature) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(raw_body);
    mac.verify_slice(&given).is_ok() // constant-time
}

/// Standard Webhooks: the webhook-id, webhook-timestamp and webhook-signature headers.
/// Also refuses replays more than 5 minutes from `now` (unix seconds).
pub fn verify_standard_webhook(
    raw_body: &[u8],
    id: &str,
    timestamp: &str,
    signatures: &str,
    secret: &str,
    now: i64,
) -> bool {
    let Ok(sent) = timestamp.parse::<i64>() else {
        return false;
    };
    if (now - sent).abs() > 300 {
        return false;
    }
    let base64 = base64::engine::general_purpose::STANDARD;
    let Ok(key) = base64.decode(secret.trim_start_matches("whsec_")) else {
        return false;
    };
    signatures
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .any(|signature| {
            let Ok(given) = base64.decode(signature) else {
                return false;
            };
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
            mac.update(format!("{id}.{timestamp}.").as_bytes());
            mac.update(raw_body);
            mac.verify_slice(&given).is_ok()
        })
}
