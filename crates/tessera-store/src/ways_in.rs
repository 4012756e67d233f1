//! The ways into an account — a usable password, the linked social identities and, where
//! they sign in, the passkeys — and the removal of one of them that never takes the last.
//!
//! [`Store::remove_way_in`] counts and deletes in one write transaction that locks the
//! user's row (`FOR UPDATE` on PostgreSQL; SQLite serialises its writes), so a passkey
//! deleted and an identity unlinked at the same moment cannot both go when together they
//! are the last way in.

use crate::engine::Retry;
use crate::error::Result;
use crate::users::password_hash_is_usable as usable;
use crate::{SocialIdentity, Store, StoredPasskey};

/// A way in [`Store::remove_way_in`] removes, by its row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WayIn {
    /// A passkey (`passkeys.id`).
    Passkey(i64),
    /// A linked social identity (`social_identities.id`).
    SocialIdentity(i64),
}

/// What [`Store::remove_way_in`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WayInRemoval {
    /// The passkey was deleted.
    Passkey(StoredPasskey),
    /// The identity was unlinked.
    SocialIdentity(SocialIdentity),
    /// Nothing was removed: it is the account's last way in.
    LastWayIn,
    /// Nothing was removed: the user holds no such passkey or identity.
    NotFound,
}

impl Store {
    /// Removes `way` of `user_id` unless the account would be left with no way in. The
    /// ways counted are a usable password, the linked social identities and — when
    /// `passkeys_sign_in` (passkey login is on) — the passkeys; a passkey that only serves
    /// as a second factor is no way in, and its removal is never refused. Counted and
    /// removed in one write transaction, the user's row locked on PostgreSQL.
    ///
    /// # Errors
    /// The database error.
    pub async fn remove_way_in(
        &self,
        user_id: i64,
        way: WayIn,
        passkeys_sign_in: bool,
    ) -> Result<WayInRemoval> {
        db!(write self, Retry::NotApplied, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            let password: Option<(String,)> = sqlx::query_as(engine.pick(
                "SELECT password_hash FROM users WHERE id = $1",
                "SELECT password_hash FROM users WHERE id = $1 FOR UPDATE",
            ))
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((password,)) = password else {
                return Ok::<_, sqlx::Error>(WayInRemoval::NotFound);
            };
            let (exists_sql, counts_as_way_in) = match way {
                WayIn::Passkey(_) => (
                    "SELECT COUNT(*) FROM passkeys WHERE id = $1 AND user_id = $2",
                    passkeys_sign_in,
                ),
                WayIn::SocialIdentity(_) => (
                    "SELECT COUNT(*) FROM social_identities WHERE id = $1 AND user_id = $2",
                    true,
                ),
            };
            let id = match way {
                WayIn::Passkey(id) | WayIn::SocialIdentity(id) => id,
            };
            let (found,): (i64,) = sqlx::query_as(exists_sql)
                .bind(id)
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await?;
            if found == 0 {
                return Ok(WayInRemoval::NotFound);
            }
            if counts_as_way_in && !usable(&password) {
                let (identities,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM social_identities WHERE user_id = $1")
                        .bind(user_id)
                        .fetch_one(&mut *tx)
                        .await?;
                let passkeys = if passkeys_sign_in {
                    let (held,): (i64,) =
                        sqlx::query_as("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
                            .bind(user_id)
                            .fetch_one(&mut *tx)
                            .await?;
                    held
                } else {
                    0
                };
                // `way` is one of them: at least one other must stay.
                if identities + passkeys <= 1 {
                    return Ok(WayInRemoval::LastWayIn);
                }
            }
            let removed = match way {
                WayIn::Passkey(id) => sqlx::query_as::<_, StoredPasskey>(
                    "DELETE FROM passkeys WHERE id = $1 AND user_id = $2 RETURNING id, \
                     user_id, credential_id, user_handle, passkey, name, created_at, \
                     last_used_at",
                )
                .bind(id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?
                .map(WayInRemoval::Passkey),
                WayIn::SocialIdentity(id) => sqlx::query_as::<_, SocialIdentity>(
                    "DELETE FROM social_identities WHERE id = $1 AND user_id = $2 RETURNING \
                     id, user_id, provider, subject, email, created_at, last_login",
                )
                .bind(id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?
                .map(WayInRemoval::SocialIdentity),
            };
            tx.commit().await?;
            Ok(removed.unwrap_or(WayInRemoval::NotFound))
        }
        .await)
    }
}

#[cfg(test)]
mod tests {
    use super::usable;

    #[test]
    fn a_password_is_usable_as_a_user_says() {
        assert!(usable("argon2$hash"));
        assert!(!usable(""));
        assert!(!usable("!unusable"));
    }
}
