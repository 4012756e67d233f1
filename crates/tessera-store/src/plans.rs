//! The query plans of the hot paths, so tests and the growth measurement can show that
//! every one of them finds its rows through an index — the reason their cost does not grow
//! with the number of users and sessions.

use crate::Store;
use crate::audit::{PRUNE_AUDIT_BATCH, USER_EVENTS};
use crate::engine::{Engine, Pool};
use crate::error::Result;
use crate::sessions::{
    FLUSH_BATCH_POSTGRES, FLUSH_BATCH_SQLITE, LIVE_SESSIONS, REVOKE_SESSION_IF_CURRENT,
    REVOKE_USER_SESSIONS, ROTATE_SESSION, SELECT_SESSION, TOUCH_SESSION,
};
use crate::users::{USER_BY_EMAIL, USER_BY_ID, USER_WITH_SESSION};

/// How the engine runs one hot query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPlan {
    /// Which path the query serves, e.g. `"refresh: rotate the session"`.
    pub name: &'static str,
    /// The engine that planned it.
    pub engine: Engine,
    /// The plan, one line per node (`EXPLAIN` on PostgreSQL, `EXPLAIN QUERY PLAN` on SQLite).
    pub plan: Vec<String>,
    /// The indexes the query is meant to search, by their names on this engine.
    pub indexes: Vec<&'static str>,
}

impl QueryPlan {
    /// The indexes the query is meant to search that its plan does not name.
    pub fn unused_indexes(&self) -> Vec<&'static str> {
        self.indexes
            .iter()
            .copied()
            .filter(|index| !self.plan.iter().any(|line| line.contains(index)))
            .collect()
    }

    /// Whether some step reads a whole table (or a whole index) instead of searching it:
    /// `Seq Scan` on PostgreSQL, `SCAN <table>` on SQLite (a scan of a subquery's
    /// materialized result is not one: it holds what the subquery searched).
    pub fn has_full_scan(&self) -> bool {
        match self.engine {
            Engine::Postgres => self.plan.iter().any(|line| line.contains("Seq Scan")),
            Engine::Sqlite => {
                let subqueries: Vec<&str> = self
                    .plan
                    .iter()
                    .filter_map(|line| {
                        let line = line.trim_start();
                        line.strip_prefix("MATERIALIZE ")
                            .or_else(|| line.strip_prefix("CO-ROUTINE "))
                    })
                    .collect();
                self.plan.iter().any(|line| {
                    line.trim_start().strip_prefix("SCAN ").is_some_and(|rest| {
                        let name = rest.split_whitespace().next().unwrap_or_default();
                        !subqueries.contains(&name)
                    })
                })
            }
        }
    }
}

/// An index, by its name on each engine: `(SQLite, PostgreSQL)`.
type Index = (&'static str, &'static str);
const USERS_PK: Index = ("USING INTEGER PRIMARY KEY", "users_pkey");
const USERS_EMAIL: Index = ("users_email_key", "users_email_key");
const SESSIONS_PK: Index = ("sqlite_autoindex_sessions_1", "sessions_pkey");
const SESSIONS_USER: Index = ("sessions_user_id_idx", "sessions_user_id_idx");
const SESSIONS_EXPIRY: Index = ("sessions_expires_at_idx", "sessions_expires_at_idx");
const AUDIT_USER: Index = ("audit_events_user_idx", "audit_events_user_idx");
const AUDIT_AT: Index = ("audit_events_at_idx", "audit_events_at_idx");

/// One hot query: its name, its SQL, a literal for each placeholder, the indexes it must
/// search.
struct HotQuery {
    name: &'static str,
    sql: &'static str,
    literals: &'static [&'static str],
    indexes: &'static [Index],
}

fn hot_queries(engine: Engine) -> [HotQuery; 12] {
    let hot = |name, sql, literals, indexes| HotQuery {
        name,
        sql,
        literals,
        indexes,
    };
    let flush = engine.pick(FLUSH_BATCH_SQLITE, FLUSH_BATCH_POSTGRES);
    [
        hot(
            "authenticated request: user and session",
            USER_WITH_SESSION,
            &["1", "'sid'"],
            &[USERS_PK, SESSIONS_PK],
        ),
        hot(
            "verify: the session",
            SELECT_SESSION,
            &["'sid'"],
            &[SESSIONS_PK],
        ),
        hot("refresh: the owner", USER_BY_ID, &["1"], &[USERS_PK]),
        hot(
            "refresh: rotate the session",
            ROTATE_SESSION,
            &["'sid'", "'old'", "'new'", "1", "2", "3"],
            &[SESSIONS_PK],
        ),
        hot(
            "refresh without rotation: touch",
            TOUCH_SESSION,
            &["'sid'", "'jti'", "1"],
            &[SESSIONS_PK],
        ),
        hot(
            "login: user by e-mail",
            USER_BY_EMAIL,
            &["'a@example.com'"],
            &[USERS_EMAIL],
        ),
        hot(
            "logout: revoke if current",
            REVOKE_SESSION_IF_CURRENT,
            &["'sid'", "'jti'", "1", "'logout'"],
            &[SESSIONS_PK],
        ),
        hot(
            "logout everywhere: revoke all",
            REVOKE_USER_SESSIONS,
            &["1", "2", "'logout'"],
            &[SESSIONS_USER],
        ),
        hot(
            "sessions list: live sessions",
            LIVE_SESSIONS,
            &["1", "2"],
            &[SESSIONS_USER],
        ),
        hot(
            "flushexpiredtokens: one batch",
            flush,
            &["1", "1000"],
            &[SESSIONS_EXPIRY],
        ),
        hot(
            "audit log: a user's events, newest first",
            USER_EVENTS,
            &["1", "20", "0"],
            &[AUDIT_USER],
        ),
        hot(
            "audit retention: one prune batch",
            PRUNE_AUDIT_BATCH,
            &["1", "1000"],
            &[AUDIT_AT],
        ),
    ]
}

/// `sql` with `$1`, `$2`, … replaced by `literals` (highest number first, so `$1` does not
/// eat the start of `$10`).
fn inline(sql: &str, literals: &[&str]) -> String {
    let mut text = sql.to_owned();
    for (index, literal) in literals.iter().enumerate().rev() {
        text = text.replace(&format!("${}", index + 1), literal);
    }
    text
}

impl Store {
    /// The plans of the queries behind the hot paths (authenticated requests, verify,
    /// refresh, login, logout, the sessions list, `flushexpiredtokens`, the audit log's
    /// list and pruning). Nothing is executed. With `prefer_indexes`, PostgreSQL plans as
    /// if sequential scans were expensive (`enable_seqscan = off`) — on a small table it
    /// would rightly read everything, so this shows whether an index *could* serve each query.
    ///
    /// # Errors
    /// The database error.
    pub async fn query_plans(&self, prefer_indexes: bool) -> Result<Vec<QueryPlan>> {
        let engine = self.engine();
        let mut plans = Vec::new();
        for HotQuery {
            name,
            sql,
            literals,
            indexes,
        } in hot_queries(engine)
        {
            let statement = inline(sql, literals);
            let plan = match &self.pool {
                Pool::Sqlite(pool) => {
                    let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(
                        format!("EXPLAIN QUERY PLAN {statement}"),
                    ))
                    .fetch_all(pool)
                    .await?;
                    rows.into_iter().map(|row| row.3).collect()
                }
                Pool::Postgres(pool) => {
                    let mut tx = pool.begin().await?;
                    if prefer_indexes {
                        sqlx::query("SET LOCAL enable_seqscan = off")
                            .execute(&mut *tx)
                            .await?;
                    }
                    let rows: Vec<(String,)> =
                        sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN {statement}")))
                            .fetch_all(&mut *tx)
                            .await?;
                    tx.rollback().await?;
                    rows.into_iter().map(|row| row.0).collect()
                }
            };
            let indexes = indexes
                .iter()
                .map(|&(sqlite, postgres)| engine.pick(sqlite, postgres))
                .collect();
            plans.push(QueryPlan {
                name,
                engine,
                plan,
                indexes,
            });
        }
        Ok(plans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_highest_first() {
        assert_eq!(
            inline(
                "a = $1 AND b = $10 AND c = $2",
                &["1", "2", "3", "4", "5", "6", "7", "8", "9", "'ten'"]
            ),
            "a = 1 AND b = 'ten' AND c = 2"
        );
    }

    #[test]
    fn every_placeholder_of_every_hot_query_has_a_literal() {
        for engine in [Engine::Sqlite, Engine::Postgres] {
            for query in hot_queries(engine) {
                assert!(
                    !inline(query.sql, query.literals).contains('$'),
                    "{}",
                    query.name
                );
                assert!(!query.indexes.is_empty(), "{}", query.name);
            }
        }
    }

    #[test]
    fn full_scans_are_recognised_per_engine() {
        let plan = |engine, line: &str| QueryPlan {
            name: "q",
            engine,
            plan: vec![line.into()],
            indexes: vec![],
        };
        assert!(plan(Engine::Sqlite, "SCAN users").has_full_scan());
        let materialized = QueryPlan {
            name: "q",
            engine: Engine::Sqlite,
            plan: vec![
                "MATERIALIZE s".into(),
                "SEARCH sessions USING INDEX sqlite_autoindex_sessions_1 (id=?)".into(),
                "SCAN s LEFT-JOIN".into(),
            ],
            indexes: vec!["sqlite_autoindex_sessions_1", "users_pkey"],
        };
        assert_eq!(materialized.unused_indexes(), ["users_pkey"]);
        assert!(!materialized.has_full_scan());
        assert!(
            !plan(
                Engine::Sqlite,
                "SEARCH users USING INTEGER PRIMARY KEY (rowid=?)"
            )
            .has_full_scan()
        );
        assert!(
            plan(
                Engine::Postgres,
                "Seq Scan on users  (cost=0.00..1.01 rows=1 width=8)"
            )
            .has_full_scan()
        );
        assert!(!plan(Engine::Postgres, "Index Scan using users_pkey on users u").has_full_scan());
    }
}
