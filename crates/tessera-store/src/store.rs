//! Connecting, migrating and health-checking the database: SQLite or PostgreSQL.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::engine::{Engine, Pool, Retry};
use crate::error::Result;

/// How long SQLite waits for another connection's write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Pool size and time limits of a [`Store`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// The most connections the pool opens for reads (and, on PostgreSQL, writes); a SQLite
    /// file adds its one writer connection, an in-memory SQLite database has exactly one
    /// connection in all. Defaults to `10`.
    pub max_connections: u32,
    /// How long a query waits for a free connection, opening one included, before it fails
    /// with a transient error (a 503 for HTTP clients). Defaults to 5 seconds.
    pub connect_timeout: Duration,
    /// PostgreSQL only: the server cancels any statement running longer
    /// (`statement_timeout`), and the client gets a 503. `None` keeps the server's setting.
    /// Migrations run without it. Defaults to 10 seconds.
    pub statement_timeout: Option<Duration>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Some(Duration::from_secs(10)),
        }
    }
}

/// Handle to the database: users, sessions and signing keys, in SQLite or PostgreSQL.
/// Cheap to clone (it is a pool).
#[derive(Clone, Debug)]
pub struct Store {
    /// Where reads go (and, on PostgreSQL or in-memory SQLite, writes too).
    pub(crate) pool: Pool,
    /// Where writes go on a SQLite file: a pool of its own with one connection.
    pub(crate) writer: Option<Pool>,
    /// [`Store::local_changes`]: shared by every clone.
    pub(crate) local_changes: Arc<AtomicU64>,
    /// The batcher of rotations on SQLite (`rotations.rs`): shared by every clone.
    pub(crate) rotations: Arc<crate::rotations::Rotations>,
}

impl Store {
    /// [`Store::connect_with`] with the default [`StoreOptions`].
    ///
    /// # Errors
    /// As [`Store::connect_with`].
    pub async fn connect(url: &str) -> Result<Store> {
        Self::connect_with(url, &StoreOptions::default()).await
    }

    /// Opens the database at `url`; its scheme picks the engine:
    ///
    /// * `sqlite://path/to/file.db` (created if missing) or `sqlite::memory:` — WAL
    ///   journaling, `synchronous = NORMAL` (a commit survives a crash of the process, not
    ///   a loss of power), a 5 s busy timeout, foreign keys on. Writes go through one
    ///   connection of their own, queueing in its pool rather than sleeping in SQLite's busy
    ///   handler; reads through the others. An in-memory database gets a single,
    ///   never-recycled connection so every query sees the same database.
    /// * `postgres://user:password@host:5432/database` (or `postgresql://`) — the database
    ///   must exist; `statement_timeout` is set on every connection.
    ///
    /// # Errors
    /// [`StoreError::Database`](crate::StoreError::Database) with
    /// [`sqlx::Error::Configuration`] when the scheme is neither or the URL cannot be
    /// parsed, or the connection error when the database cannot be reached in
    /// `connect_timeout`.
    pub async fn connect_with(url: &str, options: &StoreOptions) -> Result<Store> {
        let url = url.trim();
        let (pool, writer) = match Engine::from_url(url) {
            Some(Engine::Sqlite) => {
                let (readers, writer) = connect_sqlite(url, options).await?;
                (Pool::Sqlite(readers), writer.map(Pool::Sqlite))
            }
            Some(Engine::Postgres) => (Pool::Postgres(connect_postgres(url, options).await?), None),
            None => {
                let scheme = url.split(':').next().unwrap_or_default();
                return Err(sqlx::Error::Configuration(
                    format!(
                        "unsupported database URL scheme {scheme:?}: use \"sqlite://path/to/file.db\" \
                         or \"postgres://user@host/database\""
                    )
                    .into(),
                )
                .into());
            }
        };
        Ok(Store {
            pool,
            writer,
            local_changes: Arc::default(),
            rotations: Arc::default(),
        })
    }

    /// The engine behind this store.
    pub fn engine(&self) -> Engine {
        match self.pool {
            Pool::Sqlite(_) => Engine::Sqlite,
            Pool::Postgres(_) => Engine::Postgres,
        }
    }

    /// Applies the embedded migrations of the engine (`migrations/sqlite/` or
    /// `migrations/postgres/`). Idempotent, and safe while other servers use the database:
    /// PostgreSQL serialises concurrent runs with an advisory lock, migrations only add
    /// (see `docs/SCALING.md`), and migrations this build does not know — applied by a newer
    /// build during a rolling upgrade — are left alone rather than refused.
    ///
    /// # Errors
    /// [`StoreError::Migrate`](crate::StoreError::Migrate) when a migration fails or an
    /// applied one was changed.
    pub async fn migrate(&self) -> Result<()> {
        // `Migrator::run` takes any `Acquire`, which makes its future not `Send` (sqlx's
        // "implementation of `Acquire` is not general enough"); `run_direct` on one
        // connection is what `run` does after acquiring it.
        match self.writer() {
            Pool::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                let ran = tolerant(migrator(Engine::Sqlite))
                    .run_direct(None, &mut *conn, false)
                    .await;
                if ran.is_err() {
                    // A migration without sqlx's transaction (a table rebuild) that failed
                    // midway leaves its own transaction open and foreign keys off on this
                    // connection: undo both before it serves anything else.
                    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                }
                ran?;
            }
            Pool::Postgres(pool) => {
                // Without the statement timeout (building an index on a large table takes
                // longer); closed afterwards rather than returned to the pool.
                let mut conn = pool.acquire().await?;
                conn.close_on_drop();
                sqlx::query("SET statement_timeout = 0")
                    .execute(&mut *conn)
                    .await?;
                tolerant(migrator(Engine::Postgres))
                    .run_direct(None, &mut *conn, false)
                    .await?;
            }
        }
        tracing::debug!(engine = %self.engine(), "database migrations applied");
        Ok(())
    }

    /// The versions of this build's migrations not (successfully) applied to the database,
    /// oldest first: empty once [`Store::migrate`] has run. A database never migrated
    /// lacks them all.
    ///
    /// # Errors
    /// The database error when the database does not answer.
    pub async fn pending_migrations(&self) -> Result<Vec<i64>> {
        let engine = self.engine();
        let applied: Vec<i64> = db!(self, Retry::Idempotent, |pool| async {
            let exists: bool = sqlx::query_scalar(engine.pick(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master \
                 WHERE type = 'table' AND name = '_sqlx_migrations')",
                "SELECT to_regclass('_sqlx_migrations') IS NOT NULL",
            ))
            .fetch_one(pool)
            .await?;
            if !exists {
                return Ok(Vec::new());
            }
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(pool)
                .await
        }
        .await)?;
        Ok(migrator(engine)
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| m.version)
            .filter(|version| !applied.contains(version))
            .collect())
    }

    /// How many connections the pools (readers and writer) hold at this moment.
    pub fn pool_usage(&self) -> PoolUsage {
        let readers = usage(&self.pool);
        match &self.writer {
            Some(writer) => {
                let writer = usage(writer);
                PoolUsage {
                    open: readers.open + writer.open,
                    idle: readers.idle + writer.idle,
                    max: readers.max + writer.max,
                }
            }
            None => readers,
        }
    }

    /// The pool reads go to.
    pub(crate) fn readers(&self) -> &Pool {
        &self.pool
    }

    /// The pool writes go to.
    pub(crate) fn writer(&self) -> &Pool {
        self.writer.as_ref().unwrap_or(&self.pool)
    }
}

/// The connections of one pool at this moment.
fn usage(pool: &Pool) -> PoolUsage {
    {
        let (open, idle, max) = match pool {
            Pool::Sqlite(pool) => (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            ),
            Pool::Postgres(pool) => (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            ),
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(open);
        PoolUsage { open, idle, max }
    }
}

impl Store {
    /// Runs `SELECT 1`.
    ///
    /// # Errors
    /// The database error when the database does not answer.
    pub async fn ping(&self) -> Result<()> {
        db!(self, Retry::Idempotent, |pool| {
            sqlx::query("SELECT 1").execute(pool).await.map(drop)
        })
    }

    /// Whether [`Store::close`] was called (background tasks stop then).
    pub fn is_closed(&self) -> bool {
        match &self.pool {
            Pool::Sqlite(pool) => pool.is_closed(),
            Pool::Postgres(pool) => pool.is_closed(),
        }
    }

    /// Closes the pools, waiting for checked-out connections to be returned.
    pub async fn close(&self) {
        for pool in self.writer.iter().chain([&self.pool]) {
            match pool {
                Pool::Sqlite(pool) => pool.close().await,
                Pool::Postgres(pool) => pool.close().await,
            }
        }
    }
}

/// Connections of a [`Store`]'s pool at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// Connections open, busy or idle.
    pub open: u32,
    /// Open connections waiting for a query.
    pub idle: u32,
    /// The most the pool opens (`database_max_connections`).
    pub max: u32,
}

impl PoolUsage {
    /// Connections running a query (or held by a transaction).
    pub fn in_use(self) -> u32 {
        self.open - self.idle
    }
}

/// This build's migrations for `engine`.
fn migrator(engine: Engine) -> Migrator {
    match engine {
        Engine::Sqlite => sqlx::migrate!("./migrations/sqlite"),
        Engine::Postgres => sqlx::migrate!("./migrations/postgres"),
    }
}

/// A migrator that leaves alone applied migrations it does not know (a newer build's).
fn tolerant(mut migrator: Migrator) -> Migrator {
    migrator.set_ignore_missing(true);
    migrator
}

/// The read pool and the one-connection write pool of a SQLite database (no write pool for
/// an in-memory one: its one connection does everything).
async fn connect_sqlite(
    url: &str,
    options: &StoreOptions,
) -> Result<(sqlx::SqlitePool, Option<sqlx::SqlitePool>)> {
    let connect = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true);
    if is_in_memory(url) {
        // The database lives as long as its connection: keep exactly one, forever.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(options.connect_timeout)
            .connect_with(connect)
            .await?;
        return Ok((pool, None));
    }
    // The writer first: it creates the file and switches it to WAL.
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(options.connect_timeout)
        .after_release(|conn, _| Box::pin(outside_any_transaction(conn)))
        .connect_with(connect.clone())
        .await?;
    let readers = SqlitePoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.connect_timeout)
        .connect_with(connect)
        .await?;
    Ok((readers, Some(writer)))
}

async fn connect_postgres(url: &str, options: &StoreOptions) -> Result<sqlx::PgPool> {
    let mut connect = PgConnectOptions::from_str(url)?.application_name("tessera");
    if let Some(timeout) = options.statement_timeout {
        connect = connect.options([("statement_timeout", format!("{}ms", timeout.as_millis()))]);
    }
    Ok(PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.connect_timeout)
        .connect_with(connect)
        .await?)
}

/// Whether a SQLite connection given back to its pool may serve again: not when it is still
/// inside a transaction once the rollback of a dropped one has run.
///
/// When a `COMMIT` fails (a full disk, an I/O error) and the `ROLLBACK` after it fails too,
/// sqlx keeps counting the transaction as open, and SQLite may keep it open: every later
/// statement on the connection would run inside it, answer as if it had committed, and be
/// lost with the connection. Such a connection is closed instead, and the pool opens a
/// fresh one.
async fn outside_any_transaction(conn: &mut sqlx::SqliteConnection) -> sqlx::Result<bool> {
    use sqlx::Connection as _;
    // Runs after anything queued on the connection, the rollback of a dropped transaction
    // included.
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!("closing a database connection left inside a failed transaction");
        return Ok(false);
    }
    Ok(true)
}

/// Whether a `sqlite:` URL names an in-memory database.
fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreError;

    #[tokio::test]
    async fn unknown_schemes_are_a_configuration_error() {
        let err = Store::connect("mysql://localhost/db").await.unwrap_err();
        match err {
            StoreError::Database(sqlx::Error::Configuration(e)) => {
                assert!(e.to_string().contains("mysql"), "{e}");
            }
            other => panic!("unexpected error: {other:?}"),
        }
    }

    #[tokio::test]
    async fn in_memory_store_keeps_its_schema_across_queries() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        assert_eq!(store.engine(), Engine::Sqlite);
        assert_eq!(
            store.pending_migrations().await.unwrap().len(),
            migrator(Engine::Sqlite).iter().count()
        );
        store.migrate().await.unwrap();
        assert_eq!(store.pending_migrations().await.unwrap(), Vec::<i64>::new());
        let usage = store.pool_usage();
        assert_eq!((usage.open, usage.max), (1, 1));
        store.ping().await.unwrap();
        // Several sequential queries must all see the migrated schema.
        for _ in 0..3 {
            assert!(store.list_users().await.unwrap().is_empty());
        }
        // Migrating twice is a no-op.
        store.migrate().await.unwrap();
        store.close().await;
        assert!(store.is_closed());
        assert!(store.ping().await.is_err());
    }

    #[tokio::test]
    async fn a_writer_left_inside_a_failed_transaction_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("tessera.db").display());
        let store = Store::connect(&url).await.unwrap();
        let Pool::Sqlite(writer) = store.writer() else {
            unreachable!("a SQLite store")
        };
        // A transaction whose COMMIT fails, and the ROLLBACK after it too, as on a full
        // disk: sqlx counts it as open from then on.
        let mut tx = writer.begin().await.unwrap();
        sqlx::query("COMMIT").execute(&mut *tx).await.unwrap();
        assert!(tx.commit().await.is_err());

        // The writer serves write transactions again (on a connection of its own).
        let tx = writer.begin_with("BEGIN IMMEDIATE").await.unwrap();
        tx.commit().await.unwrap();
        store.close().await;
    }

    #[test]
    fn detects_in_memory_urls() {
        assert!(is_in_memory("sqlite::memory:"));
        assert!(is_in_memory("sqlite://?mode=memory"));
        assert!(!is_in_memory("sqlite://data/tessera.db"));
    }

    #[test]
    fn default_options() {
        let options = StoreOptions::default();
        assert_eq!(options.max_connections, 10);
        assert_eq!(options.connect_timeout, Duration::from_secs(5));
        assert_eq!(options.statement_timeout, Some(Duration::from_secs(10)));
    }
}
