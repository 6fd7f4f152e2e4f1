//! Signing secrets at rest: every destination's secret (and the one a Regenerate replaced) and
//! every sidebar section's secret is stored sealed with XChaCha20-Poly1305 under the operator's
//! key (`SECRETS_KEY` or `SECRETS_KEY_FILE`), a random nonce per value and the key's id beside
//! the ciphertext: `tt1:<key id>:<base64 of nonce and ciphertext>`. A dump, a replica or a
//! backup without the key holds nothing that signs.
//!
//! The process holds one key ring, installed at start-up ([`install`]); SQL never sees a
//! plaintext secret. `SECRETS_KEY_PREVIOUS` still opens values sealed under the key before, so
//! the key can be rotated with instances running: start them with the new key and the old one
//! as previous, then `therethere rotate-secrets-key` re-seals every row (see [`rotation`]).

pub mod keys;
pub mod rotation;

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

/// What a sealed value starts with; anything else is a plaintext value from before sealing.
pub const SEALED_PREFIX: &str = "tt1:";
/// Bound into every ciphertext: a sealed value means nothing elsewhere.
const CONTEXT: &[u8] = b"therethere signing secret v1";

/// One 32-byte key and its public id (the first 8 hex digits of a hash of it).
pub struct SecretsKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl SecretsKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let id = hex::encode(
            &Sha256::new_with_prefix(b"therethere key id")
                .chain_update(bytes)
                .finalize()[..4],
        );
        SecretsKey {
            id,
            cipher: XChaCha20Poly1305::new(bytes.into()),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretsKey({})", self.id)
    }
}

/// The current key (which seals) and the previous one (which only opens).
#[derive(Debug)]
pub struct Keyring {
    pub current: SecretsKey,
    pub previous: Option<SecretsKey>,
}

/// Why a stored value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("sealed under key {0}, which is neither SECRETS_KEY nor SECRETS_KEY_PREVIOUS")]
    UnknownKey(String),
    #[error("a sealed value is damaged or was sealed under another key with the same id")]
    Damaged,
}

impl Keyring {
    /// Seals `plaintext` under the current key with a fresh random nonce.
    pub fn seal(&self, plaintext: &str) -> String {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).expect("the OS random source is available");
        let sealed = self
            .current
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: CONTEXT,
                },
            )
            .expect("sealing a short value cannot fail");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!(
            "{SEALED_PREFIX}{}:{}",
            self.current.id,
            STANDARD.encode(bytes)
        )
    }

    /// The plaintext of a stored value; a value from before sealing is returned as it is.
    pub fn open(&self, stored: &str) -> Result<String, OpenError> {
        let Some(rest) = stored.strip_prefix(SEALED_PREFIX) else {
            return Ok(stored.to_string());
        };
        let (key_id, body) = rest.split_once(':').ok_or(OpenError::Damaged)?;
        let key = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|k| k.id == key_id)
            .ok_or_else(|| OpenError::UnknownKey(key_id.to_string()))?;
        let bytes = STANDARD.decode(body).map_err(|_| OpenError::Damaged)?;
        if bytes.len() < 24 {
            return Err(OpenError::Damaged);
        }
        let (nonce, sealed) = bytes.split_at(24);
        let plain = key
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: CONTEXT,
                },
            )
            .map_err(|_| OpenError::Damaged)?;
        String::from_utf8(plain).map_err(|_| OpenError::Damaged)
    }

    /// Whether a stored value is sealed under the current key already.
    pub fn is_current(&self, stored: &str) -> bool {
        stored
            .strip_prefix(SEALED_PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(id, _)| id == self.current.id)
    }
}

static KEYRING: OnceLock<Keyring> = OnceLock::new();

/// Makes `keyring` the process's, once; later calls keep the first (tests start many apps
/// in one process, all with the test key).
pub fn install(keyring: Keyring) {
    let _ = KEYRING.set(keyring);
}

/// The process's key ring.
///
/// # Panics
/// Before [`install`]: every entry point installs it before it reads or writes a secret.
pub fn keyring() -> &'static Keyring {
    KEYRING
        .get()
        .expect("the secrets key ring is installed at start-up")
}

/// `plaintext` sealed with the process's key ring.
pub fn seal(plaintext: &str) -> String {
    keyring().seal(plaintext)
}

/// A secret column as read: opened while it is decoded, so a query that selects it gets the
/// plaintext and no row type can forget to open it. Never printed by `Debug`.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Opened(pub String);

impl Opened {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Opened([secret])")
    }
}

impl sqlx::Type<sqlx::Postgres> for Opened {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <String as sqlx::Type<sqlx::Postgres>>::type_info()
    }

    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for Opened {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let stored = <String as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
        Ok(Opened(keyring().open(&stored)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ring(current: u8, previous: Option<u8>) -> Keyring {
        Keyring {
            current: SecretsKey::from_bytes(&[current; 32]),
            previous: previous.map(|p| SecretsKey::from_bytes(&[p; 32])),
        }
    }

    #[test]
    fn a_sealed_secret_opens_with_its_key_and_never_shows_its_plaintext() {
        let keys = ring(1, None);
        let sealed = keys.seal("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
        assert!(
            sealed.starts_with("tt1:") && !sealed.contains("C2FVsBQ"),
            "{sealed}"
        );
        assert_ne!(
            sealed,
            keys.seal("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
            "a nonce per value"
        );
        assert_eq!(
            keys.open(&sealed).unwrap(),
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
        );
        assert!(keys.is_current(&sealed));
    }

    #[test]
    fn the_previous_key_opens_and_an_unknown_one_is_named() {
        let old = ring(1, None);
        let sealed = old.seal("secret");
        let rotated = ring(2, Some(1));
        assert_eq!(rotated.open(&sealed).unwrap(), "secret");
        assert!(!rotated.is_current(&sealed));
        let wrong = ring(3, None);
        assert_eq!(
            wrong.open(&sealed),
            Err(OpenError::UnknownKey(old.current.id().to_string()))
        );
    }

    #[test]
    fn a_tampered_value_is_refused() {
        let keys = ring(1, None);
        let mut sealed = keys.seal("secret").into_bytes();
        let last = sealed.len() - 3;
        sealed[last] = if sealed[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            keys.open(&String::from_utf8(sealed).unwrap()),
            Err(OpenError::Damaged)
        );
        assert_eq!(
            keys.open("plaintext from before").unwrap(),
            "plaintext from before"
        );
    }

    proptest! {
        #[test]
        fn any_secret_round_trips(secret in any::<String>()) {
            let keys = ring(7, None);
            prop_assert_eq!(keys.open(&keys.seal(&secret)).unwrap(), secret);
        }

        #[test]
        fn any_stored_text_opens_or_is_refused(stored in any::<String>()) {
            let _ = ring(7, None).open(&format!("tt1:{stored}"));
        }
    }
}
