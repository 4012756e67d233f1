//! `tessera import django` through the real binary, on a Django database of each engine.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use sqlx::Connection as _;
use tessera_store::Engine;
use tessera_store::testing::TestDatabase;

/// The schema Django 5.2 creates (the service tests' fixtures).
const SQLITE_DDL: &str = include_str!("../../../tessera-auth/tests/django/sqlite.sql");
const POSTGRES_DDL: &str = include_str!("../../../tessera-auth/tests/django/postgres.sql");
const HASH: &str =
    "pbkdf2_sha256$1000000$fixedsalt1234567$h1x5B9wO4o4f1VDkjGsyMxJBtVZhq9wSvqmPrCDZ7Ak=";

/// The binary with a clean environment, its data (and SQLite database) in `dir`.
fn tessera(dir: &Path, database_url: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TESSERA_DATA_DIR", dir.join("data"));
    if let Some(url) = database_url {
        command.env("TESSERA_DATABASE_URL", url);
    }
    command.args(args).stdin(Stdio::null()).output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Django's tables and two users (one Tessera refuses: no username, no address), one group,
/// on the database at `url`.
async fn fill(engine: Engine, url: &str) {
    let (t, f) = match engine {
        Engine::Sqlite => ("1", "0"),
        Engine::Postgres => ("TRUE", "FALSE"),
    };
    let rows = format!(
        "INSERT INTO auth_user (id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined) VALUES \
         (5, '{HASH}', NULL, {t}, 'ada', 'Ada', '', 'ada@example.com', {t}, {t}, '2024-05-01 10:20:30'), \
         (6, '{HASH}', NULL, {f}, '', '', '', '', {f}, {t}, '2024-05-01 10:20:30');\n\
         INSERT INTO auth_group (id, name) VALUES (1, 'editors');\n"
    );
    let ddl = match engine {
        Engine::Sqlite => SQLITE_DDL,
        Engine::Postgres => POSTGRES_DDL,
    };
    let sql = format!("{ddl}\n{rows}");
    let statements: Vec<String> = sql
        .split(";\n")
        .map(|s| {
            s.lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|s| !s.trim().is_empty())
        .collect();
    match engine {
        Engine::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc"))
                .await
                .unwrap();
            for s in statements {
                sqlx::raw_sql(sqlx::AssertSqlSafe(s))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
        }
        Engine::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            for s in statements {
                sqlx::raw_sql(sqlx::AssertSqlSafe(s))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
        }
    }
}

#[tokio::test]
async fn a_django_sqlite_file_is_imported_after_a_dry_run_and_a_rerun_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let django = dir.path().join("db.sqlite3");
    fill(Engine::Sqlite, &format!("sqlite://{}", django.display())).await;
    let source = django.to_str().unwrap();

    let dry = tessera(dir.path(), None, &["import", "django", source, "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry));
    let report = text(&dry);
    assert!(report.contains("Dry run: nothing was written"), "{report}");
    assert!(
        report.contains("auth_user -> users: 1 created, 0 updated, 0 unchanged, 1 skipped"),
        "{report}"
    );
    assert!(
        report.contains("auth_user id=6: no e-mail address and no username"),
        "{report}"
    );
    assert!(
        report.contains("auth_group -> groups: 1 created, 0 updated, 0 unchanged, 0 skipped"),
        "{report}"
    );
    let listed = text(&tessera(dir.path(), None, &["user", "list"]));
    assert!(
        !listed.contains("ada@example.com"),
        "the dry run wrote nothing: {listed}"
    );

    let run = tessera(dir.path(), None, &["import", "django", source]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(!text(&run).contains("Dry run"));
    let listed = text(&tessera(dir.path(), None, &["user", "list"]));
    assert!(listed.contains("ada@example.com"), "{listed}");

    let again = text(&tessera(
        dir.path(),
        None,
        &["import", "django", source, "--merge-existing"],
    ));
    assert!(
        again.contains("auth_user -> users: 0 created, 0 updated, 1 unchanged, 1 skipped"),
        "{again}"
    );
    assert!(
        again.contains("auth_group -> groups: 0 created, 0 updated, 1 unchanged, 0 skipped"),
        "{again}"
    );
    let groups = text(&tessera(dir.path(), None, &["group", "list"]));
    assert!(groups.contains("editors"), "{groups}");
}

#[tokio::test]
async fn a_django_postgres_database_is_imported_and_its_password_never_printed() {
    let Some(django) = TestDatabase::postgres("import_cli_django").await else {
        return;
    };
    let Some(tessera_db) = TestDatabase::postgres("import_cli_tessera").await else {
        return;
    };
    fill(Engine::Postgres, django.url()).await;
    // Trust authentication ignores the password; the command must not print it.
    let source = django.url().replacen("postgres@", "postgres:s3cret-pw@", 1);
    assert!(source.contains("s3cret-pw"), "{source}");
    let dir = tempfile::tempdir().unwrap();
    let run = tessera(
        dir.path(),
        Some(tessera_db.url()),
        &["import", "django", &source],
    );
    let output = text(&run);
    assert!(run.status.success(), "{output}");
    assert!(!output.contains("s3cret-pw"), "{output}");
    assert!(output.contains("[redacted]@"), "{output}");
    assert!(output.contains("auth_user -> users: 1 created"), "{output}");

    let bad = tessera(
        dir.path(),
        Some(tessera_db.url()),
        &["import", "django", &source, "--user-table", "nope"],
    );
    assert!(!bad.status.success());
    assert!(text(&bad).contains("no table \"nope\""), "{}", text(&bad));
    assert!(!text(&bad).contains("s3cret-pw"));
}
