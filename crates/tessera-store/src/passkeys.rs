//! Passkeys (WebAuthn credentials) and the WebAuthn ceremonies between their begin and
//! their finish.
//!
//! A credential row keeps the credential as the WebAuthn library serialises it (JSON: the
//! public key, the signature counter, the backup state) — public material, no secret. A
//! ceremony row keeps the server half of a registration or an authentication, found by the
//! SHA-256 of its random id and consumed in one conditional `DELETE … RETURNING`: of
//! concurrent finishes of one ceremony, on any number of servers, exactly one gets it.

use tessera_core::Timestamp;

use crate::Store;
use crate::engine::Retry;
use crate::error::Result;

/// Every column of `passkeys`, in the order of [`StoredPasskey`].
macro_rules! passkey_columns {
    () => {
        "id, user_id, credential_id, user_handle, passkey, name, created_at, last_used_at"
    };
}

/// Longest stored ceremony hash, in characters (a hex SHA-256 is 64).
const MAX_HASH_CHARS: usize = 128;
/// Longest credential id looked up, in characters of base64url (WebAuthn caps credential
/// ids at 1023 bytes).
pub const MAX_CREDENTIAL_ID_CHARS: usize = 1400;

/// A stored passkey.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredPasskey {
    /// Primary key: the id the API names the passkey by.
    pub id: i64,
    /// Its owner.
    pub user_id: i64,
    /// The authenticator's credential id, base64url; unique across every user.
    pub credential_id: String,
    /// The WebAuthn user handle it was registered under (a UUID's text).
    pub user_handle: String,
    /// The credential as the WebAuthn library serialises it (JSON).
    pub passkey: String,
    /// The owner's label.
    pub name: String,
    /// When it was registered.
    pub created_at: Timestamp,
    /// When it last signed a login in, if ever.
    pub last_used_at: Option<Timestamp>,
}

/// Data for [`Store::insert_passkey`].
#[derive(Debug, Clone)]
pub struct NewPasskey<'a> {
    /// The owner.
    pub user_id: i64,
    /// The credential id, base64url.
    pub credential_id: &'a str,
    /// The WebAuthn user handle.
    pub user_handle: &'a str,
    /// The serialised credential.
    pub passkey: &'a str,
    /// The owner's label.
    pub name: &'a str,
    /// Registration time.
    pub created_at: Timestamp,
}

/// What [`Store::insert_passkey`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasskeyInsert {
    /// Stored.
    Stored(StoredPasskey),
    /// The owner already holds the most passkeys allowed.
    TooMany,
    /// The credential id is registered already (to this user or another).
    Duplicate,
}

/// A WebAuthn ceremony waiting for its finish, as [`Store::take_webauthn_ceremony`] hands it
/// back.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebauthnCeremony {
    /// The user it was begun for; none for a discoverable login.
    pub user_id: Option<i64>,
    /// What it is (`register`, `login`, `mfa` …), as the caller named it.
    pub kind: String,
    /// The server half of the ceremony, as the caller serialised it.
    pub state: String,
    /// When it was begun.
    pub created_at: Timestamp,
}

/// Data for [`Store::insert_webauthn_ceremony`].
#[derive(Debug, Clone)]
pub struct NewWebauthnCeremony<'a> {
    /// The SHA-256 of the ceremony id (hex).
    pub hash: &'a str,
    /// The user it is for, if known.
    pub user_id: Option<i64>,
    /// What it is.
    pub kind: &'a str,
    /// The serialised server half.
    pub state: &'a str,
    /// When it was begun.
    pub created_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
}

impl Store {
    /// Stores a passkey unless its owner already holds `max_per_user` of them or its
    /// credential id is registered already. The count and the insert run in one write
    /// transaction, the user's row locked on PostgreSQL, so concurrent registrations cannot
    /// exceed the bound.
    ///
    /// # Errors
    /// The database error (a user deleted meanwhile: the foreign key).
    pub async fn insert_passkey(
        &self,
        new: &NewPasskey<'_>,
        max_per_user: u32,
    ) -> Result<PasskeyInsert> {
        db!(write self, Retry::NotApplied, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            if engine == crate::Engine::Postgres {
                sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                    .bind(new.user_id)
                    .execute(&mut *tx)
                    .await?;
            }
            let (held,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
                .bind(new.user_id)
                .fetch_one(&mut *tx)
                .await?;
            if held >= i64::from(max_per_user) {
                return Ok::<_, sqlx::Error>(PasskeyInsert::TooMany);
            }
            let row = sqlx::query_as::<_, StoredPasskey>(concat!(
                "INSERT INTO passkeys (user_id, credential_id, user_handle, passkey, name, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (credential_id) DO NOTHING RETURNING ",
                passkey_columns!()
            ))
            .bind(new.user_id)
            .bind(new.credential_id)
            .bind(new.user_handle)
            .bind(new.passkey)
            .bind(new.name)
            .bind(new.created_at)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Ok(PasskeyInsert::Duplicate);
            };
            tx.commit().await?;
            Ok(PasskeyInsert::Stored(row))
        }
        .await)
    }

    /// The passkeys of `user_id`, oldest first.
    ///
    /// # Errors
    /// The database error.
    pub async fn passkeys_of(&self, user_id: i64) -> Result<Vec<StoredPasskey>> {
        fetch!(
            self,
            fetch_all,
            StoredPasskey,
            concat!(
                "SELECT ",
                passkey_columns!(),
                " FROM passkeys WHERE user_id = $1 ORDER BY id"
            ),
            user_id
        )
    }

    /// How many passkeys `user_id` holds.
    ///
    /// # Errors
    /// The database error.
    pub async fn passkey_count(&self, user_id: i64) -> Result<u64> {
        let (count,): (i64,) = fetch!(
            self,
            fetch_one,
            (i64,),
            "SELECT COUNT(*) FROM passkeys WHERE user_id = $1",
            user_id
        )?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// The passkey whose credential id is `credential_id`, whoever holds it.
    ///
    /// # Errors
    /// The database error.
    pub async fn passkey_by_credential_id(
        &self,
        credential_id: &str,
    ) -> Result<Option<StoredPasskey>> {
        if credential_id.len() > MAX_CREDENTIAL_ID_CHARS {
            return Ok(None);
        }
        fetch!(
            self,
            fetch_optional,
            StoredPasskey,
            concat!(
                "SELECT ",
                passkey_columns!(),
                " FROM passkeys WHERE credential_id = $1"
            ),
            credential_id
        )
    }

    /// Renames passkey `id` of `user_id`; `None` when that user holds no such passkey.
    ///
    /// # Errors
    /// The database error.
    pub async fn rename_passkey(
        &self,
        id: i64,
        user_id: i64,
        name: &str,
    ) -> Result<Option<StoredPasskey>> {
        fetch!(
            write self,
            fetch_optional,
            StoredPasskey,
            concat!(
                "UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2 RETURNING ",
                passkey_columns!()
            ),
            id,
            user_id,
            name
        )
    }

    /// Stores passkey `id`'s credential after a use — its counter and backup state, when
    /// `passkey` is given, only if the stored credential is still `read` (the one the use
    /// was verified against: of concurrent uses, a later write never puts back an older
    /// counter) — and its last use at `now`.
    ///
    /// # Errors
    /// The database error.
    pub async fn record_passkey_use(
        &self,
        id: i64,
        read: &str,
        passkey: Option<&str>,
        now: Timestamp,
    ) -> Result<()> {
        changed_rows!(
            self,
            "UPDATE passkeys SET passkey = CASE WHEN passkey = $2 THEN COALESCE($3, passkey) \
             ELSE passkey END, last_used_at = $4 WHERE id = $1",
            id,
            read,
            passkey,
            now
        )
        .map(drop)
    }

    /// How many passkeys are stored, of every user.
    ///
    /// # Errors
    /// The database error.
    pub async fn passkey_total(&self) -> Result<u64> {
        let (count,): (i64,) = fetch!(self, fetch_one, (i64,), "SELECT COUNT(*) FROM passkeys")?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// Stores a ceremony unless `new.user_id` already has `max_per_user` unexpired ones,
    /// or — a ceremony of no user (a discoverable sign-in) — there are `max_anonymous`
    /// unexpired ceremonies of no user (`false` then). A user's ceremonies count only
    /// against that user: anonymous begins cannot use up the room of a registration or of a
    /// second factor. The count and the insert run in one write transaction; on PostgreSQL
    /// the user's row is locked, or for a ceremony of no user an advisory lock taken (a
    /// finish's `DELETE` waits for neither).
    ///
    /// # Errors
    /// The database error.
    pub async fn insert_webauthn_ceremony(
        &self,
        new: &NewWebauthnCeremony<'_>,
        max_per_user: u32,
        max_anonymous: u32,
    ) -> Result<bool> {
        db!(write self, Retry::NotApplied, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            let postgres = engine == crate::Engine::Postgres;
            let (held,): (i64,) = match new.user_id {
                Some(user_id) => {
                    if postgres {
                        sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                            .bind(user_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    sqlx::query_as(
                        "SELECT COUNT(*) FROM webauthn_ceremonies WHERE user_id = $1 \
                         AND expires_at > $2",
                    )
                    .bind(user_id)
                    .bind(new.created_at)
                    .fetch_one(&mut *tx)
                    .await?
                }
                None => {
                    if postgres {
                        sqlx::query(
                            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                        )
                        .bind("tessera.webauthn_ceremonies.anonymous")
                        .execute(&mut *tx)
                        .await?;
                    }
                    sqlx::query_as(
                        "SELECT COUNT(*) FROM webauthn_ceremonies WHERE user_id IS NULL \
                         AND expires_at > $1",
                    )
                    .bind(new.created_at)
                    .fetch_one(&mut *tx)
                    .await?
                }
            };
            let most = if new.user_id.is_some() {
                max_per_user
            } else {
                max_anonymous
            };
            if held >= i64::from(most) {
                return Ok::<_, sqlx::Error>(false);
            }
            sqlx::query(
                "INSERT INTO webauthn_ceremonies (hash, user_id, kind, state, created_at, \
                 expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(new.hash)
            .bind(new.user_id)
            .bind(new.kind)
            .bind(new.state)
            .bind(new.created_at)
            .bind(new.expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
        }
        .await)
    }

    /// Consumes the ceremony whose hash is `hash` if it has not expired at `now`, in one
    /// conditional `DELETE … RETURNING`: `Some` for the single winner, `None` for an
    /// unknown, used or expired one.
    ///
    /// # Errors
    /// The database error. A retry after a lost connection may find the row already
    /// deleted by the first run and answer `None`: a ceremony never finishes twice.
    pub async fn take_webauthn_ceremony(
        &self,
        hash: &str,
        now: Timestamp,
    ) -> Result<Option<WebauthnCeremony>> {
        if hash.len() > MAX_HASH_CHARS {
            return Ok(None);
        }
        fetch!(
            write self,
            fetch_optional,
            WebauthnCeremony,
            "DELETE FROM webauthn_ceremonies WHERE hash = $1 AND expires_at > $2 \
             RETURNING user_id, kind, state, created_at",
            hash,
            now
        )
    }

    /// Deletes the ceremonies that expired at or before `before`; returns how many went.
    ///
    /// # Errors
    /// The database error.
    pub async fn flush_expired_webauthn_ceremonies(&self, before: Timestamp) -> Result<u64> {
        changed_rows!(
            self,
            "DELETE FROM webauthn_ceremonies WHERE expires_at <= $1",
            before
        )
    }
}
