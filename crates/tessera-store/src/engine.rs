//! The two engines behind [`Store`](crate::Store) — SQLite and PostgreSQL — and how a
//! query reaches one of them, retried when a momentary failure allows it.
//!
//! Every query is written once: [`db!`] expands its body for each engine, with the pool of
//! that engine bound to a name, so the same SQL text (with `$1, $2` placeholders, which
//! both engines accept) and the same binds are type-checked against both drivers. Where the
//! SQL must differ, the body asks the bound [`Engine`] for its text with [`Engine::pick`].

use std::time::Duration;

use futures_util::TryStreamExt as _;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use sqlx::sqlite::{SqliteQueryResult, SqliteRow};
use sqlx::{Database, Either, Execute, PgPool, SqlStr, Sqlite, SqlitePool};

use crate::error::{Failure, StoreError};

/// How many times a query runs at most (the first try included) before its error is
/// returned.
pub(crate) const MAX_ATTEMPTS: u32 = 3;
/// The pause before the first retry; each further retry doubles it (±50 % jitter).
const FIRST_BACKOFF: Duration = Duration::from_millis(10);

/// The database engine a [`Store`](crate::Store) talks to, chosen by the URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    /// `sqlite:` URLs: one file (or memory), for a single server.
    Sqlite,
    /// `postgres:` / `postgresql:` URLs: shared by any number of servers.
    Postgres,
}

impl Engine {
    /// The engine a database URL names, from its scheme; `None` for any other scheme.
    ///
    /// ```
    /// use tessera_store::Engine;
    /// assert_eq!(Engine::from_url("sqlite://data/tessera.db"), Some(Engine::Sqlite));
    /// assert_eq!(Engine::from_url("postgresql://db/tessera"), Some(Engine::Postgres));
    /// assert_eq!(Engine::from_url("mysql://db/tessera"), None);
    /// ```
    pub fn from_url(url: &str) -> Option<Engine> {
        let scheme = url.trim().split(':').next()?.to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Some(Engine::Sqlite),
            "postgres" | "postgresql" => Some(Engine::Postgres),
            _ => None,
        }
    }

    /// `"SQLite"` or `"PostgreSQL"`.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "SQLite",
            Engine::Postgres => "PostgreSQL",
        }
    }

    /// The engine's own text, where the two dialects differ.
    pub(crate) const fn pick(self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self {
            Engine::Sqlite => sqlite,
            Engine::Postgres => postgres,
        }
    }

    /// Opens a transaction that will write: SQLite takes the write lock at once (waiting for
    /// it under the busy timeout), so a read inside cannot go stale before the write.
    /// PostgreSQL locks the rows it reads `FOR UPDATE` instead.
    pub(crate) const fn begin_write(self) -> &'static str {
        self.pick("BEGIN IMMEDIATE", "BEGIN")
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A connection pool of either engine.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The SQLite pool as the bodies of `db!(write …)` see it: the pool itself, except that a
/// query fetching one row (`fetch_one`, `fetch_optional`) runs to its end before the row is
/// handed back, as it does on PostgreSQL.
///
/// SQLite commits an autocommit `INSERT … RETURNING` (or `UPDATE … RETURNING`) when the
/// statement ends; sqlx, once it holds the row it wants, ends the statement with a reset
/// whose error it drops. A commit that fails there — a full disk, an I/O error — is rolled
/// back while the caller holds the row of a write it takes for done, and answers 201 or
/// 200 for it. Run to its end, the statement reports the failure instead.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SqliteWriter<'p>(pub(crate) &'p SqlitePool);

impl SqliteWriter<'_> {
    /// [`SqlitePool::begin`].
    pub(crate) async fn begin(self) -> Result<sqlx::Transaction<'static, Sqlite>, sqlx::Error> {
        self.0.begin().await
    }

    /// [`SqlitePool::begin_with`] (e.g. `BEGIN IMMEDIATE`).
    pub(crate) async fn begin_with(
        self,
        statement: impl sqlx::SqlSafeStr,
    ) -> Result<sqlx::Transaction<'static, Sqlite>, sqlx::Error> {
        self.0.begin_with(statement).await
    }
}

impl<'p> sqlx::Executor<'p> for SqliteWriter<'p> {
    type Database = Sqlite;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<SqliteQueryResult, SqliteRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Sqlite>,
    {
        self.0.fetch_many(query)
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<SqliteRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Sqlite>,
    {
        Box::pin(async move {
            let mut steps = self.0.fetch_many(query);
            let mut first = None;
            while let Some(step) = steps.try_next().await? {
                if let (Either::Right(row), None) = (step, &first) {
                    first = Some(row);
                }
            }
            Ok(first)
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [<Sqlite as Database>::TypeInfo],
    ) -> BoxFuture<'e, Result<<Sqlite as Database>::Statement, sqlx::Error>>
    where
        'p: 'e,
    {
        self.0.prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<Sqlite>, sqlx::Error>>
    where
        'p: 'e,
    {
        self.0.describe(sql)
    }
}

/// Which failures a query may be repeated after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Reads, and writes whose second run changes nothing the first did not (conditional
    /// `UPDATE`s, deletes, transactions that set values): retried after any momentary
    /// failure, even a broken connection that leaves unknown whether the write happened.
    Idempotent,
    /// Writes that must not happen twice (inserts with a generated key): retried only when
    /// the database said it did not apply them (serialization failure, deadlock, busy).
    NotApplied,
}

impl Retry {
    fn allows(self, failure: Failure) -> bool {
        match failure {
            Failure::Rejected => true,
            Failure::Broken => self == Retry::Idempotent,
            Failure::Overloaded | Failure::Permanent => false,
        }
    }
}

/// Counts the runs of one query and decides, after each failure, whether it runs again.
#[derive(Debug)]
pub(crate) struct Attempts {
    retry: Retry,
    done: u32,
}

impl Attempts {
    pub(crate) fn new(retry: Retry) -> Self {
        Attempts { retry, done: 0 }
    }

    /// After a failed run: the pause before the next one, or `None` when `error` is final
    /// (not momentary, not safe to repeat, or [`MAX_ATTEMPTS`] reached).
    pub(crate) fn again(&mut self, error: &StoreError) -> Option<Duration> {
        self.done += 1;
        if self.done >= MAX_ATTEMPTS || !self.retry.allows(error.failure()) {
            return None;
        }
        let pause = backoff(self.done);
        tracing::warn!(%error, attempt = self.done, pause_ms = pause.as_millis() as u64, "momentary database failure; retrying");
        Some(pause)
    }
}

/// Runs one query (or transaction) of a [`Store`](crate::Store) on its engine, again after
/// a momentary failure that its [`Retry`] allows (at most [`MAX_ATTEMPTS`] runs, a short
/// jittered pause between them).
///
/// `db!(store, retry, |pool| body)` or `db!(store, retry, |pool, engine| body)`: `body` is an
/// expression of type `Result<T, E>` with `E` either `sqlx::Error` or `StoreError`; it is
/// expanded once per engine with `pool` bound to that engine's pool (`&SqlitePool` or
/// `&PgPool`; a write on SQLite gets it as a [`SqliteWriter`], which reports a failed
/// commit) and `engine` to the [`Engine`](crate::Engine). The whole loop is expanded in
/// place (no closure), so the calling future stays `Send` whatever it borrows.
///
/// `db!(write store, …)` runs a body that writes on the store's writer: on a SQLite file,
/// its one write connection, so that writers queue in the pool rather than sleep in
/// SQLite's busy handler; elsewhere the same pool as reads. A write on the read pool is
/// still correct, only slower under contention.
macro_rules! db {
    (@on $side:ident, $store:expr, $retry:expr, |$pool:ident, $engine:ident| $body:expr) => {{
        let store = $store;
        let mut attempts = $crate::engine::Attempts::new($retry);
        loop {
            let result: $crate::Result<_> = match store.$side() {
                $crate::engine::Pool::Sqlite(sqlite) => {
                    let $pool = db!(@sqlite $side, sqlite);
                    #[allow(unused_variables)]
                    let $engine = $crate::Engine::Sqlite;
                    $body.map_err($crate::StoreError::from)
                }
                $crate::engine::Pool::Postgres($pool) => {
                    #[allow(unused_variables)]
                    let $engine = $crate::Engine::Postgres;
                    $body.map_err($crate::StoreError::from)
                }
            };
            match result {
                Err(error) => match attempts.again(&error) {
                    Some(pause) => ::tokio::time::sleep(pause).await,
                    None => break Err(error),
                },
                ok => break ok,
            }
        }
    }};
    // Writes on SQLite see the pool through `SqliteWriter`, reads see it as it is.
    (@sqlite writer, $pool:ident) => {
        $crate::engine::SqliteWriter($pool)
    };
    (@sqlite readers, $pool:ident) => {
        $pool
    };
    (write $store:expr, $retry:expr, |$pool:ident| $body:expr) => {
        db!(@on writer, $store, $retry, |$pool, _engine| $body)
    };
    (write $store:expr, $retry:expr, |$pool:ident, $engine:ident| $body:expr) => {
        db!(@on writer, $store, $retry, |$pool, $engine| $body)
    };
    ($store:expr, $retry:expr, |$pool:ident| $body:expr) => {
        db!(@on readers, $store, $retry, |$pool, _engine| $body)
    };
    ($store:expr, $retry:expr, |$pool:ident, $engine:ident| $body:expr) => {
        db!(@on readers, $store, $retry, |$pool, $engine| $body)
    };
}

/// One query mapped to rows of `$row` (with `fetch_optional`, `fetch_one` or `fetch_all`),
/// the arguments bound in order; retried as [`Retry::Idempotent`] (a read, or — with
/// `fetch!(write store, …)`, on the writer — a conditional `UPDATE … RETURNING`).
macro_rules! fetch {
    (write $store:expr, $fetch:ident, $row:ty, $sql:expr $(, $arg:expr)* $(,)?) => {
        db!(write $store, $crate::engine::Retry::Idempotent, |pool| {
            sqlx::query_as::<_, $row>($sql)$(.bind($arg))*.$fetch(pool).await
        })
    };
    ($store:expr, $fetch:ident, $row:ty, $sql:expr $(, $arg:expr)* $(,)?) => {
        db!($store, $crate::engine::Retry::Idempotent, |pool| {
            sqlx::query_as::<_, $row>($sql)$(.bind($arg))*.$fetch(pool).await
        })
    };
}

/// One statement with the arguments bound in order, returning how many rows it changed;
/// retried as [`Retry::Idempotent`] (a conditional `UPDATE` or a `DELETE`), run on the
/// writer.
macro_rules! changed_rows {
    ($store:expr, $sql:expr $(, $arg:expr)* $(,)?) => {
        db!(write $store, $crate::engine::Retry::Idempotent, |pool| {
            sqlx::query($sql)$(.bind($arg))*.execute(pool).await.map(|done| done.rows_affected())
        })
    };
}

/// The pause before retry number `attempt` (1-based): 10 ms, 20 ms, … each ±50 %.
fn backoff(attempt: u32) -> Duration {
    let base = FIRST_BACKOFF * 2u32.saturating_pow(attempt.saturating_sub(1));
    base.mul_f64(0.5 + rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: std::io::ErrorKind) -> StoreError {
        StoreError::Database(sqlx::Error::Io(kind.into()))
    }

    /// How many runs `attempts` allows when every run fails with `error`.
    fn runs(retry: Retry, error: &StoreError) -> u32 {
        let mut attempts = Attempts::new(retry);
        let mut runs = 1;
        while attempts.again(error).is_some() {
            runs += 1;
        }
        runs
    }

    #[test]
    fn engines_come_from_the_url_scheme() {
        assert_eq!(Engine::from_url(" sqlite::memory:"), Some(Engine::Sqlite));
        assert_eq!(
            Engine::from_url("postgres://u@h/db"),
            Some(Engine::Postgres)
        );
        assert_eq!(
            Engine::from_url("PostgreSQL://h/db"),
            Some(Engine::Postgres)
        );
        assert_eq!(Engine::from_url("mysql://h/db"), None);
        assert_eq!(Engine::from_url(""), None);
        assert_eq!(Engine::Postgres.to_string(), "PostgreSQL");
    }

    #[test]
    fn backoff_doubles_with_jitter() {
        for attempt in 1..=3 {
            let base = 10u128 << (attempt - 1);
            for _ in 0..50 {
                let pause = backoff(attempt).as_micros();
                assert!(
                    pause >= base * 500 && pause < base * 1500,
                    "{attempt}: {pause}"
                );
            }
        }
    }

    #[test]
    fn idempotent_work_is_repeated_after_a_broken_connection_a_bounded_number_of_times() {
        let reset = io(std::io::ErrorKind::ConnectionReset);
        assert_eq!(runs(Retry::Idempotent, &reset), MAX_ATTEMPTS);
    }

    #[test]
    fn an_insert_is_not_repeated_when_it_may_have_happened() {
        let reset = io(std::io::ErrorKind::ConnectionReset);
        assert_eq!(runs(Retry::NotApplied, &reset), 1);
    }

    #[test]
    fn permanent_and_overload_errors_are_not_repeated() {
        for error in [
            StoreError::DuplicateEmail,
            StoreError::Database(sqlx::Error::PoolTimedOut),
            StoreError::Database(sqlx::Error::RowNotFound),
        ] {
            assert_eq!(runs(Retry::Idempotent, &error), 1, "{error:?}");
        }
    }

    #[tokio::test]
    async fn a_write_whose_commit_fails_is_an_error_not_the_row_of_a_rolled_back_write() {
        // A deferred foreign key is checked when the autocommit transaction commits, at the
        // end of the statement: where a full disk makes a commit fail, too.
        let store = &crate::Store::connect("sqlite::memory:").await.unwrap();
        let Pool::Sqlite(pool) = store.writer() else {
            unreachable!("a SQLite store")
        };
        for ddl in [
            "CREATE TABLE parent (id INTEGER PRIMARY KEY)",
            "CREATE TABLE child (id INTEGER PRIMARY KEY, \
             parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)",
        ] {
            sqlx::query(ddl).execute(pool).await.unwrap();
        }
        let insert = "INSERT INTO child (parent) VALUES (42) RETURNING id";

        let one = db!(write store, Retry::NotApplied, |pool| {
            sqlx::query_scalar::<_, i64>(insert).fetch_one(pool).await
        });
        let optional = db!(write store, Retry::NotApplied, |pool| {
            sqlx::query_scalar::<_, i64>(insert)
                .fetch_optional(pool)
                .await
        });

        for result in [one.map(Some), optional] {
            let error = result.expect_err("the commit failed");
            assert!(error.to_string().contains("FOREIGN KEY"), "{error}");
        }
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM child")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(rows, 0);
    }

    #[tokio::test]
    async fn the_loop_runs_the_body_again_until_it_succeeds() {
        let store = crate::Store::connect("sqlite::memory:").await.unwrap();
        let mut calls = 0;
        let value = db!(&store, Retry::Idempotent, |pool| {
            calls += 1;
            if calls < 3 {
                Err(sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()))
            } else {
                sqlx::query_scalar::<_, i64>("SELECT 42")
                    .fetch_one(pool)
                    .await
            }
        });
        assert_eq!(value.unwrap(), 42);
        assert_eq!(calls, 3);
    }
}
