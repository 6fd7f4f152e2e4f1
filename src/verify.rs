//! `therethere verify`: checks a delivery's signature the way a receiver would, for
//! debugging a receiver. Both schemes: the spec's `ThereThere-Signature` (hex HMAC of the
//! body) and Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).

use crate::outbound::signature::{verify_hex, verify_standard};

/// What to check: the secret, the body, and either a hex signature or a block of headers
/// (`Name: value` lines, as copied from a delivery's Details).
pub struct VerifyRequest<'a> {
    pub secret: &'a str,
    pub body: &'a [u8],
    pub signature: Option<&'a str>,
    pub headers: Option<&'a str>,
    /// Unix seconds, for the Standard Webhooks replay window.
    pub now: i64,
}

/// `Ok` with what was verified, or `Err` with the one-line reason.
pub fn verify(request: &VerifyRequest) -> Result<String, String> {
    if let Some(signature) = request.signature {
        return if verify_hex(request.secret.as_bytes(), request.body, signature) {
            Ok("valid: ThereThere-Signature matches the body".into())
        } else {
            Err("invalid: ThereThere-Signature does not match this body and secret".into())
        };
    }
    let headers = request.headers.ok_or("give --signature or --headers")?;
    let header = |name: &str| {
        headers.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    };
    let mut verified = Vec::new();
    if let Some(signatures) = header("webhook-signature") {
        let id = header("webhook-id").ok_or("invalid: webhook-signature without webhook-id")?;
        let timestamp = header("webhook-timestamp")
            .ok_or("invalid: webhook-signature without webhook-timestamp")?;
        verify_standard(
            request.secret,
            &id,
            &timestamp,
            &signatures,
            request.body,
            request.now,
        )
        .map_err(|refusal| format!("invalid: webhook-signature: {refusal}"))?;
        verified.push("webhook-signature");
    }
    if let Some(signature) = header("therethere-signature") {
        if !verify_hex(request.secret.as_bytes(), request.body, &signature) {
            return Err("invalid: ThereThere-Signature does not match this body and secret".into());
        }
        verified.push("ThereThere-Signature");
    }
    if verified.is_empty() {
        return Err("invalid: no ThereThere-Signature or webhook-signature header found".into());
    }
    Ok(format!("valid: {} match the body", verified.join(" and ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::signature::{sign_hex, standard_signature};

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const BODY: &[u8] = br#"{"type":"test"}"#;

    fn headers(now: i64) -> String {
        format!(
            "POST https://hooks.example.com/x\ncontent-type: application/json\nthereThere-signature: {}\nwebhook-id: 01abc\nwebhook-timestamp: {now}\nwebhook-signature: {}\n",
            sign_hex(SECRET.as_bytes(), BODY),
            standard_signature(SECRET, "01abc", now, BODY).unwrap()
        )
    }

    #[test]
    fn both_schemes_verify_from_copied_headers() {
        let h = headers(1_700_000_000);
        let request = VerifyRequest {
            secret: SECRET,
            body: BODY,
            signature: None,
            headers: Some(&h),
            now: 1_700_000_010,
        };
        assert_eq!(
            verify(&request).unwrap(),
            "valid: webhook-signature and ThereThere-Signature match the body"
        );
    }

    #[test]
    fn a_stale_or_tampered_delivery_is_refused_with_the_reason() {
        let h = headers(1_700_000_000);
        let late = VerifyRequest {
            secret: SECRET,
            body: BODY,
            signature: None,
            headers: Some(&h),
            now: 1_700_001_000,
        };
        assert!(verify(&late).unwrap_err().contains("tolerance"));
        let tampered = VerifyRequest {
            body: b"{}",
            now: 1_700_000_000,
            ..late
        };
        assert!(verify(&tampered).unwrap_err().starts_with("invalid"));
        let hex = sign_hex(SECRET.as_bytes(), BODY);
        let plain = VerifyRequest {
            secret: SECRET,
            body: BODY,
            signature: Some(&hex),
            headers: None,
            now: 0,
        };
        assert!(verify(&plain).is_ok());
        let wrong = VerifyRequest {
            secret: "other",
            ..plain
        };
        assert!(verify(&wrong).is_err());
    }
}
