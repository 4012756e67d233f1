//! Reading a Django project's users, their groups and permissions, and outstanding tokens:
//! from its database (SQLite or PostgreSQL, read only) or from a `manage.py dumpdata` JSON
//! file.

use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use super::OUTSTANDING_TABLE as OUTSTANDING;
use super::{DjangoData, DjangoGrants, DjangoGroup, DjangoToken, DjangoUser, dump, parse_datetime};
use crate::Engine;

/// simplejwt's blacklist app's table of blacklisted tokens.
const BLACKLISTED: &str = "token_blacklist_blacklistedtoken";

/// Why a Django project could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DjangoSourceError {
    /// The database could not be opened or queried.
    #[error("reading the Django database: {0}")]
    Database(#[from] sqlx::Error),
    /// The dump file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The data is not what Django writes (the message says what).
    #[error("{0}")]
    Invalid(String),
}

/// Where a Django project's data is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DjangoSource {
    /// Its database: `sqlite://…` or `postgres://…`.
    Database(String),
    /// A `manage.py dumpdata` JSON file.
    Dump(PathBuf),
}

impl DjangoSource {
    /// A database URL, or else a path: a `.json` file is a dump, any other file a SQLite
    /// database (`db.sqlite3`).
    pub fn parse(source: &str) -> DjangoSource {
        let source = source.trim();
        if Engine::from_url(source).is_some() {
            return DjangoSource::Database(source.to_owned());
        }
        let path = PathBuf::from(source);
        if path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("json"))
        {
            DjangoSource::Dump(path)
        } else {
            DjangoSource::Database(format!("sqlite://{source}"))
        }
    }

    /// Reads the users (from `user_table`, or the one table named `…_user` with `id`,
    /// `password` and `email` columns: `auth_user`, or a custom user model's), the groups
    /// and the users' memberships and direct permissions (`<user table>_groups`,
    /// `<user table>_user_permissions`), and the outstanding tokens. A database is opened
    /// read-only.
    ///
    /// # Errors
    /// [`DjangoSourceError`]: the source cannot be read, the user table is not found (or
    /// several could be it), or a value is not what Django stores.
    pub async fn read(&self, user_table: Option<&str>) -> Result<DjangoData, DjangoSourceError> {
        match self {
            DjangoSource::Dump(path) => read_dump(path, user_table).await,
            DjangoSource::Database(url) => match Engine::from_url(url) {
                Some(Engine::Sqlite) => {
                    let options = SqliteConnectOptions::from_str(url)?.read_only(true);
                    let mut conn = SqliteConnection::connect_with(&options).await?;
                    let data = read_sqlite(&mut conn, user_table).await;
                    let _ = conn.close().await;
                    data
                }
                Some(Engine::Postgres) => {
                    let options =
                        PgConnectOptions::from_str(url)?.application_name("tessera import");
                    let mut conn = PgConnection::connect_with(&options).await?;
                    let data = read_postgres(&mut conn, user_table).await;
                    let _ = conn.close().await;
                    data
                }
                None => Err(DjangoSourceError::Invalid(
                    "the source is neither a sqlite:// or postgres:// URL nor a file".into(),
                )),
            },
        }
    }
}

async fn read_dump(path: &Path, user_table: Option<&str>) -> Result<DjangoData, DjangoSourceError> {
    let io = |source| DjangoSourceError::Io {
        path: path.to_owned(),
        source,
    };
    let size = tokio::fs::metadata(path).await.map_err(io)?.len();
    if size > super::MAX_DUMP_BYTES {
        return Err(DjangoSourceError::Invalid(format!(
            "{} is larger than {} MiB",
            path.display(),
            super::MAX_DUMP_BYTES / (1024 * 1024)
        )));
    }
    let bytes = tokio::fs::read(path).await.map_err(io)?;
    dump::parse(&bytes, user_table)
}

/// A table name fit to be written into SQL: letters, digits and `_`, as Django names tables.
fn checked_identifier(name: &str) -> Result<&str, DjangoSourceError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(name)
    } else {
        Err(DjangoSourceError::Invalid(format!(
            "{name:?} is not a table name"
        )))
    }
}

/// The user table: the one asked for (it must exist), or the one table that looks like a
/// user table — `auth_user` or a custom model's; when a project switched to a custom user
/// model and kept `auth_user`, both do, and the caller must choose.
fn pick_user_table(
    tables: &[String],
    columns_of: &dyn Fn(&str) -> Vec<String>,
    asked: Option<&str>,
) -> Result<String, DjangoSourceError> {
    if let Some(asked) = asked {
        let asked = checked_identifier(asked)?;
        return if tables.iter().any(|t| t == asked) {
            Ok(asked.to_owned())
        } else {
            Err(DjangoSourceError::Invalid(format!(
                "the Django database has no table {asked:?}"
            )))
        };
    }
    let candidates: Vec<&String> = tables
        .iter()
        .filter(|t| t.ends_with("_user") && checked_identifier(t).is_ok())
        .filter(|t| {
            let columns = columns_of(t);
            ["password", "email", "id"]
                .iter()
                .all(|c| columns.iter().any(|have| have == c))
        })
        .collect();
    match candidates.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(DjangoSourceError::Invalid(
            "no user table found (neither auth_user nor another table named …_user with \
             id, password and email columns); name it with --user-table"
                .into(),
        )),
        many => Err(DjangoSourceError::Invalid(format!(
            "several tables could be the user table ({}); name one with --user-table",
            many.iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The SELECT list of the user table, defaults for the columns a custom model lacks.
/// `time` turns a date-time column into what the engine reads (text, or microseconds).
fn user_select(table: &str, columns: &[String], time: &dyn Fn(&str) -> String) -> String {
    let has = |c: &str| columns.iter().any(|have| have == c);
    let or = |c: &str, default: &str| {
        if has(c) {
            c.to_owned()
        } else {
            format!("{default} AS {c}")
        }
    };
    let when = |c: &str| {
        if has(c) {
            format!("{} AS {c}", time(c))
        } else {
            format!("NULL AS {c}")
        }
    };
    format!(
        "SELECT CAST(id AS BIGINT) AS id, password, {}, email, {}, {}, {}, {}, {}, {}, {} \
         FROM \"{table}\" ORDER BY id",
        if has("username") {
            "username".to_owned()
        } else {
            "CAST(NULL AS TEXT) AS username".to_owned()
        },
        or("first_name", "''"),
        or("last_name", "''"),
        or("is_active", "TRUE"),
        or("is_staff", "FALSE"),
        or("is_superuser", "FALSE"),
        when("date_joined"),
        when("last_login"),
    )
}

/// The column of a many-to-many table (`auth_user_groups`) that names the user: the one
/// that is neither `id` nor `other` (`group_id`) — `user_id`, or `<model>_id` for a custom
/// user model.
fn user_column(table: &str, columns: &[String], other: &str) -> Result<String, DjangoSourceError> {
    let rest: Vec<&String> = columns
        .iter()
        .filter(|c| c.as_str() != "id" && c.as_str() != other)
        .collect();
    match rest.as_slice() {
        [one] => Ok(checked_identifier(one)?.to_owned()),
        _ => Err(DjangoSourceError::Invalid(format!(
            "{table}: no one column names the user (columns: {})",
            columns.join(", ")
        ))),
    }
}

/// The grants of `rows` — `(row id, owner id, app_label, codename)`, unnamed when the
/// permission or its content type is missing — as `(owner, "app_label.codename")`; the
/// unnamed ones go to `grants.unresolved` under `table`.
fn named_grants(
    table: &str,
    rows: Vec<(i64, i64, Option<String>, Option<String>)>,
    grants: &mut DjangoGrants,
) -> Vec<(i64, String)> {
    let mut named = Vec::with_capacity(rows.len());
    for (id, owner, app_label, codename) in rows {
        match (app_label, codename) {
            (Some(app_label), Some(codename)) => {
                named.push((owner, format!("{app_label}.{codename}")))
            }
            _ => grants.unresolved.push((table.to_owned(), id)),
        }
    }
    named
}

/// The groups, memberships and direct permissions of the tables present (`tables`, their
/// columns from `columns_of`) beside the user table `table`, on either engine's
/// connection `conn`.
macro_rules! read_grants {
    ($conn:expr, $table:expr, $tables:expr, $columns_of:expr) => {{
        let has = |name: &str| $tables.iter().any(|t| t == name);
        let mut grants = DjangoGrants::default();
        if has("auth_group") {
            let rows: Vec<(i64, String)> =
                sqlx::query_as("SELECT CAST(id AS BIGINT), name FROM auth_group ORDER BY id")
                    .fetch_all(&mut *$conn)
                    .await?;
            grants.groups = rows
                .into_iter()
                .map(|(id, name)| DjangoGroup { id, name, permissions: Vec::new() })
                .collect();
        }
        let named = has("auth_permission") && has("django_content_type");
        if named && has("auth_group_permissions") {
            let rows = sqlx::query_as(
                "SELECT CAST(gp.id AS BIGINT), CAST(gp.group_id AS BIGINT), ct.app_label, p.codename \
                 FROM auth_group_permissions gp \
                 LEFT JOIN auth_permission p ON p.id = gp.permission_id \
                 LEFT JOIN django_content_type ct ON ct.id = p.content_type_id ORDER BY gp.id",
            )
            .fetch_all(&mut *$conn)
            .await?;
            for (group, permission) in named_grants("auth_group_permissions", rows, &mut grants) {
                if let Some(group) = grants.groups.iter_mut().find(|g| g.id == group) {
                    group.permissions.push(permission);
                }
            }
            for group in &mut grants.groups {
                group.permissions.sort();
                group.permissions.dedup();
            }
        }
        let memberships = format!("{}_groups", $table);
        if has(&memberships) {
            let user = user_column(&memberships, &$columns_of(&memberships), "group_id")?;
            let sql = format!(
                "SELECT CAST(\"{user}\" AS BIGINT), CAST(group_id AS BIGINT) FROM \"{}\" ORDER BY id",
                checked_identifier(&memberships)?
            );
            grants.memberships = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut *$conn)
                .await?;
        }
        let direct = format!("{}_user_permissions", $table);
        if named && has(&direct) {
            let user = user_column(&direct, &$columns_of(&direct), "permission_id")?;
            let sql = format!(
                "SELECT CAST(d.id AS BIGINT), CAST(d.\"{user}\" AS BIGINT), ct.app_label, p.codename \
                 FROM \"{}\" d LEFT JOIN auth_permission p ON p.id = d.permission_id \
                 LEFT JOIN django_content_type ct ON ct.id = p.content_type_id ORDER BY d.id",
                checked_identifier(&direct)?
            );
            let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut *$conn)
                .await?;
            grants.user_permissions = named_grants(&direct, rows, &mut grants);
        }
        grants
    }};
}

const TOKEN_COLUMNS: &str = "o.id, o.jti, CAST(o.user_id AS BIGINT) AS user_id";

#[derive(sqlx::FromRow)]
struct SqliteUserRow {
    id: i64,
    password: String,
    username: Option<String>,
    email: String,
    first_name: String,
    last_name: String,
    is_active: bool,
    is_staff: bool,
    is_superuser: bool,
    date_joined: Option<String>,
    last_login: Option<String>,
}

#[derive(sqlx::FromRow)]
struct PgUserRow {
    id: i64,
    password: String,
    username: Option<String>,
    email: String,
    first_name: String,
    last_name: String,
    is_active: bool,
    is_staff: bool,
    is_superuser: bool,
    date_joined: Option<i64>,
    last_login: Option<i64>,
}

/// A date-time column's text, read.
fn text_time(
    table: &str,
    id: i64,
    column: &str,
    value: Option<String>,
) -> Result<Option<tessera_core::Timestamp>, DjangoSourceError> {
    value
        .map(|text| {
            parse_datetime(&text).ok_or_else(|| {
                DjangoSourceError::Invalid(format!(
                    "{table} id={id}: {column} {text:?} is not a date and time"
                ))
            })
        })
        .transpose()
}

async fn read_sqlite(
    conn: &mut SqliteConnection,
    user_table: Option<&str>,
) -> Result<DjangoData, DjangoSourceError> {
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&mut *conn)
            .await?;
    let mut columns = std::collections::HashMap::new();
    for table in &tables {
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
            .bind(table)
            .fetch_all(&mut *conn)
            .await?;
        columns.insert(table.clone(), names);
    }
    let columns_of = |t: &str| columns.get(t).cloned().unwrap_or_default();
    let table = pick_user_table(&tables, &columns_of, user_table)?;
    let sql = user_select(&table, &columns_of(&table), &|c| c.to_owned());
    let rows: Vec<SqliteUserRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await?;
    let mut users = Vec::with_capacity(rows.len());
    for row in rows {
        users.push(DjangoUser {
            date_joined: text_time(&table, row.id, "date_joined", row.date_joined)?,
            last_login: text_time(&table, row.id, "last_login", row.last_login)?,
            id: row.id,
            username: row.username,
            email: row.email,
            first_name: row.first_name,
            last_name: row.last_name,
            password: row.password,
            is_active: row.is_active,
            is_staff: row.is_staff,
            is_superuser: row.is_superuser,
        });
    }
    let mut tokens = Vec::new();
    if tables.iter().any(|t| t == OUTSTANDING) {
        let blacklisted = if tables.iter().any(|t| t == BLACKLISTED) {
            "EXISTS (SELECT 1 FROM token_blacklist_blacklistedtoken b WHERE b.token_id = o.id)"
        } else {
            "FALSE"
        };
        let sql = format!(
            "SELECT {TOKEN_COLUMNS}, o.expires_at, {blacklisted} AS blacklisted \
             FROM {OUTSTANDING} o ORDER BY o.id"
        );
        let rows: Vec<(i64, String, Option<i64>, String, bool)> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut *conn)
                .await?;
        for (id, jti, user_id, expires_at, blacklisted) in rows {
            let expires_at = text_time(OUTSTANDING, id, "expires_at", Some(expires_at))?
                .unwrap_or(tessera_core::Timestamp::UNIX_EPOCH);
            tokens.push(DjangoToken {
                id,
                jti,
                user_id,
                expires_at,
                blacklisted,
            });
        }
    }
    let grants = read_grants!(conn, &table, &tables, columns_of);
    Ok(DjangoData {
        user_table: table,
        users,
        tokens,
        grants,
    })
}

/// A `timestamptz` column as microseconds since the Unix epoch.
fn pg_micros(column: &str) -> String {
    format!("CAST(EXTRACT(EPOCH FROM {column}) * 1000000 AS BIGINT)")
}

async fn read_postgres(
    conn: &mut PgConnection,
    user_table: Option<&str>,
) -> Result<DjangoData, DjangoSourceError> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
         WHERE table_schema = current_schema() ORDER BY table_name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let pairs: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) FROM information_schema.columns \
         WHERE table_schema = current_schema()",
    )
    .fetch_all(&mut *conn)
    .await?;
    let columns_of = |t: &str| {
        pairs
            .iter()
            .filter(|(table, _)| table == t)
            .map(|(_, column)| column.clone())
            .collect::<Vec<_>>()
    };
    let table = pick_user_table(&tables, &columns_of, user_table)?;
    let sql = user_select(&table, &columns_of(&table), &pg_micros);
    let rows: Vec<PgUserRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await?;
    let users = rows
        .into_iter()
        .map(|row| DjangoUser {
            id: row.id,
            username: row.username,
            email: row.email,
            first_name: row.first_name,
            last_name: row.last_name,
            password: row.password,
            is_active: row.is_active,
            is_staff: row.is_staff,
            is_superuser: row.is_superuser,
            date_joined: row.date_joined.map(tessera_core::Timestamp::from_micros),
            last_login: row.last_login.map(tessera_core::Timestamp::from_micros),
        })
        .collect();
    let mut tokens = Vec::new();
    if tables.iter().any(|t| t == OUTSTANDING) {
        let blacklisted = if tables.iter().any(|t| t == BLACKLISTED) {
            "EXISTS (SELECT 1 FROM token_blacklist_blacklistedtoken b WHERE b.token_id = o.id)"
        } else {
            "FALSE"
        };
        let sql = format!(
            "SELECT {TOKEN_COLUMNS}, {} AS expires_at, {blacklisted} AS blacklisted \
             FROM {OUTSTANDING} o ORDER BY o.id",
            pg_micros("o.expires_at")
        );
        let rows: Vec<(i64, String, Option<i64>, i64, bool)> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut *conn)
                .await?;
        tokens = rows
            .into_iter()
            .map(|(id, jti, user_id, expires_at, blacklisted)| DjangoToken {
                id,
                jti,
                user_id,
                expires_at: tessera_core::Timestamp::from_micros(expires_at),
                blacklisted,
            })
            .collect();
    }
    let grants = read_grants!(conn, &table, &tables, columns_of);
    Ok(DjangoData {
        user_table: table,
        users,
        tokens,
        grants,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_a_url_a_dump_or_a_sqlite_file() {
        assert_eq!(
            DjangoSource::parse("postgres://u@h/app"),
            DjangoSource::Database("postgres://u@h/app".into())
        );
        assert_eq!(
            DjangoSource::parse("data/dump.JSON"),
            DjangoSource::Dump("data/dump.JSON".into())
        );
        assert_eq!(
            DjangoSource::parse("db.sqlite3"),
            DjangoSource::Database("sqlite://db.sqlite3".into())
        );
    }

    #[test]
    fn the_user_table_is_the_one_that_looks_like_it_or_the_one_named() {
        let user_columns = |t: &str| {
            let columns: &[&str] = if t.ends_with("_groups") {
                &["id", "user_id", "group_id"]
            } else {
                &["id", "password", "email", "username"]
            };
            columns.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>()
        };
        let tables = |names: &[&str]| names.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>();
        let default = tables(&[
            "auth_group",
            "auth_user",
            "auth_user_groups",
            "django_session",
        ]);
        assert_eq!(
            pick_user_table(&default, &user_columns, None).unwrap(),
            "auth_user"
        );
        let custom = tables(&[
            "auth_group",
            "authentication_user",
            "authentication_user_groups",
        ]);
        assert_eq!(
            pick_user_table(&custom, &user_columns, None).unwrap(),
            "authentication_user"
        );
        // A project that switched to a custom user model and kept auth_user: say which.
        let both = tables(&["auth_user", "authentication_user"]);
        let error = pick_user_table(&both, &user_columns, None).unwrap_err();
        assert!(error.to_string().contains("--user-table"), "{error}");
        assert_eq!(
            pick_user_table(&both, &user_columns, Some("authentication_user")).unwrap(),
            "authentication_user"
        );
        assert!(pick_user_table(&both, &user_columns, Some("nope")).is_err());
        assert!(pick_user_table(&tables(&["django_session"]), &user_columns, None).is_err());
    }

    #[test]
    fn table_names_are_identifiers() {
        assert!(checked_identifier("authentication_user").is_ok());
        for bad in ["", "a\"b", "a b", "1user", "users;DROP"] {
            assert!(checked_identifier(bad).is_err(), "{bad:?}");
        }
    }
}
