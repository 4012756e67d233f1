//! The change log: a numbered row for every change that may end what a token or a cached
//! user record vouches for — a user inserted, updated or deleted; a session revoked, or
//! deleted while live; an API key revoked, its expiry changed, or deleted.
//!
//! Database triggers write the rows (migration 0015), so every writer feeds the log: the
//! servers, the `tessera` CLI, an import, raw SQL. A server applies the log in `seq` order
//! ([`Store::changes_after`]), loads the recent past at start-up
//! ([`Store::recent_changes`]), and on PostgreSQL hears of each new row at once through
//! `LISTEN` ([`Store::change_listener`]): the triggers notify [`CHANGE_CHANNEL`] with the
//! row's `seq`, which PostgreSQL delivers when the writing transaction commits.
//!
//! On PostgreSQL `seq` comes from a sequence, taken when the row is written, not when it
//! commits: a transaction still open leaves a *hole* below the rows committed after it,
//! filled when it commits ([`Store::changes_with_seqs`] finds it then), never when it rolls
//! back. On SQLite, writers take turns and `seq` is never reused (`AUTOINCREMENT`): a
//! number missing below the newest row was pruned.
//!
//! Writes of this process are counted too ([`Store::local_changes`]), so that a server can
//! tell, without a query, that it must read the log before it answers.

use std::sync::atomic::Ordering;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};

use crate::Store;
use crate::engine::{Engine, Pool, Retry};
use crate::error::Result;

/// The PostgreSQL channel the change log's triggers notify, with the new row's `seq` (in
/// decimal) as payload.
pub const CHANGE_CHANNEL: &str = "tessera_changes";

/// The `application_name` of a [`ChangeListener`]'s connection (`pg_stat_activity` shows
/// it), distinct from the pool's `tessera`.
pub const CHANGE_LISTENER_APPLICATION_NAME: &str = "tessera-change-listener";

/// Most seqs bound in one statement of [`Store::changes_with_seqs`].
const MAX_SEQS_PER_QUERY: usize = 1000;

/// Every column of `change_log` but `at`, in [`Change`]'s order.
macro_rules! change_columns {
    () => {
        "seq, kind, user_id, session_id, reason, api_key_prefix"
    };
}

/// The database clock in microseconds since the Unix epoch, as the log's `at` default
/// counts it (SQLite: whole milliseconds).
macro_rules! now_micros {
    (sqlite) => {
        "CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER) * 1000"
    };
    (postgres) => {
        "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)"
    };
}

/// Rows after `$1`, oldest first, at most `$2` (the primary key).
const CHANGES_AFTER: &str = concat!(
    "SELECT ",
    change_columns!(),
    " FROM change_log WHERE seq > $1 ORDER BY seq LIMIT $2"
);

/// Rows logged at or after `$1` microseconds before the database's clock, oldest first,
/// at most `$2` (`change_log_at`).
const RECENT_SQLITE: &str = concat!(
    "SELECT ",
    change_columns!(),
    " FROM change_log WHERE at >= ",
    now_micros!(sqlite),
    " - $1 ORDER BY seq LIMIT $2"
);
/// [`RECENT_SQLITE`] for PostgreSQL.
const RECENT_POSTGRES: &str = concat!(
    "SELECT ",
    change_columns!(),
    " FROM change_log WHERE at >= ",
    now_micros!(postgres),
    " - $1 ORDER BY seq LIMIT $2"
);

/// The newest `seq`, 0 without rows.
const HEAD: &str = "SELECT COALESCE(MAX(seq), 0) FROM change_log";

/// The newest `seq` logged before the window of `$1` microseconds (0 when none).
const FLOOR_SQLITE: &str = concat!(
    "SELECT COALESCE(MAX(seq), 0) FROM change_log WHERE at < ",
    now_micros!(sqlite),
    " - $1"
);
/// [`FLOOR_SQLITE`] for PostgreSQL.
const FLOOR_POSTGRES: &str = concat!(
    "SELECT COALESCE(MAX(seq), 0) FROM change_log WHERE at < ",
    now_micros!(postgres),
    " - $1"
);

/// The oldest transaction still running and the next one to start, PostgreSQL's
/// `xmin` and `xmax` of a new snapshot.
const HORIZON: &str = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::BIGINT, \
     pg_snapshot_xmax(pg_current_snapshot())::text::BIGINT";

/// The changes of the window, as [`Store::recent_changes`] reads them in one snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecentChanges {
    /// The rows logged within the window, in ascending `seq` order.
    pub rows: Vec<Change>,
    /// The newest `seq` of all (see [`Store::change_log_head`]).
    pub head: i64,
    /// The newest `seq` logged before the window (0 when none): a number above it that is
    /// missing belongs to a write not committed yet, or rolled back.
    pub floor: i64,
}

/// Where PostgreSQL's transactions stand, from a new snapshot (see
/// [`Store::transaction_horizon`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionHorizon {
    /// Every transaction numbered below it has ended (committed or rolled back).
    pub xmin: i64,
    /// Every transaction that has started is numbered below it.
    pub xmax: i64,
}

/// The newest `seq` logged before `$1` microseconds ago by the database's clock, and the
/// newest `seq` of all.
const PRUNE_BOUNDS_SQLITE: &str = concat!(
    "SELECT (SELECT MAX(seq) FROM change_log WHERE at < ",
    now_micros!(sqlite),
    " - $1), (SELECT MAX(seq) FROM change_log)"
);
/// [`PRUNE_BOUNDS_SQLITE`] for PostgreSQL.
const PRUNE_BOUNDS_POSTGRES: &str = concat!(
    "SELECT (SELECT MAX(seq) FROM change_log WHERE at < ",
    now_micros!(postgres),
    " - $1), (SELECT MAX(seq) FROM change_log)"
);

/// One batch of pruning: the oldest `$2` rows numbered up to `$1`.
const PRUNE_BATCH: &str = "DELETE FROM change_log WHERE seq IN \
     (SELECT seq FROM change_log WHERE seq <= $1 ORDER BY seq LIMIT $2)";

/// What a [`Change`] is about. Stored as TEXT `'user'`, `'session'` or `'api_key'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeKind {
    /// A user was inserted, updated (any column) or deleted.
    User,
    /// A session was revoked, or deleted while not revoked (a user's deletion deletes
    /// theirs).
    Session,
    /// An API key was revoked, its expiry changed, or it was deleted.
    ApiKey,
}

impl ChangeKind {
    /// The stored text: `"user"`, `"session"` or `"api_key"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::User => "user",
            ChangeKind::Session => "session",
            ChangeKind::ApiKey => "api_key",
        }
    }
}

impl std::fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stored `kind` of a change log row is none this build knows.
#[derive(Debug, thiserror::Error)]
#[error("unknown change kind {0:?}")]
pub struct UnknownChangeKind(String);

impl TryFrom<String> for ChangeKind {
    type Error = UnknownChangeKind;

    fn try_from(value: String) -> std::result::Result<Self, Self::Error> {
        match value.as_str() {
            "user" => Ok(ChangeKind::User),
            "session" => Ok(ChangeKind::Session),
            "api_key" => Ok(ChangeKind::ApiKey),
            _ => Err(UnknownChangeKind(value)),
        }
    }
}

/// One row of the change log.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Change {
    /// Its number: the feed reads rows in this order (of the rows read at once, it applies
    /// those of users and API keys before those of sessions).
    pub seq: i64,
    /// What changed.
    #[sqlx(try_from = "String")]
    pub kind: ChangeKind,
    /// The user concerned: the user changed, the session's owner, or the key's user.
    pub user_id: i64,
    /// [`ChangeKind::Session`] only: the session's id.
    pub session_id: Option<String>,
    /// [`ChangeKind::Session`] only: the `revoked_reason` stored with the revocation (see
    /// [`RevokeReason`](crate::RevokeReason)), or `"deleted"` when a live session's row was
    /// deleted.
    pub reason: Option<String>,
    /// [`ChangeKind::ApiKey`] only: the key's prefix.
    pub api_key_prefix: Option<String>,
}

/// A duration in microseconds, bounded so that the database clock minus it stays within a
/// `BIGINT`.
fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros())
        .unwrap_or(i64::MAX)
        .min(1 << 62)
}

impl Store {
    /// The rows numbered above `after`, in ascending `seq` order, at most `limit` of them.
    ///
    /// On PostgreSQL a number may be missing because its transaction has not committed
    /// yet; see [`changes_with_seqs`](Self::changes_with_seqs).
    ///
    /// # Errors
    /// The database error.
    pub async fn changes_after(&self, after: i64, limit: i64) -> Result<Vec<Change>> {
        fetch!(self, fetch_all, Change, CHANGES_AFTER, after, limit)
    }

    /// The rows numbered `seqs` that exist now, in any order: the holes a reader left
    /// behind, checked again (those whose transaction has since committed are found).
    ///
    /// # Errors
    /// The database error.
    pub async fn changes_with_seqs(&self, seqs: &[i64]) -> Result<Vec<Change>> {
        let mut found = Vec::new();
        for chunk in seqs.chunks(MAX_SEQS_PER_QUERY) {
            // Placeholders only, numbered: the seqs are bound.
            let list = (1..=chunk.len())
                .map(|n| format!("${n}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                concat!(
                    "SELECT ",
                    change_columns!(),
                    " FROM change_log WHERE seq IN ({})"
                ),
                list
            );
            let rows = db!(self, Retry::Idempotent, |pool| {
                let mut query = sqlx::query_as::<_, Change>(sqlx::AssertSqlSafe(sql.as_str()));
                for seq in chunk {
                    query = query.bind(*seq);
                }
                query.fetch_all(pool).await
            })?;
            found.extend(rows);
        }
        Ok(found)
    }

    /// The rows logged within the last `window` by the database's clock, in ascending `seq`
    /// order, at most `limit` of them — with the newest `seq`
    /// ([`change_log_head`](Self::change_log_head)) and the newest before the window, read
    /// in the same snapshot (one read transaction; on PostgreSQL `REPEATABLE READ`), so that
    /// reading on after it with [`changes_after`](Self::changes_after) misses nothing
    /// committed since. What a server loads at start-up.
    ///
    /// # Errors
    /// The database error.
    pub async fn recent_changes(&self, window: Duration, limit: i64) -> Result<RecentChanges> {
        let window = micros(window);
        db!(self, Retry::Idempotent, |pool, engine| async {
            let mut tx = pool
                .begin_with(engine.pick("BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
                .await?;
            let rows = sqlx::query_as::<_, Change>(engine.pick(RECENT_SQLITE, RECENT_POSTGRES))
                .bind(window)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            let head: i64 = sqlx::query_scalar(HEAD).fetch_one(&mut *tx).await?;
            let floor: i64 = sqlx::query_scalar(engine.pick(FLOOR_SQLITE, FLOOR_POSTGRES))
                .bind(window)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(RecentChanges { rows, head, floor })
        }
        .await)
    }

    /// PostgreSQL: where transactions stand now (`xmin` and `xmax` of a new snapshot) — what
    /// tells a hole in the sequence that will never be filled (its transaction ended
    /// without the row) from one whose transaction still runs. SQLite: `None` (its writes
    /// commit one at a time, in `seq` order, and leave no holes).
    ///
    /// # Errors
    /// The database error.
    pub async fn transaction_horizon(&self) -> Result<Option<TransactionHorizon>> {
        if self.engine() == Engine::Sqlite {
            return Ok(None);
        }
        let (xmin, xmax): (i64, i64) = db!(self, Retry::Idempotent, |pool| {
            sqlx::query_as(HORIZON).fetch_one(pool).await
        })?;
        Ok(Some(TransactionHorizon { xmin, xmax }))
    }

    /// The newest `seq` (its highest number), 0 while the log is empty. Pruning never
    /// removes the newest row, so the head never goes back.
    ///
    /// # Errors
    /// The database error.
    pub async fn change_log_head(&self) -> Result<i64> {
        db!(self, Retry::Idempotent, |pool| {
            sqlx::query_scalar::<_, i64>(HEAD).fetch_one(pool).await
        })
    }

    /// The oldest `seq` still stored, `None` while the log is empty. Pruning removes the
    /// oldest rows first, so a number below the tail that a reader never saw was pruned —
    /// not a hole.
    ///
    /// # Errors
    /// The database error.
    pub async fn change_log_tail(&self) -> Result<Option<i64>> {
        db!(self, Retry::Idempotent, |pool| {
            sqlx::query_scalar::<_, Option<i64>>("SELECT MIN(seq) FROM change_log")
                .fetch_one(pool)
                .await
        })
    }

    /// Deletes the rows logged more than `keep` ago by the database's clock — and, so that
    /// the log keeps no gap, every row numbered below the newest of them — except the
    /// newest row of all, which always stays (the head never goes back). `batch` rows per
    /// statement (a `batch` of 0 is treated as 1), each its own short transaction. Returns
    /// how many rows went.
    ///
    /// # Errors
    /// The database error; rows deleted by earlier batches stay deleted.
    pub async fn prune_change_log(&self, keep: Duration, batch: u32) -> Result<u64> {
        let keep = micros(keep);
        let batch = i64::from(batch.max(1));
        let (old, newest): (Option<i64>, Option<i64>) =
            db!(self, Retry::Idempotent, |pool, engine| {
                sqlx::query_as(engine.pick(PRUNE_BOUNDS_SQLITE, PRUNE_BOUNDS_POSTGRES))
                    .bind(keep)
                    .fetch_one(pool)
                    .await
            })?;
        let (Some(old), Some(newest)) = (old, newest) else {
            return Ok(0);
        };
        let upto = old.min(newest - 1);
        let mut total = 0u64;
        loop {
            let deleted = changed_rows!(self, PRUNE_BATCH, upto, batch)?;
            total += deleted;
            if deleted < batch.unsigned_abs() {
                break;
            }
            tokio::task::yield_now().await;
        }
        if total > 0 {
            tracing::debug!(deleted = total, "pruned the change log");
        }
        Ok(total)
    }

    /// How many writes this store — all its clones together — has made that may have
    /// logged a change: users inserted, updated or deleted; sessions revoked or deleted;
    /// API keys revoked, their expiry changed, or deleted. Each such method counts once its
    /// transaction has ended (after its commit; a failed one counts too, since a lost
    /// connection may hide a commit), so a reader that sees the count move and then reads
    /// the log finds the change. Starts at 0.
    pub fn local_changes(&self) -> u64 {
        self.local_changes.load(Ordering::Acquire)
    }

    /// Counts one write that may have logged a change (see [`Store::local_changes`]).
    pub(crate) fn count_local_change(&self) {
        self.local_changes.fetch_add(1, Ordering::AcqRel);
    }

    /// Counts a write that may have logged a change, once it has run (`result` is its
    /// outcome, success or not), and passes its outcome on.
    pub(crate) fn counted<T>(&self, result: Result<T>) -> Result<T> {
        self.count_local_change();
        result
    }

    /// [`Store::counted`] for a write that reports the rows it changed: one that surely
    /// changed none (the upkeep's flushes, mostly) is not counted, so that it sends no
    /// request back to the log.
    pub(crate) fn counted_rows(&self, result: Result<u64>) -> Result<u64> {
        if !matches!(result, Ok(0)) {
            self.count_local_change();
        }
        result
    }

    /// PostgreSQL: a [`ChangeListener`] on a connection of its own, already listening on
    /// [`CHANGE_CHANNEL`]. SQLite: `None` (servers poll the log).
    ///
    /// # Errors
    /// The database error when the connection cannot be opened or `LISTEN` fails.
    pub async fn change_listener(&self) -> Result<Option<ChangeListener>> {
        let Pool::Postgres(pool) = self.readers() else {
            return Ok(None);
        };
        let options = (*pool.connect_options())
            .clone()
            .application_name(CHANGE_LISTENER_APPLICATION_NAME);
        let acquire_timeout = pool.options().get_acquire_timeout();
        let mut listener = ChangeListener {
            options,
            acquire_timeout,
            listener: None,
        };
        listener.listener = Some(listener.listen().await?);
        Ok(Some(listener))
    }
}

/// A dedicated PostgreSQL connection listening on [`CHANGE_CHANNEL`], from
/// [`Store::change_listener`].
///
/// It reconnects by itself; every time notifications may have been missed — the
/// connection was lost, or has just been opened again — [`recv`](Self::recv) says so
/// with `Ok(None)`, and the caller reads the log to catch up.
pub struct ChangeListener {
    /// Where to connect (the store's options, another `application_name`).
    options: sqlx::postgres::PgConnectOptions,
    /// How long opening the connection may take.
    acquire_timeout: Duration,
    /// The listening connection; `None` after it was lost, until the next
    /// [`recv`](Self::recv) opens another.
    listener: Option<PgListener>,
}

impl std::fmt::Debug for ChangeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeListener")
            .field("connected", &self.listener.is_some())
            .finish_non_exhaustive()
    }
}

impl ChangeListener {
    /// Waits for the next notification.
    ///
    /// * `Ok(Some(seq))`: a change log row numbered `seq` was committed.
    /// * `Ok(None)`: notifications may have been missed — PostgreSQL sends none to a
    ///   connection that is not listening, and keeps none for it. Either the connection was
    ///   just lost (the next call opens another and `LISTEN`s again, then returns `Ok(None)`
    ///   once more, listening), or a new connection listens from now on. Read the log
    ///   ([`Store::changes_after`]) after each `Ok(None)`, then call again.
    ///
    /// Cancel-safe (e.g. in `tokio::select!`): a cancelled call loses no notification it
    /// had not returned — sqlx reads each message whole or not at all — and a reconnection
    /// cut short is started again by the next call, which still answers `Ok(None)` first.
    ///
    /// How sqlx behaves underneath (0.9): [`PgListener::try_recv`] answers `Ok(None)` when
    /// the connection ends (end of stream, aborted, broken pipe, timed out) — as after
    /// `pg_terminate_backend` — and would open a new connection before answering unless
    /// told otherwise (`eager_reconnect`); it is told otherwise here, and the listener is
    /// replaced by a fresh one on the next call instead, so that a connection that cannot be
    /// reopened shows as an error of that call rather than a wait inside the one that found
    /// the loss. Any other error of an open connection is taken for a loss too.
    ///
    /// # Errors
    /// The database error when no connection can be opened (or `LISTEN` fails); the next
    /// call tries again.
    pub async fn recv(&mut self) -> Result<Option<i64>> {
        let Some(listener) = self.listener.as_mut() else {
            self.listener = Some(self.listen().await?);
            return Ok(None);
        };
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => match notification.payload().parse::<i64>() {
                    Ok(seq) => return Ok(Some(seq)),
                    Err(_) => tracing::warn!(
                        payload = notification.payload(),
                        "ignoring a notification on {CHANGE_CHANNEL} that is not a seq"
                    ),
                },
                Ok(None) => {
                    tracing::warn!("the change listener's connection was lost");
                    self.listener = None;
                    return Ok(None);
                }
                Err(error) => {
                    tracing::warn!(%error, "the change listener's connection failed");
                    self.listener = None;
                    return Ok(None);
                }
            }
        }
    }

    /// A new listening connection: a pool of one connection (what [`PgListener`] reconnects
    /// from), so that a lost one is never handed out again.
    async fn listen(&self) -> Result<PgListener> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(self.acquire_timeout)
            .connect_lazy_with(self.options.clone());
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.eager_reconnect(false);
        listener.listen(CHANGE_CHANNEL).await?;
        Ok(listener)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_text() {
        for kind in [ChangeKind::User, ChangeKind::Session, ChangeKind::ApiKey] {
            assert_eq!(
                ChangeKind::try_from(kind.as_str().to_owned()).unwrap(),
                kind
            );
        }
        assert!(ChangeKind::try_from("group".to_owned()).is_err());
        assert_eq!(ChangeKind::ApiKey.to_string(), "api_key");
    }

    #[test]
    fn durations_stay_within_a_bigint_below_the_clock() {
        assert_eq!(micros(Duration::from_millis(1500)), 1_500_000);
        assert_eq!(micros(Duration::MAX), 1 << 62);
    }

    #[tokio::test]
    async fn sqlite_has_no_listener() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        assert!(store.change_listener().await.unwrap().is_none());
    }
}
