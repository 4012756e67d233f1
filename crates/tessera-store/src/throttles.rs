//! Throttle counters and login lockouts kept in the database, so that every server sharing
//! it counts the same requests and failures (`throttle_storage = "database"`).
//!
//! A throttle keeps DRF's sliding-window log — the times of the requests it let through —
//! one row a request; each hit trims its key's rows to the window, counts them and, when
//! under the limit, adds one, all under a lock on that key (SQLite's write lock, a
//! PostgreSQL advisory lock), so concurrent servers never let more through than the rate.

use std::time::Duration;

use tessera_core::Timestamp;

use crate::Store;
use crate::engine::Retry;
use crate::error::Result;

/// What one throttle hit found in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleWindow {
    /// Whether the request was let through (and recorded).
    pub allowed: bool,
    /// Requests in the window before this one.
    pub count: u32,
    /// When the oldest of them came.
    pub oldest: Option<Timestamp>,
}

/// Rows of idle throttle keys deleted per statement by [`Store::prune_throttles`].
const PRUNE_BATCH: i64 = 10_000;

const PRUNE_HITS_SQLITE: &str = "DELETE FROM throttle_hits WHERE rowid IN \
     (SELECT rowid FROM throttle_hits WHERE at < $1 LIMIT $2)";
const PRUNE_HITS_POSTGRES: &str = "DELETE FROM throttle_hits WHERE ctid IN \
     (SELECT ctid FROM throttle_hits WHERE at < $1 LIMIT $2)";

impl Store {
    /// One request against the throttle `key` allowing `limit` requests per `window`
    /// (DRF's `allow_request`): requests at or before `now - window` leave the
    /// window; with fewer than `limit` left, this one is recorded at `now` and allowed.
    ///
    /// # Errors
    /// The database error.
    pub async fn throttle_hit(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
        now: Timestamp,
    ) -> Result<ThrottleWindow> {
        db!(write self, Retry::NotApplied, |pool, engine| {
            async {
                let mut tx = pool.begin_with(engine.begin_write()).await?;
                if engine == crate::Engine::Postgres {
                    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                        .bind(key)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("DELETE FROM throttle_hits WHERE key = $1 AND at <= $2")
                    .bind(key)
                    .bind(now - window)
                    .execute(&mut *tx)
                    .await?;
                let (count, oldest): (i64, Option<Timestamp>) =
                    sqlx::query_as("SELECT COUNT(*), MIN(at) FROM throttle_hits WHERE key = $1")
                        .bind(key)
                        .fetch_one(&mut *tx)
                        .await?;
                let allowed = count < i64::from(limit);
                if allowed {
                    sqlx::query("INSERT INTO throttle_hits (key, at) VALUES ($1, $2)")
                        .bind(key)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>(ThrottleWindow {
                    allowed,
                    count: u32::try_from(count).unwrap_or(u32::MAX),
                    oldest,
                })
            }
            .await
        })
    }

    /// Until when logins of `name` are locked, if a failure was recorded.
    ///
    /// # Errors
    /// The database error.
    pub async fn login_locked_until(&self, name: &str) -> Result<Option<Timestamp>> {
        db!(self, Retry::Idempotent, |pool| {
            sqlx::query_scalar("SELECT locked_until FROM login_failures WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await
        })
    }

    /// Counts one more failed login of `name`; returns the failures counted so far.
    ///
    /// # Errors
    /// The database error.
    pub async fn add_login_failure(&self, name: &str, now: Timestamp) -> Result<u32> {
        let failures: i32 = db!(write self, Retry::NotApplied, |pool| {
            sqlx::query_scalar(
                "INSERT INTO login_failures (name, failures, locked_until, updated_at) \
                 VALUES ($1, 1, 0, $2) \
                 ON CONFLICT (name) DO UPDATE SET failures = login_failures.failures + 1, \
                 updated_at = excluded.updated_at \
                 RETURNING failures",
            )
            .bind(name)
            .bind(now)
            .fetch_one(pool)
            .await
        })?;
        Ok(u32::try_from(failures).unwrap_or(0))
    }

    /// Counts one more failed login of `name` at `now`, starting the count afresh when the
    /// last failure and the end of the last lock both came at or before `forget_before`:
    /// failure counts decay. Returns the failures counted so far.
    ///
    /// # Errors
    /// The database error.
    pub async fn add_decaying_login_failure(
        &self,
        name: &str,
        now: Timestamp,
        forget_before: Timestamp,
    ) -> Result<u32> {
        let failures: i32 = db!(write self, Retry::NotApplied, |pool| {
            sqlx::query_scalar(
                "INSERT INTO login_failures (name, failures, locked_until, updated_at) \
                 VALUES ($1, 1, 0, $2) \
                 ON CONFLICT (name) DO UPDATE SET failures = CASE \
                 WHEN login_failures.updated_at <= $3 AND login_failures.locked_until <= $3 \
                 THEN 1 ELSE login_failures.failures + 1 END, \
                 updated_at = excluded.updated_at \
                 RETURNING failures",
            )
            .bind(name)
            .bind(now)
            .bind(forget_before)
            .fetch_one(pool)
            .await
        })?;
        Ok(u32::try_from(failures).unwrap_or(0))
    }

    /// Locks logins of `name` until `until`, unless a longer lock stands.
    ///
    /// # Errors
    /// The database error.
    pub async fn lock_login(&self, name: &str, until: Timestamp) -> Result<()> {
        changed_rows!(
            self,
            "UPDATE login_failures SET locked_until = \
             CASE WHEN locked_until > $2 THEN locked_until ELSE $2 END WHERE name = $1",
            name,
            until,
        )
        .map(drop)
    }

    /// Forgets the failures and lock of `name`.
    ///
    /// # Errors
    /// The database error.
    pub async fn clear_login_failures(&self, name: &str) -> Result<()> {
        changed_rows!(self, "DELETE FROM login_failures WHERE name = $1", name).map(drop)
    }

    /// Forgets the failures and locks of `name` and of every key made of `name`, the unit
    /// separator (U+001F) and more (`name\u{1f}client`): every client's count for a name.
    ///
    /// # Errors
    /// The database error.
    pub async fn clear_login_failures_under(&self, name: &str) -> Result<()> {
        let prefix = format!("{name}\u{1f}");
        changed_rows!(
            self,
            "DELETE FROM login_failures WHERE name = $1 OR substr(name, 1, length($2)) = $2",
            name,
            prefix.as_str(),
        )
        .map(drop)
    }

    /// Deletes throttle rows older than `hits_before` and failure counts of names neither
    /// locked at `now` nor failing since `failures_before`, in short batches.
    /// Returns the rows deleted.
    ///
    /// # Errors
    /// The database error; rows deleted by earlier batches stay deleted.
    pub async fn prune_throttles(
        &self,
        hits_before: Timestamp,
        failures_before: Timestamp,
        now: Timestamp,
    ) -> Result<u64> {
        let mut total = changed_rows!(
            self,
            "DELETE FROM login_failures WHERE updated_at < $1 AND locked_until <= $2",
            failures_before,
            now,
        )?;
        loop {
            let deleted = db!(write self, Retry::Idempotent, |pool, engine| {
                sqlx::query(engine.pick(PRUNE_HITS_SQLITE, PRUNE_HITS_POSTGRES))
                    .bind(hits_before)
                    .bind(PRUNE_BATCH)
                    .execute(pool)
                    .await
                    .map(|done| done.rows_affected())
            })?;
            total += deleted;
            if deleted < PRUNE_BATCH as u64 {
                break;
            }
            tokio::task::yield_now().await;
        }
        Ok(total)
    }
}
