//! What a refused request must leave alone: the rows of users, sessions, signing keys and
//! login failures, as counts and a digest, read behind the server's back.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash as _, Hasher as _};

use sqlx::Connection as _;
use tessera_store::Engine;

/// Each table, and the columns whose text makes a row (every column a migration creates).
const TABLES: [(&str, &str, &[&str]); 4] = [
    (
        "users",
        "id",
        &[
            "id",
            "email",
            "username",
            "first_name",
            "last_name",
            "password_hash",
            "is_active",
            "is_staff",
            "is_superuser",
            "date_joined",
            "last_login",
            "password_changed_at",
            "extra",
            "email_verified",
        ],
    ),
    (
        "sessions",
        "id",
        &[
            "id",
            "user_id",
            "kind",
            "current_jti",
            "current_iat",
            "expires_at",
            "previous_jti",
            "rotated_at",
            "rotation_counter",
            "created_at",
            "last_used_at",
            "revoked_at",
            "revoked_reason",
            "user_agent",
            "ip",
        ],
    ),
    (
        "signing_keys",
        "kid",
        &[
            "kid",
            "algorithm",
            "private_key",
            "created_at",
            "activates_at",
            "retired_at",
        ],
    ),
    (
        "login_failures",
        "name",
        &["name", "failures", "locked_until", "updated_at"],
    ),
];

/// Rows per table, with a digest of their text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot(pub BTreeMap<&'static str, (usize, u64)>);

impl Snapshot {
    /// The tables that differ between two snapshots.
    pub fn changed(&self, after: &Snapshot) -> Vec<&'static str> {
        self.0
            .iter()
            .filter(|(table, value)| after.0.get(*table) != Some(value))
            .map(|(table, _)| *table)
            .collect()
    }
}

/// A connection to the server's database.
pub enum Db {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Db {
    pub async fn connect(engine: Engine, url: &str) -> Self {
        match engine {
            Engine::Sqlite => Db::Sqlite(sqlx::SqliteConnection::connect(url).await.unwrap()),
            Engine::Postgres => Db::Postgres(sqlx::PgConnection::connect(url).await.unwrap()),
        }
    }

    async fn texts(&mut self, sql: String) -> Vec<String> {
        match self {
            Db::Sqlite(conn) => {
                sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
                    .fetch_all(conn)
                    .await
            }
            Db::Postgres(conn) => {
                sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
                    .fetch_all(conn)
                    .await
            }
        }
        .unwrap_or_else(|e| panic!("reading the snapshot: {e}"))
    }

    pub async fn snapshot(&mut self) -> Snapshot {
        let mut tables = BTreeMap::new();
        for (table, key, columns) in TABLES {
            let row = columns
                .iter()
                .map(|c| format!("COALESCE(CAST({c} AS TEXT), '<null>')"))
                .collect::<Vec<_>>()
                .join(" || '|' || ");
            let rows = self
                .texts(format!("SELECT {row} FROM {table} ORDER BY {key}"))
                .await;
            let mut hasher = DefaultHasher::new();
            rows.hash(&mut hasher);
            tables.insert(table, (rows.len(), hasher.finish()));
        }
        Snapshot(tables)
    }
}
