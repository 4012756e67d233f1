//! Migrations: the same schema for both engines, only additive changes, and safe to run
//! while other servers — older builds included — use the database.

use std::collections::BTreeSet;
use std::path::Path;
use std::str::FromStr as _;

use sqlx::Connection as _;
use tessera_store::testing::TestDatabase;
use tessera_store::{Engine, Store, engine_tests};

fn migration_files(engine: &str) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(engine);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn each_engine_has_the_same_migrations() {
    let sqlite = migration_files("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, migration_files("postgres"));
}

/// Statements that break servers still running the previous build. A migration may use
/// one only as the second step of a change whose first step shipped a release earlier,
/// and says so in a `-- two-step:` comment naming that first step — or to rebuild an
/// object with the very shape the previous build queries (SQLite's table rebuild), saying
/// so in a `-- same-shape:` comment.
const DESTRUCTIVE: &[&str] = &[
    "DROP ",
    "RENAME ",
    "ALTER COLUMN",
    "TRUNCATE",
    "DELETE FROM",
    "SET NOT NULL",
];

#[test]
fn migrations_only_add_unless_they_are_a_second_step() {
    for engine in ["sqlite", "postgres"] {
        for file in migration_files(engine) {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(engine)
                .join(&file);
            let text = std::fs::read_to_string(&path).unwrap();
            if text.contains("-- two-step:") || text.contains("-- same-shape:") {
                continue;
            }
            let code: String = text
                .lines()
                .map(|line| line.split("--").next().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
                .to_uppercase();
            for word in DESTRUCTIVE {
                assert!(
                    !code.contains(word),
                    "{engine}/{file} uses {word:?}: servers of the previous build would break \
                     while it runs; split the change in two steps (see docs/SCALING.md)"
                );
            }
        }
    }
}

/// Runs one statement on the database at `url`, outside the store.
async fn execute(engine: Engine, url: &str, sql: &'static str) {
    match engine {
        Engine::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        Engine::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
    }
}

engine_tests! {
    /// Readiness asks which migrations are missing: all on an empty database, none after
    /// migrating, and a failed one counts as missing.
    async fn pending_migrations_are_those_not_applied(db: &TestDatabase) {
        let fresh = Store::connect(db.url()).await.unwrap();
        let all = fresh.pending_migrations().await.unwrap();
        let dir = match db.engine() {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        };
        assert_eq!(all.len(), migration_files(dir).len());
        assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
        fresh.migrate().await.unwrap();
        assert!(fresh.pending_migrations().await.unwrap().is_empty());
        execute(
            db.engine(),
            db.url(),
            "UPDATE _sqlx_migrations SET success = FALSE \
             WHERE version = (SELECT MIN(version) FROM _sqlx_migrations)",
        )
        .await;
        assert_eq!(fresh.pending_migrations().await.unwrap(), vec![all[0]]);
    }

    /// During a rolling upgrade the new build migrates first; an old server restarting
    /// then finds a migration it does not know, and must start anyway.
    async fn an_older_build_starts_on_a_database_a_newer_build_migrated(db: &TestDatabase) {
        let store = db.store().await;
        execute(
            db.engine(),
            db.url(),
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99990101000000, 'from a newer build', TRUE, '', 0)",
        )
        .await;

        let restarted = Store::connect(db.url()).await.unwrap();
        restarted.migrate().await.expect("an unknown, newer migration is left alone");
        restarted.migrate().await.expect("and migrating stays idempotent");
        assert!(restarted.list_users().await.unwrap().is_empty());
        store.close().await;
    }
}

/// Several servers starting at once on one PostgreSQL database all migrate; the advisory
/// lock lets one apply the migrations while the others wait and then find nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn servers_starting_together_migrate_one_after_the_other() {
    let Some(db) = TestDatabase::postgres("migrations::servers_starting_together").await else {
        return;
    };
    let mut servers = Vec::new();
    for _ in 0..4 {
        let store = Store::connect(db.url()).await.unwrap();
        servers.push(tokio::spawn(async move {
            store.migrate().await.map(|()| store)
        }));
    }
    for server in servers {
        let store = server
            .await
            .unwrap()
            .expect("every concurrent migration succeeds");
        assert!(store.list_users().await.unwrap().is_empty());
    }
}

/// Counts the rows of `table` on the database at `url`, outside the store.
async fn count(engine: Engine, url: &str, table: &str) -> i64 {
    let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"));
    match engine {
        Engine::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
        Engine::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
    }
}

/// Users and sessions as an earlier build wrote them: three users (the third deleted, so
/// that the next id shows whether ids are reused) and a session each for the first two.
const AT_0005: &[&str] = &[
    "INSERT INTO users (email, username, first_name, password_hash, date_joined, extra) \
     VALUES ('ada@example.com', 'ada', 'Ada', 'h', 1, '{\"tier\": \"gold\"}')",
    "INSERT INTO users (email, password_hash, is_staff, date_joined, last_login) \
     VALUES ('bob@example.com', 'h', TRUE, 2, 3)",
    "INSERT INTO users (email, password_hash, date_joined) VALUES ('gone@example.com', 'h', 4)",
    "DELETE FROM users WHERE email = 'gone@example.com'",
    "INSERT INTO sessions (id, user_id, kind, current_jti, current_iat, expires_at, \
     created_at, last_used_at) SELECT 's-' || email, id, 'refresh', 'j', 1, 9999999999, 1, 1 \
     FROM users",
];

engine_tests! {
    /// Migration 0006 (optional e-mail) on a database in use: every user and session
    /// survives (SQLite rebuilds `users` without cascading to `sessions`), ids are not
    /// reused, foreign keys still hold, and several users may have no address while
    /// non-empty ones stay unique.
    async fn optional_email_keeps_users_and_sessions(db: &TestDatabase) {
        let dir = match db.engine() {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        };
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dir);
        let migrator = sqlx::migrate::Migrator::new(path).await.unwrap();
        match db.engine() {
            Engine::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(db.url())
                    .unwrap()
                    .create_if_missing(true);
                let mut conn = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
                migrator.run_to(5, &mut conn).await.unwrap();
                for sql in AT_0005 {
                    sqlx::query(*sql).execute(&mut conn).await.unwrap();
                }
                conn.close().await.unwrap();
            }
            Engine::Postgres => {
                let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
                migrator.run_to(5, &mut conn).await.unwrap();
                for sql in AT_0005 {
                    sqlx::query(*sql).execute(&mut conn).await.unwrap();
                }
                conn.close().await.unwrap();
            }
        }
        assert_eq!(count(db.engine(), db.url(), "sessions").await, 2);

        let store = Store::connect(db.url()).await.unwrap();
        store.migrate().await.unwrap();
        assert!(store.pending_migrations().await.unwrap().is_empty());

        assert_eq!(count(db.engine(), db.url(), "sessions").await, 2, "no session lost");
        let users = store.list_users().await.unwrap();
        let kept: Vec<_> = users
            .iter()
            .map(|u| (u.id, u.email.as_str(), u.username.as_deref(), u.is_staff))
            .collect();
        assert_eq!(
            kept,
            [
                (1, "ada@example.com", Some("ada"), false),
                (2, "bob@example.com", None, true)
            ]
        );
        assert_eq!(users[0].extra.get("tier"), Some(&serde_json::json!("gold")));
        assert_eq!(users[1].last_login.map(|t| t.as_micros()), Some(3));

        let nobody = |name: &str| tessera_store::NewUser {
            username: Some(name.into()),
            password_hash: "h".into(),
            ..tessera_store::NewUser::default()
        };
        let first = store.create_user(&nobody("first")).await.unwrap();
        let second = store.create_user(&nobody("second")).await.unwrap();
        assert_eq!((first.id, second.id), (4, 5), "the deleted user's id is not reused");
        assert_eq!((first.email.as_str(), second.email.as_str()), ("", ""));
        assert!(store.user_by_email("").await.unwrap().is_none());
        let taken = tessera_store::NewUser {
            email: "ada@EXAMPLE.com".into(),
            ..nobody("third")
        };
        assert!(matches!(
            store.create_user(&taken).await.unwrap_err(),
            tessera_store::StoreError::DuplicateEmail
        ));

        // Foreign keys still hold: deleting a user still takes their sessions along.
        assert!(store.delete_user(1).await.unwrap());
        assert_eq!(count(db.engine(), db.url(), "sessions").await, 1);
        store.close().await;
    }
}

/// SQLite's rebuild of `users` in migration 0006 runs with foreign keys off, so it checks
/// every reference before it commits: a reference that no longer holds (here a session of
/// a user who does not exist, standing in for one the rebuild lost) fails the migration,
/// which is rolled back whole, and the connection that ran it enforces foreign keys again.
/// Once the reference is mended the migration runs. (PostgreSQL keeps its foreign keys
/// on throughout.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_optional_email_refuses_to_commit_a_broken_reference() {
    let db = TestDatabase::sqlite();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    let migrator = sqlx::migrate::Migrator::new(path).await.unwrap();
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(db.url())
        .unwrap()
        .create_if_missing(true)
        .foreign_keys(false);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    migrator.run_to(5, &mut conn).await.unwrap();
    for sql in AT_0005 {
        sqlx::query(*sql).execute(&mut conn).await.unwrap();
    }
    sqlx::query(
        "INSERT INTO sessions (id, user_id, kind, current_jti, current_iat, expires_at, \
         created_at, last_used_at) VALUES ('s-orphan', 99, 'refresh', 'j', 1, 9999999999, 1, 1)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let store = Store::connect(db.url()).await.unwrap();
    let err = store.migrate().await.unwrap_err().to_string();
    assert!(err.contains("every_reference_still_holds"), "{err}");
    let pending = store.pending_migrations().await.unwrap();
    assert_eq!(pending.first(), Some(&6), "{pending:?}");
    // Rolled back: the old `users` (e-mail still required to be unique everywhere) and no
    // half-built table.
    let tables: Vec<String> = {
        let mut conn = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'users%' ORDER BY name")
            .fetch_all(&mut conn)
            .await
            .unwrap()
    };
    assert_eq!(tables, ["users"]);
    assert_eq!(count(Engine::Sqlite, db.url(), "users").await, 2);
    // The store's connection enforces foreign keys again, outside any transaction:
    // deleting Ada takes her session along, and the change is committed (seen elsewhere).
    assert!(store.delete_user(1).await.unwrap());
    assert_eq!(count(Engine::Sqlite, db.url(), "sessions").await, 2);

    execute(
        Engine::Sqlite,
        db.url(),
        "DELETE FROM sessions WHERE id = 's-orphan'",
    )
    .await;
    store.migrate().await.expect("the mended database migrates");
    assert!(store.pending_migrations().await.unwrap().is_empty());
    store.close().await;
}
