//! Connecting, migrating and health-checking the SQLite database.

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::error::Result;

/// Connection pool size for file databases.
const MAX_CONNECTIONS: u32 = 8;

/// Migrations embedded from `migrations/sqlite/`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Handle to the database: users, sessions. Cheap to clone (it is a pool).
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: SqlitePool,
}

impl Store {
    /// Opens (creating if missing) the SQLite database at `url`, e.g.
    /// `"sqlite://path/to/file.db"` or `"sqlite::memory:"`.
    ///
    /// Connections use WAL journaling, `synchronous = NORMAL`, a 5 s busy timeout and
    /// foreign keys on. An in-memory database gets a single, never-recycled connection so
    /// every query sees the same database.
    ///
    /// # Errors
    /// [`StoreError::Database`](crate::StoreError::Database) with
    /// [`sqlx::Error::Configuration`] when `url` is not a `sqlite:` URL or cannot be parsed,
    /// or the connection error when the database cannot be opened.
    pub async fn connect(url: &str) -> Result<Store> {
        let url = url.trim();
        if !url.starts_with("sqlite:") {
            let scheme = url.split(':').next().unwrap_or_default();
            return Err(sqlx::Error::Configuration(
                format!(
                    "unsupported database URL scheme {scheme:?}: only \"sqlite:\" URLs are supported"
                )
                .into(),
            )
            .into());
        }

        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);

        let pool_options = if is_in_memory(url) {
            // The database lives as long as its connection: keep exactly one, forever.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(MAX_CONNECTIONS)
        };

        let pool = pool_options.connect_with(options).await?;
        Ok(Store { pool })
    }

    /// Applies the embedded migrations (idempotent).
    ///
    /// # Errors
    /// [`StoreError::Migrate`](crate::StoreError::Migrate) when a migration fails or the
    /// database holds migrations this build does not know.
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        tracing::debug!("database migrations applied");
        Ok(())
    }

    /// Runs `SELECT 1`.
    ///
    /// # Errors
    /// The database error when the database does not answer.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Whether [`Store::close`] was called (background tasks stop then).
    pub fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }

    /// Closes the pool, waiting for checked-out connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
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
    async fn non_sqlite_url_is_a_configuration_error() {
        let err = Store::connect("postgres://localhost/db").await.unwrap_err();
        match err {
            StoreError::Database(sqlx::Error::Configuration(e)) => {
                assert!(e.to_string().contains("postgres"), "{e}");
            }
            other => panic!("unexpected error: {other:?}"),
        }
    }

    #[tokio::test]
    async fn in_memory_store_keeps_its_schema_across_queries() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        store.ping().await.unwrap();
        // Several sequential queries must all see the migrated schema.
        for _ in 0..3 {
            assert!(store.list_users().await.unwrap().is_empty());
        }
        // Migrating twice is a no-op.
        store.migrate().await.unwrap();
        store.close().await;
        assert!(store.ping().await.is_err());
    }

    #[test]
    fn detects_in_memory_urls() {
        assert!(is_in_memory("sqlite::memory:"));
        assert!(is_in_memory("sqlite://?mode=memory"));
        assert!(!is_in_memory("sqlite://data/tessera.db"));
    }
}
