//! The audit log: security events (logins, refreshes, logouts, lockouts, staff and key
//! actions), written in batches, listed newest first with filters, pruned by age.
//!
//! The store keeps what it is given: it never sees a token or a password, and bounds the
//! free-text columns (`username` 254 characters, `user_agent` 512, `ip` 64, `session_id`
//! 64, `event` 64) so that no client can grow a row.

use std::fmt;

use tessera_core::Timestamp;

use crate::Store;
use crate::engine::Retry;
use crate::error::Result;

/// Longest stored login name, in characters (Django's `EmailField` length).
pub const MAX_AUDIT_USERNAME_CHARS: usize = 254;
/// Longest stored `User-Agent`, in characters.
const MAX_USER_AGENT_CHARS: usize = 512;
/// Longest stored IP address text, in characters.
const MAX_IP_CHARS: usize = 64;
/// Longest stored session id or event name, in characters.
const MAX_NAME_CHARS: usize = 64;
/// Rows per `INSERT` of a batch (11 parameters each: far below either engine's limit).
const INSERT_CHUNK: usize = 500;
/// Rows per `DELETE` of a prune, each its own short transaction.
const PRUNE_BATCH: i64 = 1000;

/// Every column of `audit_events`, in a fixed order.
macro_rules! audit_columns {
    () => {
        "id, at, event, outcome, user_id, actor_id, username, ip, user_agent, session_id, detail"
    };
}

/// Whether the action an event records went through. Stored as TEXT `'success'` /
/// `'failure'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditOutcome {
    /// The action happened (a login succeeded, a session ended, a key rotated …).
    Success,
    /// It was refused or is an alarm (a wrong password, a locked login, a reused token).
    Failure,
}

impl AuditOutcome {
    /// The stored text: `"success"` or `"failure"`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Success => "success",
            AuditOutcome::Failure => "failure",
        }
    }

    /// The outcome a stored (or requested) text names.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "success" => Some(AuditOutcome::Success),
            "failure" => Some(AuditOutcome::Failure),
            _ => None,
        }
    }
}

impl fmt::Display for AuditOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event to record, for [`Store::insert_audit_events`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEvent {
    /// When it happened.
    pub at: Timestamp,
    /// What happened, a dotted name such as `login.failed`.
    pub event: String,
    /// Whether it went through.
    pub outcome: AuditOutcome,
    /// The user it concerns.
    pub user_id: Option<i64>,
    /// Who did it, when that is not the user it concerns (the staff member of an admin
    /// action).
    pub actor_id: Option<i64>,
    /// The login name given (kept for attempts on accounts that do not exist), or the
    /// concerned user's, when known. Cut to 254 characters.
    pub username: Option<String>,
    /// The client's address. Cut to 64 characters.
    pub ip: Option<String>,
    /// The client's `User-Agent`. Cut to 512 characters.
    pub user_agent: Option<String>,
    /// The login session it concerns.
    pub session_id: Option<String>,
    /// A small JSON object with what else is worth knowing, stored as text.
    pub detail: Option<serde_json::Value>,
}

impl NewAuditEvent {
    /// An event at `at` with nothing but its name and outcome.
    pub fn new(at: Timestamp, event: impl Into<String>, outcome: AuditOutcome) -> Self {
        NewAuditEvent {
            at,
            event: event.into(),
            outcome,
            user_id: None,
            actor_id: None,
            username: None,
            ip: None,
            user_agent: None,
            session_id: None,
            detail: None,
        }
    }
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEvent {
    /// Increasing with each write.
    pub id: i64,
    /// When it happened.
    pub at: Timestamp,
    /// What happened, e.g. `login.failed`.
    pub event: String,
    /// `"success"` or `"failure"`.
    pub outcome: String,
    /// The user it concerns.
    pub user_id: Option<i64>,
    /// Who did it (staff actions).
    pub actor_id: Option<i64>,
    /// The login name given, or the concerned user's.
    pub username: Option<String>,
    /// The client's address.
    pub ip: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// The login session it concerns.
    pub session_id: Option<String>,
    /// A JSON object, as text.
    pub detail: Option<String>,
}

impl AuditEvent {
    /// The detail as JSON (`None` when there is none, or it does not parse).
    pub fn detail_json(&self) -> Option<serde_json::Value> {
        self.detail
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
    }
}

/// Which events to list: every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Events concerning this user.
    pub user_id: Option<i64>,
    /// Events with this name (`login.failed`), or — ending in `.` — whose name starts with
    /// it (`login.`).
    pub event: Option<String>,
    /// Events with this outcome.
    pub outcome: Option<AuditOutcome>,
    /// Events from this address.
    pub ip: Option<String>,
    /// Events at or after this time.
    pub since: Option<Timestamp>,
    /// Events at or before this time.
    pub until: Option<Timestamp>,
}

/// A value bound to a placeholder of a built query.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bind {
    Int(i64),
    Text(String),
}

/// The `WHERE` clause of a filter (`$1 …` numbered from 1) and its values in order. Each
/// condition can be served by one of the table's indexes; a prefix is a range of the
/// (bytewise ordered) `event`.
fn where_clause(filter: &AuditFilter) -> (String, Vec<Bind>) {
    let mut conditions = Vec::new();
    let mut binds = Vec::new();
    let mut condition = |sql: &str, value: Bind, binds: &mut Vec<Bind>| {
        binds.push(value);
        conditions.push(sql.replace('?', &format!("${}", binds.len())));
    };
    if let Some(user) = filter.user_id {
        condition("user_id = ?", Bind::Int(user), &mut binds);
    }
    match filter.event.as_deref() {
        Some(prefix) if prefix.ends_with('.') => {
            condition("event >= ?", Bind::Text(prefix.to_owned()), &mut binds);
            if let Some(end) = prefix_end(prefix) {
                condition("event < ?", Bind::Text(end), &mut binds);
            }
        }
        Some(event) => condition("event = ?", Bind::Text(event.to_owned()), &mut binds),
        None => {}
    }
    if let Some(outcome) = filter.outcome {
        condition(
            "outcome = ?",
            Bind::Text(outcome.as_str().to_owned()),
            &mut binds,
        );
    }
    if let Some(ip) = &filter.ip {
        condition("ip = ?", Bind::Text(ip.clone()), &mut binds);
    }
    if let Some(since) = filter.since {
        condition("at >= ?", Bind::Int(since.as_micros()), &mut binds);
    }
    if let Some(until) = filter.until {
        condition("at <= ?", Bind::Int(until.as_micros()), &mut binds);
    }
    if conditions.is_empty() {
        (String::new(), binds)
    } else {
        (format!(" WHERE {}", conditions.join(" AND ")), binds)
    }
}

/// The first text after every text starting with `prefix` (its last character
/// incremented), or `None` when there is none.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // Past the surrogates, the next character is U+E000.
        let next =
            char::from_u32(u32::from(last) + 1).or((last == '\u{D7FF}').then_some('\u{E000}'));
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// A page of one user's events, newest first: the admin list's most common query, as
/// [`where_clause`] writes it (a unit test keeps the two the same).
pub(crate) const USER_EVENTS: &str = concat!(
    "SELECT ",
    audit_columns!(),
    " FROM audit_events WHERE user_id = $1 ORDER BY at DESC, id DESC LIMIT $2 OFFSET $3"
);

/// One batch of a prune (`audit_events_at_idx`).
pub(crate) const PRUNE_AUDIT_BATCH: &str = "DELETE FROM audit_events WHERE id IN \
     (SELECT id FROM audit_events WHERE at < $1 ORDER BY at LIMIT $2)";

fn cut(value: Option<&str>, max: usize) -> Option<String> {
    value.map(|v| v.chars().take(max).collect())
}

/// An event's row values, bounded, in column order (after `id`).
struct Row {
    at: Timestamp,
    event: String,
    outcome: &'static str,
    user_id: Option<i64>,
    actor_id: Option<i64>,
    username: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    session_id: Option<String>,
    detail: Option<String>,
}

impl Row {
    fn of(event: &NewAuditEvent) -> Self {
        Row {
            at: event.at,
            event: event.event.chars().take(MAX_NAME_CHARS).collect(),
            outcome: event.outcome.as_str(),
            user_id: event.user_id,
            actor_id: event.actor_id,
            username: cut(event.username.as_deref(), MAX_AUDIT_USERNAME_CHARS),
            ip: cut(event.ip.as_deref(), MAX_IP_CHARS),
            user_agent: cut(event.user_agent.as_deref(), MAX_USER_AGENT_CHARS),
            session_id: cut(event.session_id.as_deref(), MAX_NAME_CHARS),
            detail: event.detail.as_ref().map(serde_json::Value::to_string),
        }
    }
}

/// Binds a built query's values in order (one expansion per engine).
macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut query = $query;
        for bind in $binds {
            query = match bind {
                Bind::Int(value) => query.bind(*value),
                Bind::Text(value) => query.bind(value.as_str()),
            };
        }
        query
    }};
}

impl Store {
    /// Writes `events` in one transaction (multi-row `INSERT`s of at most 500 rows): all of
    /// them or none. Free-text values are cut to their bounds.
    ///
    /// # Errors
    /// The database error; nothing was written then.
    pub async fn insert_audit_events(&self, events: &[NewAuditEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let rows: Vec<Row> = events.iter().map(Row::of).collect();
        // Retried only when the database said it did not apply the transaction: a second
        // run after a broken connection could write the events twice.
        db!(write self, Retry::NotApplied, |pool| async {
            let mut tx = pool.begin().await?;
            for chunk in rows.chunks(INSERT_CHUNK) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO audit_events (at, event, outcome, user_id, actor_id, username, \
                     ip, user_agent, session_id, detail) ",
                );
                insert.push_values(chunk, |mut values, row| {
                    values
                        .push_bind(row.at)
                        .push_bind(row.event.as_str())
                        .push_bind(row.outcome)
                        .push_bind(row.user_id)
                        .push_bind(row.actor_id)
                        .push_bind(row.username.as_deref())
                        .push_bind(row.ip.as_deref())
                        .push_bind(row.user_agent.as_deref())
                        .push_bind(row.session_id.as_deref())
                        .push_bind(row.detail.as_deref());
                });
                insert.build().execute(&mut *tx).await?;
            }
            tx.commit().await
        }
        .await)
    }

    /// One page of the events `filter` selects, newest first (by time, then by id), and
    /// how many it selects in all.
    ///
    /// # Errors
    /// The database error.
    pub async fn list_audit_events(
        &self,
        filter: &AuditFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<AuditEvent>)> {
        let (conditions, binds) = where_clause(filter);
        let count_sql = format!("SELECT COUNT(*) FROM audit_events{conditions}");
        let (count,) = db!(self, Retry::Idempotent, |pool| {
            bind_all!(
                sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(count_sql.as_str())),
                &binds
            )
            .fetch_one(pool)
            .await
        })?;
        if count == 0 || offset >= count {
            return Ok((count, Vec::new()));
        }
        let n = binds.len();
        let page_sql = format!(
            "SELECT {} FROM audit_events{conditions} ORDER BY at DESC, id DESC LIMIT ${} OFFSET ${}",
            audit_columns!(),
            n + 1,
            n + 2
        );
        let events = db!(self, Retry::Idempotent, |pool| {
            bind_all!(
                sqlx::query_as::<_, AuditEvent>(sqlx::AssertSqlSafe(page_sql.as_str())),
                &binds
            )
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await
        })?;
        Ok((count, events))
    }

    /// Deletes the events that happened before `older_than`, 1000 rows per
    /// statement, each its own short transaction. Returns how many went.
    ///
    /// # Errors
    /// The database error; rows deleted by earlier batches stay deleted.
    pub async fn prune_audit_events(&self, older_than: Timestamp) -> Result<u64> {
        let mut total = 0u64;
        loop {
            let deleted = changed_rows!(self, PRUNE_AUDIT_BATCH, older_than, PRUNE_BATCH)?;
            total += deleted;
            if deleted < PRUNE_BATCH.unsigned_abs() {
                break;
            }
            tokio::task::yield_now().await;
        }
        if total > 0 {
            tracing::debug!(deleted = total, "pruned old audit events");
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_through_text() {
        for outcome in [AuditOutcome::Success, AuditOutcome::Failure] {
            assert_eq!(AuditOutcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(AuditOutcome::parse("Success"), None);
        assert_eq!(AuditOutcome::Failure.to_string(), "failure");
    }

    #[test]
    fn the_user_filter_builds_the_query_whose_plan_is_checked() {
        let filter = AuditFilter {
            user_id: Some(7),
            ..AuditFilter::default()
        };
        let (conditions, binds) = where_clause(&filter);
        let built = format!(
            "SELECT {} FROM audit_events{conditions} ORDER BY at DESC, id DESC LIMIT $2 OFFSET $3",
            audit_columns!()
        );
        assert_eq!(built, USER_EVENTS);
        assert_eq!(binds, [Bind::Int(7)]);
    }

    #[test]
    fn every_filter_numbers_its_placeholders_in_order() {
        let filter = AuditFilter {
            user_id: Some(1),
            event: Some("login.".into()),
            outcome: Some(AuditOutcome::Failure),
            ip: Some("10.0.0.1".into()),
            since: Some(Timestamp::from_micros(5)),
            until: Some(Timestamp::from_micros(9)),
        };
        let (conditions, binds) = where_clause(&filter);
        assert_eq!(
            conditions,
            " WHERE user_id = $1 AND event >= $2 AND event < $3 AND outcome = $4 AND ip = $5 \
             AND at >= $6 AND at <= $7"
        );
        assert_eq!(binds[1], Bind::Text("login.".into()));
        assert_eq!(binds[2], Bind::Text("login/".into()));
        assert_eq!(where_clause(&AuditFilter::default()).0, "");
        let exact = AuditFilter {
            event: Some("logout".into()),
            ..AuditFilter::default()
        };
        assert_eq!(where_clause(&exact).0, " WHERE event = $1");
    }

    #[test]
    fn a_prefix_ends_at_its_last_character_plus_one() {
        assert_eq!(prefix_end("login.").as_deref(), Some("login/"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_end("\u{10FFFF}"), None);
    }

    #[test]
    fn free_text_is_cut_to_its_bound() {
        let mut event = NewAuditEvent::new(
            Timestamp::from_micros(1),
            "x".repeat(100),
            AuditOutcome::Success,
        );
        event.username = Some("é".repeat(300));
        event.user_agent = Some("u".repeat(600));
        event.ip = Some("1".repeat(100));
        event.detail = Some(serde_json::json!({"via": "cli"}));
        let row = Row::of(&event);
        assert_eq!(row.event.chars().count(), MAX_NAME_CHARS);
        assert_eq!(
            row.username.unwrap().chars().count(),
            MAX_AUDIT_USERNAME_CHARS
        );
        assert_eq!(row.user_agent.unwrap().len(), MAX_USER_AGENT_CHARS);
        assert_eq!(row.ip.unwrap().len(), MAX_IP_CHARS);
        assert_eq!(row.detail.as_deref(), Some(r#"{"via":"cli"}"#));
    }
}
