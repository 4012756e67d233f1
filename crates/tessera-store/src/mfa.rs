//! Multi-factor authentication: one TOTP device per user (its secret in the sealed form the
//! service hands over), its single-use recovery codes (hashes only), and the pending second
//! steps of logins (challenges, by the hash of their token).
//!
//! Every acceptance is one conditional statement, so that concurrent requests on any number
//! of servers cannot both win: a TOTP time step is accepted by an `UPDATE` that requires it to
//! be later than the last accepted one, a recovery code is used by an `UPDATE` that requires
//! it unused, and a challenge is consumed by a `DELETE … RETURNING`. Each wrong guess on a
//! challenge is counted by a conditional `UPDATE` before the guess is compared, so no more
//! than the allowed number is ever compared, however many arrive at once.

use tessera_core::Timestamp;

use crate::Store;
use crate::engine::Retry;
use crate::error::Result;

/// Longest challenge or recovery-code hash looked up, in characters (a hex SHA-256 is 64).
const MAX_HASH_CHARS: usize = 128;

/// The columns of `mfa_challenges`, in [`MfaChallengeRow`]'s order.
macro_rules! challenge_columns {
    () => {
        "token_hash, user_id, route, purpose, created_at, expires_at, attempts"
    };
}

/// A user's TOTP device.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TotpDevice {
    /// Its user.
    pub user_id: i64,
    /// The secret in its stored form (`aes256gcm:…` or `plain:…`): the service seals and
    /// opens it.
    pub secret: String,
    /// When the secret was made (set up).
    pub created_at: Timestamp,
    /// When a first code confirmed it; `None` while it is pending, and then it protects
    /// nothing.
    pub confirmed_at: Option<Timestamp>,
    /// The last accepted time step, if any.
    pub last_step: Option<i64>,
}

impl TotpDevice {
    /// Whether a code confirmed it: only then does it guard logins.
    pub fn is_confirmed(&self) -> bool {
        self.confirmed_at.is_some()
    }
}

/// A pending second step of a login, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MfaChallengeRow {
    /// The SHA-256 of its token, in hex.
    pub token_hash: String,
    /// The user whose first factor was checked.
    pub user_id: i64,
    /// The login route it came from (the service's name for it).
    pub route: String,
    /// What it allows (the service's name: a second factor, or setting one up).
    pub purpose: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it stops being accepted.
    pub expires_at: Timestamp,
    /// Guesses counted so far.
    pub attempts: i64,
}

/// A challenge to store with [`Store::insert_mfa_challenge`].
#[derive(Debug, Clone, Copy)]
pub struct NewMfaChallenge<'a> {
    /// The SHA-256 of its token, in hex.
    pub token_hash: &'a str,
    /// The user whose first factor was checked.
    pub user_id: i64,
    /// The login route it came from.
    pub route: &'a str,
    /// What it allows.
    pub purpose: &'a str,
    /// Now.
    pub now: Timestamp,
    /// When it stops being accepted.
    pub expires_at: Timestamp,
}

/// Deletes the user's recovery codes and inserts `code_hashes`, inside the transaction
/// `tx` (either engine's).
macro_rules! replace_codes {
    ($tx:ident, $user_id:expr, $now:expr, $code_hashes:expr) => {{
        sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
            .bind($user_id)
            .execute(&mut *$tx)
            .await?;
        for hash in $code_hashes {
            sqlx::query(
                "INSERT INTO mfa_recovery_codes (user_id, code_hash, created_at) \
                 VALUES ($1, $2, $3)",
            )
            .bind($user_id)
            .bind(hash.as_str())
            .bind($now)
            .execute(&mut *$tx)
            .await?;
        }
    }};
}

impl Store {
    /// The user's TOTP device, pending or confirmed.
    ///
    /// # Errors
    /// The database error.
    pub async fn totp_device(&self, user_id: i64) -> Result<Option<TotpDevice>> {
        fetch!(
            self,
            fetch_optional,
            TotpDevice,
            "SELECT user_id, secret, created_at, confirmed_at, last_step FROM mfa_totp \
             WHERE user_id = $1",
            user_id
        )
    }

    /// Stores `secret` as the user's pending TOTP device, replacing a pending one. `false`
    /// (nothing written) when the user's device is confirmed already.
    ///
    /// # Errors
    /// The database error (a user deleted meanwhile fails the foreign key).
    pub async fn put_pending_totp(
        &self,
        user_id: i64,
        secret: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let sql = "INSERT INTO mfa_totp (user_id, secret, created_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, \
                   created_at = excluded.created_at, last_step = NULL \
                   WHERE mfa_totp.confirmed_at IS NULL";
        Ok(changed_rows!(self, sql, user_id, secret, now)? > 0)
    }

    /// Confirms the user's pending device with the time step of its first code, and gives
    /// the user the recovery codes `code_hashes` (any earlier ones deleted), in one
    /// transaction. `false` (nothing written) when there is no pending device (none, or
    /// confirmed meanwhile).
    ///
    /// # Errors
    /// The database error.
    pub async fn confirm_totp(
        &self,
        user_id: i64,
        step: i64,
        now: Timestamp,
        code_hashes: &[String],
    ) -> Result<bool> {
        db!(write self, Retry::Idempotent, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            let confirmed = sqlx::query(
                "UPDATE mfa_totp SET confirmed_at = $2, last_step = $3 \
                 WHERE user_id = $1 AND confirmed_at IS NULL",
            )
            .bind(user_id)
            .bind(now)
            .bind(step)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if confirmed == 0 {
                return Ok::<_, sqlx::Error>(false);
            }
            replace_codes!(tx, user_id, now, code_hashes);
            tx.commit().await?;
            Ok(true)
        }
        .await)
    }

    /// Accepts the time step `step` of the user's confirmed device if it is later than the
    /// last accepted one, in one conditional `UPDATE`: `true` for the single winner; `false`
    /// for a step already used (or an earlier one), or no confirmed device.
    ///
    /// # Errors
    /// The database error. A retry after a lost connection may find the step already
    /// recorded by the first run and answer `false`: a step is never accepted twice.
    pub async fn accept_totp_step(&self, user_id: i64, step: i64) -> Result<bool> {
        let sql = "UPDATE mfa_totp SET last_step = $2 WHERE user_id = $1 \
                   AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < $2)";
        Ok(changed_rows!(self, sql, user_id, step)? > 0)
    }

    /// Replaces the user's recovery codes with `code_hashes`, if the user has a confirmed
    /// device (`false` otherwise, nothing written), in one transaction.
    ///
    /// # Errors
    /// The database error.
    pub async fn replace_recovery_codes(
        &self,
        user_id: i64,
        now: Timestamp,
        code_hashes: &[String],
    ) -> Result<bool> {
        db!(write self, Retry::Idempotent, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            let device: Option<(i64,)> = sqlx::query_as(engine.pick(
                "SELECT user_id FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL",
                "SELECT user_id FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL \
                 FOR UPDATE",
            ))
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
            if device.is_none() {
                return Ok::<_, sqlx::Error>(false);
            }
            replace_codes!(tx, user_id, now, code_hashes);
            tx.commit().await?;
            Ok(true)
        }
        .await)
    }

    /// Uses the user's unused recovery code whose hash is `code_hash`, in one conditional
    /// `UPDATE`: `true` for the single winner.
    ///
    /// # Errors
    /// The database error. A retry after a lost connection may find the code already used
    /// by the first run and answer `false`: a code is never accepted twice.
    pub async fn use_recovery_code(
        &self,
        user_id: i64,
        code_hash: &str,
        now: Timestamp,
    ) -> Result<bool> {
        if code_hash.len() > MAX_HASH_CHARS {
            return Ok(false);
        }
        let sql = "UPDATE mfa_recovery_codes SET used_at = $3 \
                   WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL";
        Ok(changed_rows!(self, sql, user_id, code_hash, now)? > 0)
    }

    /// How many of the user's recovery codes are unused.
    ///
    /// # Errors
    /// The database error.
    pub async fn recovery_codes_left(&self, user_id: i64) -> Result<i64> {
        let (left,): (i64,) = fetch!(
            self,
            fetch_one,
            (i64,),
            "SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
            user_id
        )?;
        Ok(left)
    }

    /// Deletes the user's TOTP device (pending or confirmed), recovery codes and pending
    /// challenges, in one transaction. `true` when a confirmed device went.
    ///
    /// # Errors
    /// The database error.
    pub async fn delete_mfa(&self, user_id: i64) -> Result<bool> {
        db!(write self, Retry::Idempotent, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            let confirmed = sqlx::query(
                "DELETE FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL",
            )
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            for sql in [
                "DELETE FROM mfa_totp WHERE user_id = $1",
                "DELETE FROM mfa_recovery_codes WHERE user_id = $1",
                "DELETE FROM mfa_challenges WHERE user_id = $1",
            ] {
                sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(confirmed > 0)
        }
        .await)
    }

    /// Deletes every second factor of the user — TOTP device (pending or confirmed),
    /// recovery codes, passkeys — with their pending challenges and WebAuthn ceremonies, in
    /// one transaction (a staff reset). Returns whether a confirmed device went and how many
    /// passkeys did.
    ///
    /// # Errors
    /// The database error.
    pub async fn delete_second_factors(&self, user_id: i64) -> Result<(bool, u64)> {
        db!(write self, Retry::Idempotent, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            let confirmed = sqlx::query(
                "DELETE FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL",
            )
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let passkeys = sqlx::query("DELETE FROM passkeys WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            for sql in [
                "DELETE FROM mfa_totp WHERE user_id = $1",
                "DELETE FROM mfa_recovery_codes WHERE user_id = $1",
                "DELETE FROM mfa_challenges WHERE user_id = $1",
                "DELETE FROM webauthn_ceremonies WHERE user_id = $1",
            ] {
                sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>((confirmed > 0, passkeys))
        }
        .await)
    }

    /// Deletes the user's pending challenges (their password changed: a login that checked
    /// the old one must not finish); returns how many went.
    ///
    /// # Errors
    /// The database error.
    pub async fn delete_mfa_challenges_of(&self, user_id: i64) -> Result<u64> {
        changed_rows!(
            self,
            "DELETE FROM mfa_challenges WHERE user_id = $1",
            user_id
        )
    }

    /// The users among `user_ids` who have a confirmed TOTP device.
    ///
    /// # Errors
    /// The database error.
    pub async fn users_with_totp(&self, user_ids: &[i64]) -> Result<Vec<i64>> {
        let mut found = Vec::new();
        // Small pages (a list page), one query each.
        for chunk in user_ids.chunks(100) {
            let list = chunk
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let sql = format!(
                "SELECT user_id FROM mfa_totp WHERE confirmed_at IS NOT NULL \
                 AND user_id IN ({list})"
            );
            let rows: Vec<(i64,)> = db!(self, Retry::Idempotent, |pool| {
                sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .fetch_all(pool)
                    .await
            })?;
            found.extend(rows.into_iter().map(|(id,)| id));
        }
        Ok(found)
    }

    /// The stored forms of every TOTP secret, with their users (to find unsealed ones).
    ///
    /// # Errors
    /// The database error.
    pub async fn totp_secrets(&self) -> Result<Vec<(i64, String)>> {
        fetch!(
            self,
            fetch_all,
            (i64, String),
            "SELECT user_id, secret FROM mfa_totp ORDER BY user_id"
        )
    }

    /// Replaces the stored form of the user's secret `from` with `to` (sealing a `plain:`
    /// one); `false` when it changed meanwhile.
    ///
    /// # Errors
    /// The database error.
    pub async fn reseal_totp_secret(&self, user_id: i64, from: &str, to: &str) -> Result<bool> {
        let sql = "UPDATE mfa_totp SET secret = $3 WHERE user_id = $1 AND secret = $2";
        Ok(changed_rows!(self, sql, user_id, from, to)? > 0)
    }

    /// Stores a challenge.
    ///
    /// # Errors
    /// The database error (a duplicate hash included, which a random 256-bit token never
    /// produces; a user deleted meanwhile fails the foreign key).
    pub async fn insert_mfa_challenge(&self, new: &NewMfaChallenge<'_>) -> Result<()> {
        db!(write self, Retry::NotApplied, |pool| {
            sqlx::query(
                "INSERT INTO mfa_challenges (token_hash, user_id, route, purpose, created_at, \
                 expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(new.token_hash)
            .bind(new.user_id)
            .bind(new.route)
            .bind(new.purpose)
            .bind(new.now)
            .bind(new.expires_at)
            .execute(pool)
            .await
            .map(drop)
        })
    }

    /// The unexpired challenge whose hash is `token_hash`, left in place.
    ///
    /// # Errors
    /// The database error.
    pub async fn find_mfa_challenge(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<MfaChallengeRow>> {
        if token_hash.len() > MAX_HASH_CHARS {
            return Ok(None);
        }
        let sql = concat!(
            "SELECT ",
            challenge_columns!(),
            " FROM mfa_challenges WHERE token_hash = $1 AND expires_at > $2"
        );
        fetch!(self, fetch_optional, MfaChallengeRow, sql, token_hash, now)
    }

    /// Counts one guess on the unexpired challenge whose hash is `token_hash`, unless it has
    /// had `max_attempts` already, and returns it with the guess counted; `None` when there
    /// is no such challenge or it has no guess left.
    ///
    /// # Errors
    /// The database error.
    pub async fn attempt_mfa_challenge(
        &self,
        token_hash: &str,
        now: Timestamp,
        max_attempts: i64,
    ) -> Result<Option<MfaChallengeRow>> {
        if token_hash.len() > MAX_HASH_CHARS {
            return Ok(None);
        }
        let sql = concat!(
            "UPDATE mfa_challenges SET attempts = attempts + 1 WHERE token_hash = $1 \
             AND expires_at > $2 AND attempts < $3 RETURNING ",
            challenge_columns!()
        );
        // Retried only when not applied: a second run would count the guess twice.
        db!(write self, Retry::NotApplied, |pool| {
            sqlx::query_as::<_, MfaChallengeRow>(sql)
                .bind(token_hash)
                .bind(now)
                .bind(max_attempts)
                .fetch_optional(pool)
                .await
        })
    }

    /// Consumes the unexpired challenge whose hash is `token_hash`, in one conditional
    /// `DELETE … RETURNING`: `Some` for the single winner.
    ///
    /// # Errors
    /// The database error. A retry after a lost connection may find the row already deleted
    /// by the first run and answer `None`: a challenge is never accepted twice.
    pub async fn consume_mfa_challenge(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<MfaChallengeRow>> {
        if token_hash.len() > MAX_HASH_CHARS {
            return Ok(None);
        }
        let sql = concat!(
            "DELETE FROM mfa_challenges WHERE token_hash = $1 AND expires_at > $2 RETURNING ",
            challenge_columns!()
        );
        fetch!(write self, fetch_optional, MfaChallengeRow, sql, token_hash, now)
    }

    /// Deletes the challenge whose hash is `token_hash` (its last guess failed).
    ///
    /// # Errors
    /// The database error.
    pub async fn delete_mfa_challenge(&self, token_hash: &str) -> Result<bool> {
        let sql = "DELETE FROM mfa_challenges WHERE token_hash = $1";
        Ok(changed_rows!(self, sql, token_hash)? > 0)
    }

    /// Deletes the challenges that expired at or before `before`; returns how many went.
    ///
    /// # Errors
    /// The database error.
    pub async fn flush_expired_mfa_challenges(&self, before: Timestamp) -> Result<u64> {
        changed_rows!(
            self,
            "DELETE FROM mfa_challenges WHERE expires_at <= $1",
            before
        )
    }
}
