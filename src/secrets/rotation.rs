//! Keeping every stored secret sealed under the current key: at start-up the key is checked
//! against what is stored and plaintext rows (from before sealing) are sealed; `therethere
//! rotate-secrets-key` re-seals every row still under the previous key. Both work in small
//! batches, each row replaced only if it still holds what was read (an instance may change a
//! secret meanwhile), so they are safe while instances run and can be run again.

use sqlx::PgPool;

use super::{Keyring, OpenError, SEALED_PREFIX};

/// Every column that holds a signing secret, by table.
const SEALED_COLUMNS: [(&str, &str); 3] = [
    ("webhook_destinations", "secret"),
    ("webhook_destinations", "previous_secret"),
    ("sidebar_sections", "secret"),
];

const BATCH: i64 = 200;

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error(
        "the stored secrets cannot be opened: {0}. Start with the key they were sealed under (SECRETS_KEY, or SECRETS_KEY_PREVIOUS while rotating)"
    )]
    WrongKey(OpenError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Refuses a key ring that cannot open what is stored (a wrong or missing key), naming the
/// key id the stored values need. Nothing is written.
pub async fn check_key(pool: &PgPool, keyring: &Keyring) -> Result<(), RotationError> {
    let known: Vec<String> = [Some(&keyring.current), keyring.previous.as_ref()]
        .into_iter()
        .flatten()
        .map(|k| format!("{SEALED_PREFIX}{}:%", k.id()))
        .collect();
    for (table, column) in SEALED_COLUMNS {
        let stranger: Option<String> = sqlx::query_scalar(&format!(
            "SELECT {column} FROM {table}
             WHERE {column} LIKE 'tt1:%' AND NOT ({column} LIKE ANY($1)) LIMIT 1"
        ))
        .bind(&known)
        .fetch_optional(pool)
        .await?;
        if let Some(value) = stranger {
            let err = keyring.open(&value).err().unwrap_or(OpenError::Damaged);
            return Err(RotationError::WrongKey(err));
        }
        // A value under a known id that does not open: the same id, another key.
        let sample: Option<String> = sqlx::query_scalar(&format!(
            "SELECT {column} FROM {table} WHERE {column} LIKE 'tt1:%' LIMIT 1"
        ))
        .fetch_optional(pool)
        .await?;
        if let Some(value) = sample {
            keyring.open(&value).map_err(RotationError::WrongKey)?;
        }
    }
    Ok(())
}

/// Which values [`reseal`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reseal {
    /// Plaintext from before sealing (at start-up: instances still running with only the
    /// previous key can go on opening what they sealed).
    Plaintext,
    /// Everything not under the current key (`rotate-secrets-key`).
    NotCurrent,
}

/// Seals the values `which` names under the current key; returns how many it sealed.
pub async fn reseal(pool: &PgPool, keyring: &Keyring, which: Reseal) -> Result<u64, RotationError> {
    let current = match which {
        Reseal::Plaintext => format!("{SEALED_PREFIX}%"),
        Reseal::NotCurrent => format!("{SEALED_PREFIX}{}:%", keyring.current.id()),
    };
    let mut sealed = 0;
    for (table, column) in SEALED_COLUMNS {
        let mut after = 0_i64;
        loop {
            let rows: Vec<(i64, String)> = sqlx::query_as(&format!(
                "SELECT id, {column} FROM {table}
                 WHERE id > $1 AND {column} IS NOT NULL AND {column} NOT LIKE $2
                 ORDER BY id LIMIT $3"
            ))
            .bind(after)
            .bind(&current)
            .bind(BATCH)
            .fetch_all(pool)
            .await?;
            let Some((last, _)) = rows.last() else { break };
            after = *last;
            let (ids, old, new) = rows.iter().try_fold(
                (Vec::new(), Vec::new(), Vec::new()),
                |(mut ids, mut old, mut new), (id, value)| {
                    let plain = keyring.open(value).map_err(RotationError::WrongKey)?;
                    ids.push(*id);
                    old.push(value.clone());
                    new.push(keyring.seal(&plain));
                    Ok::<_, RotationError>((ids, old, new))
                },
            )?;
            // Only rows that still hold what was read: a secret changed meanwhile is the
            // new one, sealed already by whoever changed it.
            sealed += sqlx::query(&format!(
                "UPDATE {table} t SET {column} = n.new
                 FROM unnest($1::bigint[], $2::text[], $3::text[]) AS n(id, old, new)
                 WHERE t.id = n.id AND t.{column} = n.old"
            ))
            .bind(&ids)
            .bind(&old)
            .bind(&new)
            .execute(pool)
            .await?
            .rows_affected();
        }
    }
    Ok(sealed)
}

/// Erases the secrets a Regenerate replaced once their grace period is over (until then they
/// still sign `webhook-signature`); after it they are gone, not merely hidden.
pub async fn erase_retired_secrets(pool: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE webhook_destinations SET previous_secret = NULL, previous_secret_until = NULL
         WHERE previous_secret IS NOT NULL AND (previous_secret_until IS NULL OR previous_secret_until <= now())",
    )
    .execute(pool)
    .await?
    .rows_affected())
}
