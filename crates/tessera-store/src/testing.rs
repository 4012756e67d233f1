//! Databases for tests (feature `testing`): a fresh SQLite file, or a fresh PostgreSQL
//! database created for one test and dropped after it, and [`engine_tests!`](crate::engine_tests)
//! to run one test body on both.
//!
//! PostgreSQL is reached at `TESSERA_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each test creates its own database from that
//! connection. When PostgreSQL does not answer, the PostgreSQL half of a test writes a
//! `SKIPPED: PostgreSQL …` line to standard error (past the test harness's capture) and
//! passes — unless `TESSERA_REQUIRE_POSTGRES=1`, as in CI, where it fails.

use std::io::Write as _;
use std::str::FromStr as _;
use std::sync::OnceLock;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use crate::{Engine, Store};

/// The variable naming the PostgreSQL server (and a database on it) that tests use.
pub const POSTGRES_URL_VAR: &str = "TESSERA_TEST_POSTGRES_URL";
/// Where tests look for PostgreSQL when [`POSTGRES_URL_VAR`] is unset.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// Set to `1` to make a PostgreSQL that does not answer fail the tests instead of skipping.
pub const REQUIRE_POSTGRES_VAR: &str = "TESSERA_REQUIRE_POSTGRES";

/// How long tests wait for PostgreSQL to answer before skipping (or failing).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why PostgreSQL is unusable, once some test found out (later tests skip at once).
static UNAVAILABLE: OnceLock<String> = OnceLock::new();

/// One test's own database; PostgreSQL ones are dropped when this is.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    place: Place,
}

#[derive(Debug)]
enum Place {
    /// The directory holding the file, deleted with it.
    Sqlite {
        _dir: tempfile::TempDir,
    },
    Postgres {
        admin_url: String,
        name: String,
    },
}

impl TestDatabase {
    /// A fresh SQLite file in a temporary directory.
    pub fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("tessera.db").display());
        TestDatabase {
            url,
            place: Place::Sqlite { _dir: dir },
        }
    }

    /// A fresh, empty PostgreSQL database for the test named `test`, or `None` (after a
    /// loud `SKIPPED` line) when PostgreSQL does not answer.
    ///
    /// # Panics
    /// When PostgreSQL does not answer and `TESSERA_REQUIRE_POSTGRES=1`, or the database
    /// cannot be created.
    pub async fn postgres(test: &str) -> Option<TestDatabase> {
        let admin_url = admin_url();
        let mut admin = match UNAVAILABLE.get() {
            Some(reason) => return skip(test, &admin_url, reason),
            None => match connect(&admin_url).await {
                Ok(conn) => conn,
                Err(reason) => {
                    let reason = UNAVAILABLE.get_or_init(|| reason);
                    return skip(test, &admin_url, reason);
                }
            },
        };
        let name = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("creating the test database {name}: {e}"));
        let _ = admin.close().await;
        Some(TestDatabase {
            url: with_database(&admin_url, &name),
            place: Place::Postgres { admin_url, name },
        })
    }

    /// A fresh database of `engine` ([`TestDatabase::postgres`]'s `None` included).
    pub async fn new(engine: Engine, test: &str) -> Option<TestDatabase> {
        match engine {
            Engine::Sqlite => Some(Self::sqlite()),
            Engine::Postgres => Self::postgres(test).await,
        }
    }

    /// The database's URL (`TESSERA_DATABASE_URL` for a server using it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its engine.
    pub fn engine(&self) -> Engine {
        match self.place {
            Place::Sqlite { .. } => Engine::Sqlite,
            Place::Postgres { .. } => Engine::Postgres,
        }
    }

    /// A store on it, migrated.
    ///
    /// # Panics
    /// When the store cannot be opened or migrated.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url)
            .await
            .expect("opening the test database");
        store.migrate().await.expect("migrating the test database");
        store
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Place::Postgres { admin_url, name } = &self.place else {
            return;
        };
        // Best effort, on a thread of its own: `Drop` cannot await, and may run inside a
        // runtime. `FORCE` ends connections a pool still holds.
        let (admin_url, database) = (admin_url.clone(), name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = connect(&admin_url).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
                let result = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut admin)
                    .await;
                let _ = admin.close().await;
                result.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            let _ = writeln!(
                std::io::stderr(),
                "warning: could not drop the test database {name}"
            );
        }
    }
}

/// The URL tests reach PostgreSQL at.
pub fn admin_url() -> String {
    std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
}

/// Whether a PostgreSQL that does not answer must fail the tests.
pub fn postgres_required() -> bool {
    std::env::var(REQUIRE_POSTGRES_VAR).is_ok_and(|v| v.trim() == "1")
}

async fn connect(url: &str) -> Result<PgConnection, String> {
    let options =
        PgConnectOptions::from_str(url).map_err(|e| format!("{POSTGRES_URL_VAR}: {e}"))?;
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
    }
}

fn skip(test: &str, url: &str, reason: &str) -> Option<TestDatabase> {
    if postgres_required() {
        panic!(
            "PostgreSQL is required ({REQUIRE_POSTGRES_VAR}=1) but does not answer at {url}: {reason}"
        );
    }
    // Straight to the process's standard error: the harness captures only `eprintln!`.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: PostgreSQL does not answer at {url} ({reason}); `{test}` did not run on \
         PostgreSQL. Start it, or set {REQUIRE_POSTGRES_VAR}=1 to make this a failure."
    );
    None
}

/// `url` with its database (the path) replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// Generates, for each `async fn name(db: &TestDatabase) { … }`, a module `name` holding two
/// tests — `sqlite` and `postgres` — that run the same body on a fresh database of each
/// engine (the PostgreSQL one skips loudly when PostgreSQL does not answer).
///
/// The calling crate needs `tokio` with `macros` and `rt-multi-thread`, and the items the
/// bodies use in scope of the calling module.
#[macro_export]
macro_rules! engine_tests {
    ($( $(#[$meta:meta])* async fn $name:ident($db:ident: $ty:ty) $body:block )*) => { $(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let database = $crate::testing::TestDatabase::sqlite();
                let $db: $ty = &database;
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let Some(database) = $crate::testing::TestDatabase::postgres(module_path!()).await else {
                    return;
                };
                let $db: $ty = &database;
                $body
            }
        }
    )* };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_replaces_the_path() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql://h:5432", "x"),
            "postgresql://h:5432/x"
        );
    }
}
