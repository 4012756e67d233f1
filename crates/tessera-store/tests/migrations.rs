//! Migrations: the same schema for both engines, only additive changes, and safe to run
//! while other servers — older builds included — use the database.

use std::collections::BTreeSet;
use std::path::Path;

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
/// and says so in a `-- two-step:` comment naming that first step.
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
            if text.contains("-- two-step:") {
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
