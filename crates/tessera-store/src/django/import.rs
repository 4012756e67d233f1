//! The import's write transaction: every row of one `tessera import django` run is
//! written in it, then it is committed — or rolled back, for a dry run, which so sees
//! exactly what a real run would do.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Postgres, Sqlite};
use tessera_core::Timestamp;

use super::ForeignToken;
use super::foreign::{BLACKLIST_FOREIGN, BLACKLIST_USER_FOREIGN, REVOKE_ADOPTED_SESSION};
use crate::engine::Pool;
use crate::error::{Result, StoreError};
use crate::sessions::REVOKE_USER_SESSIONS;
use crate::users::USER_BY_ID;
use crate::{Engine, RevokeReason, Store, User};

/// What an earlier import recorded of a user (`imported_users`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ImportRecord {
    /// Digest of the Django row's fields other than the password, as last imported.
    pub row_digest: String,
    /// Digest (SHA-256, hex) of the Django `password` value last imported — which is the
    /// hash the import wrote, when it wrote one: a re-import replaces the password only
    /// while Tessera's hash still has this digest.
    pub password_digest: String,
    /// Whether the user was an account Tessera already had, linked to the Django row by
    /// `--merge-existing`: its staff and superuser flags stay Tessera's.
    pub merged: bool,
}

/// A user as an import writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedUser {
    /// The Django id, kept.
    pub id: i64,
    /// The e-mail address, normalized (`""` for none).
    pub email: String,
    /// The username, if any.
    pub username: Option<String>,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Django's password value, verbatim.
    pub password_hash: String,
    /// Active flag.
    pub is_active: bool,
    /// Staff flag.
    pub is_staff: bool,
    /// Superuser flag.
    pub is_superuser: bool,
    /// When the account was created.
    pub date_joined: Timestamp,
    /// Last login.
    pub last_login: Option<Timestamp>,
}

#[derive(Debug)]
enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// One import's transaction (see the module documentation). Dropped without
/// [`commit`](Self::commit), it is rolled back.
#[derive(Debug)]
pub struct DjangoImport {
    tx: Tx,
    /// The store's [`Store::local_changes`], counted when the import commits.
    local_changes: Arc<AtomicU64>,
}

/// Runs `$body` with `$conn` bound to the transaction's connection, whichever the engine.
macro_rules! on_tx {
    ($self:ident, |$conn:ident| $body:expr) => {
        match &mut $self.tx {
            Tx::Sqlite(tx) => {
                let $conn = &mut **tx;
                $body.map_err(StoreError::from)
            }
            Tx::Postgres(tx) => {
                let $conn = &mut **tx;
                $body.map_err(StoreError::from)
            }
        }
    };
}

impl Store {
    /// Opens an import's write transaction (on SQLite it holds the write lock until it
    /// ends: other writers wait).
    ///
    /// # Errors
    /// The database error.
    pub async fn begin_django_import(&self) -> Result<DjangoImport> {
        let begin = self.engine().begin_write();
        let tx = match self.writer() {
            Pool::Sqlite(pool) => Tx::Sqlite(pool.begin_with(begin).await?),
            Pool::Postgres(pool) => Tx::Postgres(pool.begin_with(begin).await?),
        };
        Ok(DjangoImport {
            tx,
            local_changes: Arc::clone(&self.local_changes),
        })
    }
}

impl DjangoImport {
    /// The engine.
    pub fn engine(&self) -> Engine {
        match self.tx {
            Tx::Sqlite(_) => Engine::Sqlite,
            Tx::Postgres(_) => Engine::Postgres,
        }
    }

    /// The Tessera user with this id.
    ///
    /// # Errors
    /// The database error.
    pub async fn user(&mut self, id: i64) -> Result<Option<User>> {
        on_tx!(self, |conn| sqlx::query_as::<_, User>(USER_BY_ID)
            .bind(id)
            .fetch_optional(conn)
            .await)
    }

    /// What an earlier import recorded of user `id`.
    ///
    /// # Errors
    /// The database error.
    pub async fn record(&mut self, id: i64) -> Result<Option<ImportRecord>> {
        let sql =
            "SELECT row_digest, password_digest, merged FROM imported_users WHERE user_id = $1";
        on_tx!(self, |conn| sqlx::query_as::<_, ImportRecord>(sql)
            .bind(id)
            .fetch_optional(conn)
            .await)
    }

    /// Whether the audit log names user `id` — which, for an id no user has, means Tessera
    /// had such a user and deleted it (events outlive users): an import must not give the
    /// id to someone else.
    ///
    /// # Errors
    /// The database error.
    pub async fn user_id_was_used(&mut self, id: i64) -> Result<bool> {
        let sql = "SELECT EXISTS (SELECT 1 FROM audit_events WHERE user_id = $1)";
        on_tx!(self, |conn| sqlx::query_scalar::<_, bool>(sql)
            .bind(id)
            .fetch_one(conn)
            .await)
    }

    /// The id of the user holding this (normalized, non-empty) e-mail address.
    ///
    /// # Errors
    /// The database error.
    pub async fn email_owner(&mut self, email: &str) -> Result<Option<i64>> {
        let sql = "SELECT id FROM users WHERE email = $1 AND email <> ''";
        on_tx!(self, |conn| sqlx::query_scalar::<_, i64>(sql)
            .bind(email)
            .fetch_optional(conn)
            .await)
    }

    /// The id of the user holding this username.
    ///
    /// # Errors
    /// The database error.
    pub async fn username_owner(&mut self, username: &str) -> Result<Option<i64>> {
        let sql = "SELECT id FROM users WHERE username = $1";
        on_tx!(self, |conn| sqlx::query_scalar::<_, i64>(sql)
            .bind(username)
            .fetch_optional(conn)
            .await)
    }

    /// Inserts the user with its own id.
    ///
    /// # Errors
    /// The database error (a unique violation included: check owners first).
    pub async fn insert_user(&mut self, user: &ImportedUser) -> Result<()> {
        let sql = "INSERT INTO users (id, email, username, first_name, last_name, password_hash, \
                   is_active, is_staff, is_superuser, date_joined, last_login) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
        on_tx!(self, |conn| sqlx::query(sql)
            .bind(user.id)
            .bind(&user.email)
            .bind(user.username.as_deref())
            .bind(&user.first_name)
            .bind(&user.last_name)
            .bind(&user.password_hash)
            .bind(user.is_active)
            .bind(user.is_staff)
            .bind(user.is_superuser)
            .bind(user.date_joined)
            .bind(user.last_login)
            .execute(conn)
            .await
            .map(drop))
    }

    /// Writes the user's fields but the password (see [`replace_password`](Self::replace_password)).
    ///
    /// # Errors
    /// The database error.
    pub async fn update_user(&mut self, user: &ImportedUser) -> Result<()> {
        let sql = "UPDATE users SET email = $2, username = $3, first_name = $4, last_name = $5, \
                   is_active = $6, is_staff = $7, is_superuser = $8, date_joined = $9, \
                   last_login = $10 WHERE id = $1";
        on_tx!(self, |conn| sqlx::query(sql)
            .bind(user.id)
            .bind(&user.email)
            .bind(user.username.as_deref())
            .bind(&user.first_name)
            .bind(&user.last_name)
            .bind(user.is_active)
            .bind(user.is_staff)
            .bind(user.is_superuser)
            .bind(user.date_joined)
            .bind(user.last_login)
            .execute(conn)
            .await
            .map(drop))
    }

    /// Replaces user `id`'s password hash `current` by `hash` — only while it is still
    /// `current` (compare-and-set) — records `now` as the password-change time, and ends
    /// every session and imported token of the user ([`end_sessions`](Self::end_sessions)).
    /// `false` when the stored hash was another: nothing is written then.
    ///
    /// # Errors
    /// The database error.
    pub async fn replace_password(
        &mut self,
        id: i64,
        current: &str,
        hash: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let sql = "UPDATE users SET password_hash = $3, password_changed_at = $4 \
                   WHERE id = $1 AND password_hash = $2";
        let replaced = on_tx!(self, |conn| sqlx::query(sql)
            .bind(id)
            .bind(current)
            .bind(hash)
            .bind(now)
            .execute(conn)
            .await
            .map(|done| done.rows_affected() > 0))?;
        if replaced {
            self.end_sessions(id, RevokeReason::PasswordChanged, now)
                .await?;
        }
        Ok(replaced)
    }

    /// Revokes every session of user `id` with `reason` and blacklists every token of
    /// theirs imported from Django. Returns the sessions revoked.
    ///
    /// # Errors
    /// The database error.
    pub async fn end_sessions(
        &mut self,
        id: i64,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<u64> {
        let revoked = on_tx!(self, |conn| sqlx::query(REVOKE_USER_SESSIONS)
            .bind(id)
            .bind(now)
            .bind(reason.as_str())
            .execute(conn)
            .await
            .map(|done| done.rows_affected()))?;
        on_tx!(self, |conn| sqlx::query(BLACKLIST_USER_FOREIGN)
            .bind(id)
            .bind(now)
            .execute(conn)
            .await
            .map(drop))?;
        Ok(revoked)
    }

    /// Records (or replaces) what was imported of user `id`.
    ///
    /// # Errors
    /// The database error.
    pub async fn save_record(
        &mut self,
        id: i64,
        record: &ImportRecord,
        now: Timestamp,
    ) -> Result<()> {
        let sql = "INSERT INTO imported_users (user_id, row_digest, password_digest, merged, \
                   imported_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
                   ON CONFLICT (user_id) DO UPDATE SET row_digest = excluded.row_digest, \
                   password_digest = excluded.password_digest, merged = excluded.merged, \
                   updated_at = excluded.updated_at";
        on_tx!(self, |conn| sqlx::query(sql)
            .bind(id)
            .bind(&record.row_digest)
            .bind(&record.password_digest)
            .bind(record.merged)
            .bind(now)
            .execute(conn)
            .await
            .map(drop))
    }

    /// The imported simplejwt token with this `jti`.
    ///
    /// # Errors
    /// The database error.
    pub async fn foreign_token(&mut self, jti: &str) -> Result<Option<ForeignToken>> {
        on_tx!(self, |conn| sqlx::query_as::<_, ForeignToken>(
            super::foreign::SELECT_FOREIGN
        )
        .bind(jti)
        .fetch_optional(conn)
        .await)
    }

    /// Records a simplejwt refresh token (its `jti`, never the token).
    ///
    /// # Errors
    /// The database error.
    pub async fn insert_foreign_token(
        &mut self,
        jti: &str,
        user_id: i64,
        expires_at: Timestamp,
        blacklisted_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<()> {
        let sql = "INSERT INTO foreign_refresh_tokens (jti, user_id, expires_at, blacklisted_at, imported_at) \
                   VALUES ($1, $2, $3, $4, $5)";
        on_tx!(self, |conn| sqlx::query(sql)
            .bind(jti)
            .bind(user_id)
            .bind(expires_at)
            .bind(blacklisted_at)
            .bind(now)
            .execute(conn)
            .await
            .map(drop))
    }

    /// Marks imported token `jti` of `user_id` blacklisted (when it is not yet) and
    /// revokes the session adopted from it, if any — a token blacklisted in Django after
    /// the cut-over adopted it. Returns whether a session was revoked.
    ///
    /// # Errors
    /// The database error.
    pub async fn blacklist_foreign_token(
        &mut self,
        jti: &str,
        user_id: i64,
        now: Timestamp,
    ) -> Result<bool> {
        let row = on_tx!(self, |conn| sqlx::query_as::<_, ForeignToken>(
            BLACKLIST_FOREIGN
        )
        .bind(jti)
        .bind(user_id)
        .bind(now)
        .fetch_optional(conn)
        .await)?;
        let Some(sid) = row.and_then(|row| row.session_id) else {
            return Ok(false);
        };
        on_tx!(self, |conn| sqlx::query(REVOKE_ADOPTED_SESSION)
            .bind(&sid)
            .bind(now)
            .bind(RevokeReason::Blacklisted.as_str())
            .execute(conn)
            .await
            .map(|done| done.rows_affected() > 0))
    }

    /// The id and permissions (sorted) of the Tessera group named `name`.
    ///
    /// # Errors
    /// The database error.
    pub async fn group_by_name(&mut self, name: &str) -> Result<Option<(i64, Vec<String>)>> {
        let id = on_tx!(self, |conn| sqlx::query_scalar::<_, i64>(
            "SELECT id FROM groups WHERE name = $1"
        )
        .bind(name)
        .fetch_optional(conn)
        .await)?;
        let Some(id) = id else {
            return Ok(None);
        };
        let permissions = on_tx!(self, |conn| sqlx::query_scalar::<_, String>(
            "SELECT permission FROM group_permissions WHERE group_id = $1 ORDER BY permission"
        )
        .bind(id)
        .fetch_all(conn)
        .await)?;
        Ok(Some((id, permissions)))
    }

    /// Creates the group `name` (no other has it: look first) and returns its id.
    ///
    /// # Errors
    /// The database error.
    pub async fn insert_group(&mut self, name: &str) -> Result<i64> {
        on_tx!(self, |conn| sqlx::query_scalar::<_, i64>(
            "INSERT INTO groups (name) VALUES ($1) RETURNING id"
        )
        .bind(name)
        .fetch_one(conn)
        .await)
    }

    /// Replaces group `id`'s permissions by `permissions`.
    ///
    /// # Errors
    /// The database error.
    pub async fn set_group_permissions(&mut self, id: i64, permissions: &[String]) -> Result<()> {
        on_tx!(self, |conn| sqlx::query(
            "DELETE FROM group_permissions WHERE group_id = $1"
        )
        .bind(id)
        .execute(conn)
        .await
        .map(drop))?;
        for permission in permissions {
            on_tx!(self, |conn| sqlx::query(
                "INSERT INTO group_permissions (group_id, permission) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING"
            )
            .bind(id)
            .bind(permission)
            .execute(conn)
            .await
            .map(drop))?;
        }
        Ok(())
    }

    /// Puts user `user_id` in group `group_id`; `false` when they were in it already.
    ///
    /// # Errors
    /// The database error.
    pub async fn add_user_group(&mut self, user_id: i64, group_id: i64) -> Result<bool> {
        on_tx!(self, |conn| sqlx::query(
            "INSERT INTO user_groups (user_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        )
        .bind(user_id)
        .bind(group_id)
        .execute(conn)
        .await
        .map(|done| done.rows_affected() > 0))
    }

    /// Grants user `user_id` `permission`; `false` when they held it already.
    ///
    /// # Errors
    /// The database error.
    pub async fn add_user_permission(&mut self, user_id: i64, permission: &str) -> Result<bool> {
        on_tx!(self, |conn| sqlx::query(
            "INSERT INTO user_permissions (user_id, permission) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING"
        )
        .bind(user_id)
        .bind(permission)
        .execute(conn)
        .await
        .map(|done| done.rows_affected() > 0))
    }

    /// Commits. On PostgreSQL the users' identity sequence is first moved past the highest
    /// id, so that the next registration gets a fresh one (SQLite's `AUTOINCREMENT` follows
    /// explicit ids by itself).
    ///
    /// # Errors
    /// The database error; nothing is written then.
    pub async fn commit(mut self) -> Result<()> {
        if let Tx::Postgres(tx) = &mut self.tx {
            sqlx::query(
                "SELECT setval(s, GREATEST(COALESCE((SELECT MAX(id) FROM users), 1), \
                 COALESCE(pg_sequence_last_value(s), 1))) \
                 FROM (SELECT CAST(pg_get_serial_sequence('users', 'id') AS regclass) AS s) q",
            )
            .execute(&mut **tx)
            .await?;
        }
        let committed = match self.tx {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        };
        // Users and sessions written: counted once the commit has run, as every store
        // write that may log a change is.
        self.local_changes.fetch_add(1, Ordering::AcqRel);
        committed?;
        Ok(())
    }

    /// Rolls back: nothing of the import is written.
    ///
    /// # Errors
    /// The database error.
    pub async fn rollback(self) -> Result<()> {
        match self.tx {
            Tx::Sqlite(tx) => tx.rollback().await?,
            Tx::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}
