//! Random bearer secrets (session ids, API tokens, CSRF tokens) and their stored hashes.
//! These secrets carry 160+ bits of entropy, so a fast SHA-256 is the right hash: a
//! slow password hash would add nothing but latency to every request.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// `prefix` followed by `bytes` random bytes in lower-case hex.
pub fn generate(prefix: &str, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS random source is available");
    format!("{prefix}{}", hex::encode(buf))
}

/// What is stored in place of a secret.
pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_prefixed_unique_and_long() {
        let a = generate("tt_", 20);
        let b = generate("tt_", 20);
        assert!(a.starts_with("tt_") && a.len() == 43);
        assert_ne!(a, b);
    }

    #[test]
    fn constant_time_eq_compares_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
