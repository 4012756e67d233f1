//! Signing keys: the rows behind key rotation (`key_source = "store"`).
//!
//! A key is published from `created_at`, signs from `activates_at`, stops signing at
//! `retired_at`. Scheduling a key to sign retires every other signing or scheduled key at
//! the same instant, in one transaction, so at any time at most one key signs.

use std::fmt;

use tessera_core::Timestamp;

use crate::Store;
use crate::engine::Retry;
use crate::error::Result;

/// One stored signing key. `Debug` leaves the (sealed) private part out.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredKey {
    /// The key id written in token headers.
    pub kid: String,
    /// The JWS algorithm, e.g. `"EdDSA"`.
    pub algorithm: String,
    /// The private key in its stored form (`aes256gcm:…` or `plain:…`).
    pub private_key: String,
    /// When the key was created (and published).
    pub created_at: Timestamp,
    /// When the key starts signing; `None` while it is only published.
    pub activates_at: Option<Timestamp>,
    /// When the key stops signing.
    pub retired_at: Option<Timestamp>,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// What [`Store::retire_signing_key`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retirement {
    /// The key stops signing at the given time.
    Retired,
    /// No key has that id.
    NotFound,
    /// The key was already retired at or before that time.
    AlreadyRetired,
    /// The key is the only one signing now; another must take over first.
    OnlySigningKey,
}

/// Every column of `signing_keys`, in a fixed order.
macro_rules! key_columns {
    () => {
        "kid, algorithm, private_key, created_at, activates_at, retired_at"
    };
}

/// Taken first in the transactions that change which key signs: concurrent changes (two
/// admins rotating at once, several servers creating the first key) run one after the
/// other. SQLite's `BEGIN IMMEDIATE` already does that; PostgreSQL locks the table against
/// other writers while readers (the key refresh of every server) go on.
const LOCK_KEYS: (&str, &str) = (
    "SELECT 1",
    "LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE",
);

impl Store {
    /// Every signing key, oldest first.
    ///
    /// # Errors
    /// The database error.
    pub async fn signing_keys(&self) -> Result<Vec<StoredKey>> {
        let sql = concat!(
            "SELECT ",
            key_columns!(),
            " FROM signing_keys ORDER BY created_at, COALESCE(activates_at, created_at), kid"
        );
        fetch!(self, fetch_all, StoredKey, sql)
    }

    /// Adds a key (published from `created_at`; signing from `activates_at` if set).
    ///
    /// # Errors
    /// The database error (a unique violation when the `kid` exists).
    pub async fn insert_signing_key(&self, key: &StoredKey) -> Result<()> {
        db!(write self, Retry::NotApplied, |pool| {
            sqlx::query(concat!(
                "INSERT INTO signing_keys (",
                key_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6)"
            ))
            .bind(&key.kid)
            .bind(&key.algorithm)
            .bind(&key.private_key)
            .bind(key.created_at)
            .bind(key.activates_at)
            .bind(key.retired_at)
            .execute(pool)
            .await
            .map(drop)
        })
    }

    /// Adds the first key, signing from its `activates_at`, unless some key that is not
    /// retired already exists (several instances starting at once create one key).
    /// Returns whether it was added.
    ///
    /// # Errors
    /// The database error.
    pub async fn insert_first_signing_key(&self, key: &StoredKey) -> Result<bool> {
        db!(write self, Retry::Idempotent, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            sqlx::query(engine.pick(LOCK_KEYS.0, LOCK_KEYS.1))
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query(concat!(
                "INSERT INTO signing_keys (",
                key_columns!(),
                ") SELECT $1, $2, $3, $4, $5, NULL \
                 WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL)"
            ))
            .bind(&key.kid)
            .bind(&key.algorithm)
            .bind(&key.private_key)
            .bind(key.created_at)
            .bind(key.activates_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done.rows_affected() == 1)
        }
        .await)
    }

    /// Replaces the stored form of `kid`'s private key with `replacement` if it still is
    /// `current` (sealing a key kept unencrypted: instances starting together seal it once).
    /// Returns whether it was replaced.
    ///
    /// # Errors
    /// The database error.
    pub async fn replace_signing_key_private(
        &self,
        kid: &str,
        current: &str,
        replacement: &str,
    ) -> Result<bool> {
        db!(write self, Retry::Idempotent, |pool| {
            sqlx::query(
                "UPDATE signing_keys SET private_key = $3 WHERE kid = $1 AND private_key = $2",
            )
            .bind(kid)
            .bind(current)
            .bind(replacement)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() == 1)
        })
    }

    /// Schedules `kid` to sign from `at` and retires, at `at`, every other key that signs or
    /// is scheduled to (unless it retires earlier). One transaction. Returns `false` (and
    /// changes nothing) when `kid` does not exist or is retired.
    ///
    /// # Errors
    /// The database error.
    pub async fn activate_signing_key(&self, kid: &str, at: Timestamp) -> Result<bool> {
        db!(write self, Retry::Idempotent, |pool, engine| {
            async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            sqlx::query(engine.pick(LOCK_KEYS.0, LOCK_KEYS.1))
                .execute(&mut *tx)
                .await?;
            let scheduled = sqlx::query(
                "UPDATE signing_keys SET activates_at = $2 WHERE kid = $1 AND retired_at IS NULL",
            )
            .bind(kid)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            if scheduled.rows_affected() != 1 {
                return Ok(false);
            }
            sqlx::query(
                "UPDATE signing_keys SET retired_at = $2 \
                 WHERE kid <> $1 AND activates_at IS NOT NULL AND (retired_at IS NULL OR retired_at > $2)",
            )
            .bind(kid)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(true)
        }
        .await
        })
    }

    /// Stops `kid` signing at `at` — unless it is the only key signing at `at`. Retiring a
    /// scheduled successor before it signs cancels the hand-over: the keys its activation
    /// was to retire keep signing (unless another key takes over then), so that there is
    /// never a moment with no signing key. One transaction, serialised with the other key
    /// changes.
    ///
    /// # Errors
    /// The database error.
    pub async fn retire_signing_key(&self, kid: &str, at: Timestamp) -> Result<Retirement> {
        db!(write self, Retry::Idempotent, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            sqlx::query(engine.pick(LOCK_KEYS.0, LOCK_KEYS.1))
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query(
                "UPDATE signing_keys SET retired_at = $2 \
                 WHERE kid = $1 AND (retired_at IS NULL OR retired_at > $2) \
                 AND (activates_at IS NULL OR activates_at > $2 OR EXISTS ( \
                     SELECT 1 FROM signing_keys o WHERE o.kid <> $1 AND o.activates_at <= $2 \
                     AND (o.retired_at IS NULL OR o.retired_at > $2)))",
            )
            .bind(kid)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            let outcome = if done.rows_affected() == 1 {
                // A successor retired before it ever signed hands nothing over: the keys
                // its activation was to retire (at that instant) keep signing, unless
                // another key takes over then.
                sqlx::query(
                    "UPDATE signing_keys SET retired_at = NULL \
                     WHERE kid <> $1 AND retired_at > $2 \
                     AND retired_at = (SELECT s.activates_at FROM signing_keys s WHERE s.kid = $1) \
                     AND NOT EXISTS (SELECT 1 FROM signing_keys o \
                         WHERE o.kid <> $1 AND o.kid <> signing_keys.kid \
                         AND o.activates_at IS NOT NULL AND o.activates_at <= signing_keys.retired_at \
                         AND (o.retired_at IS NULL OR o.retired_at > signing_keys.retired_at))",
                )
                .bind(kid)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                Retirement::Retired
            } else {
                let row: Option<(Option<Timestamp>,)> =
                    sqlx::query_as("SELECT retired_at FROM signing_keys WHERE kid = $1")
                        .bind(kid)
                        .fetch_optional(&mut *tx)
                        .await?;
                match row {
                    None => Retirement::NotFound,
                    Some((Some(retired),)) if retired <= at => Retirement::AlreadyRetired,
                    Some(_) => Retirement::OnlySigningKey,
                }
            };
            tx.commit().await?;
            Ok::<_, sqlx::Error>(outcome)
        }
        .await)
    }

    /// Deletes keys retired before `before` (their tokens have all expired). Returns how
    /// many went.
    ///
    /// # Errors
    /// The database error.
    pub async fn delete_signing_keys_retired_before(&self, before: Timestamp) -> Result<u64> {
        changed_rows!(
            self,
            "DELETE FROM signing_keys WHERE retired_at < $1",
            before
        )
    }
}
