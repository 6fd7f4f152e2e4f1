//! Where the key ring comes from: `SECRETS_KEY` (base64 of 32 bytes) or `SECRETS_KEY_FILE` (a
//! file holding that), and `SECRETS_KEY_PREVIOUS` during a rotation. With the embedded
//! database and neither set, a key is generated once into `secrets.key` beside it (git-ignored),
//! so `cargo run` needs no setting; with `DATABASE_URL` the operator must give one and keep it:
//! without it, the stored secrets cannot be opened.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};

use super::{Keyring, SecretsKey};

/// A key that cannot be had, naming the variable to fix.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {variable}: {reason}")]
pub struct KeyError {
    pub variable: &'static str,
    pub reason: String,
}

/// The settings as read from the environment (the key material stays wrapped until used).
#[derive(Debug, Clone, Default)]
pub struct KeySettings {
    pub key: Option<SecretString>,
    pub key_file: Option<PathBuf>,
    pub previous: Option<SecretString>,
    /// With the embedded database: where a generated key lives.
    pub generated_file: Option<PathBuf>,
}

/// Base64 of exactly 32 bytes, or why not.
pub fn parse_key(raw: &str) -> Result<[u8; 32], String> {
    let bytes = STANDARD
        .decode(raw.trim())
        .map_err(|_| "must be base64 (e.g. the output of `openssl rand -base64 32`)".to_string())?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("must be 32 bytes in base64, not {}", bytes.len()))
}

fn error(variable: &'static str, reason: impl Into<String>) -> KeyError {
    KeyError {
        variable,
        reason: reason.into(),
    }
}

impl KeySettings {
    /// The key ring, from the settings (and the generated file with the embedded database).
    pub fn load(&self) -> Result<Keyring, KeyError> {
        let current = match (&self.key, &self.key_file, &self.generated_file) {
            (Some(key), _, _) => {
                parse_key(key.expose_secret()).map_err(|e| error("SECRETS_KEY", e))?
            }
            (None, Some(file), _) => {
                read_key_file(file).map_err(|e| error("SECRETS_KEY_FILE", e))?
            }
            (None, None, Some(generated)) => {
                generated_key(generated).map_err(|e| error("SECRETS_KEY_FILE", e))?
            }
            (None, None, None) => {
                return Err(error(
                    "SECRETS_KEY",
                    "is not set: with DATABASE_URL, give the key that seals signing secrets \
                     (SECRETS_KEY, base64 of 32 bytes, or SECRETS_KEY_FILE). Keep it with your \
                     backups: without it the stored secrets cannot be opened.",
                ));
            }
        };
        let previous = self
            .previous
            .as_ref()
            .map(|p| parse_key(p.expose_secret()).map_err(|e| error("SECRETS_KEY_PREVIOUS", e)))
            .transpose()?;
        Ok(Keyring {
            current: SecretsKey::from_bytes(&current),
            previous: previous.map(|p| SecretsKey::from_bytes(&p)),
        })
    }
}

fn read_key_file(path: &Path) -> Result<[u8; 32], String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{} cannot be read: {e}", path.display()))?;
    parse_key(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The embedded default's key: read, or made on first start (readable by this user only).
fn generated_key(path: &Path) -> Result<[u8; 32], String> {
    if path.exists() {
        return read_key_file(path);
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| format!("no random source: {e}"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{} cannot be created: {e}", path.display()))?;
    writeln!(file, "{}", STANDARD.encode(key)).map_err(|e| e.to_string())?;
    tracing::info!(path = %path.display(), "generated the key that seals signing secrets (embedded database)");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_base64_of_32_bytes() {
        assert!(parse_key(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(
            parse_key(&STANDARD.encode([7u8; 16]))
                .unwrap_err()
                .contains("32 bytes")
        );
        assert!(parse_key("not base64!").is_err());
    }

    #[test]
    fn without_a_key_and_an_external_database_start_up_is_refused_naming_the_variable() {
        let err = KeySettings::default().load().unwrap_err();
        assert_eq!(err.variable, "SECRETS_KEY");
    }

    #[test]
    fn the_embedded_default_generates_a_key_once_and_reads_it_again() {
        let dir = std::env::temp_dir().join(format!("therethere-key-{}", ulid::Ulid::new()));
        let settings = KeySettings {
            generated_file: Some(dir.join("secrets.key")),
            ..KeySettings::default()
        };
        let first = settings.load().unwrap();
        let again = settings.load().unwrap();
        assert_eq!(first.current.id(), again.current.id());
        std::fs::remove_dir_all(dir).ok();
    }
}
