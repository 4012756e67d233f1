//! Login sessions: one row per login, holding that login's refresh-token family.
//!
//! Every state change is a single conditional `UPDATE … RETURNING`, so concurrent requests
//! presenting the same token cannot both win (no read-then-write).

use std::fmt;

use crate::error::Result;
use crate::store::Store;

/// Longest stored `User-Agent`, in characters.
const MAX_USER_AGENT_CHARS: usize = 512;
/// Longest stored IP address text, in characters.
const MAX_IP_CHARS: usize = 64;

/// Every column of `sessions`, in a fixed order.
macro_rules! session_columns {
    () => {
        "id, user_id, kind, current_jti, current_iat, expires_at, previous_jti, rotated_at, \
         rotation_counter, created_at, last_used_at, revoked_at, revoked_reason, user_agent, ip"
    };
}

/// Which kind of token family a session holds. Stored as TEXT `'refresh'` / `'sliding'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// Refresh tokens (access tokens are minted from them).
    Refresh,
    /// Sliding tokens (one token is both access and refresh).
    Sliding,
}

impl SessionKind {
    /// The stored text: `"refresh"` or `"sliding"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Refresh => "refresh",
            SessionKind::Sliding => "sliding",
        }
    }
}

impl fmt::Display for SessionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stored `kind` is neither `'refresh'` nor `'sliding'`.
#[derive(Debug, thiserror::Error)]
#[error("unknown session kind {0:?}")]
pub struct UnknownSessionKind(String);

impl TryFrom<String> for SessionKind {
    type Error = UnknownSessionKind;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "refresh" => Ok(SessionKind::Refresh),
            "sliding" => Ok(SessionKind::Sliding),
            _ => Err(UnknownSessionKind(value)),
        }
    }
}

/// One login session.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Session {
    /// 32 lowercase hex characters (UUID v4, simple form).
    pub id: String,
    /// Owner.
    pub user_id: i64,
    /// Token family kind.
    #[sqlx(try_from = "String")]
    pub kind: SessionKind,
    /// `jti` of the newest refresh (or sliding) token of the family.
    pub current_jti: String,
    /// Its `iat`, seconds.
    pub current_iat: i64,
    /// Its `exp`, seconds.
    pub expires_at: i64,
    /// `jti` of the token replaced by the last rotation.
    pub previous_jti: Option<String>,
    /// Last rotation, microseconds.
    pub rotated_at: Option<i64>,
    /// Number of rotations so far.
    pub rotation_counter: i64,
    /// Creation time, microseconds.
    pub created_at: i64,
    /// Last use (rotation, touch or slide), microseconds.
    pub last_used_at: i64,
    /// Revocation time, microseconds.
    pub revoked_at: Option<i64>,
    /// Why it was revoked (the first reason given).
    pub revoked_reason: Option<String>,
    /// `User-Agent` at login (at most 512 characters).
    pub user_agent: Option<String>,
    /// Client IP at login (at most 64 characters).
    pub ip: Option<String>,
}

impl Session {
    /// Whether the session has been revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

/// Data for [`Store::create_session`].
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Owner.
    pub user_id: i64,
    /// Token family kind.
    pub kind: SessionKind,
    /// `jti` of the first token.
    pub jti: String,
    /// Its `iat`, seconds.
    pub iat: i64,
    /// Its `exp`, seconds.
    pub expires_at: i64,
    /// `User-Agent` header (truncated to 512 characters).
    pub user_agent: Option<String>,
    /// Client IP (truncated to 64 characters).
    pub ip: Option<String>,
    /// Current time, microseconds.
    pub now: i64,
}

/// The new token of a rotation, for [`Store::rotate_session`].
#[derive(Debug, Clone)]
pub struct Rotation {
    /// `jti` of the new token.
    pub new_jti: String,
    /// Its `iat`, seconds.
    pub new_iat: i64,
    /// Its `exp`, seconds.
    pub new_expires_at: i64,
    /// Current time, microseconds.
    pub now: i64,
}

fn truncate_chars(value: Option<&str>, max: usize) -> Option<String> {
    value.map(|v| v.chars().take(max).collect())
}

impl Store {
    /// Creates a session with a fresh random id.
    ///
    /// # Errors
    /// The database error (e.g. a foreign-key violation for an unknown user).
    pub async fn create_session(&self, new: &NewSession) -> Result<Session> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Ok(sqlx::query_as::<_, Session>(concat!(
            "INSERT INTO sessions (id, user_id, kind, current_jti, current_iat, expires_at, \
             created_at, last_used_at, user_agent, ip) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9) RETURNING ",
            session_columns!()
        ))
        .bind(id)
        .bind(new.user_id)
        .bind(new.kind.as_str())
        .bind(&new.jti)
        .bind(new.iat)
        .bind(new.expires_at)
        .bind(new.now)
        .bind(truncate_chars(
            new.user_agent.as_deref(),
            MAX_USER_AGENT_CHARS,
        ))
        .bind(truncate_chars(new.ip.as_deref(), MAX_IP_CHARS))
        .fetch_one(&self.pool)
        .await?)
    }

    /// The session with this id, revoked or not.
    ///
    /// # Errors
    /// The database error.
    pub async fn session(&self, id: &str) -> Result<Option<Session>> {
        Ok(sqlx::query_as::<_, Session>(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Atomically replaces the current token of a live session whose current `jti` is
    /// `old_jti`, in one conditional `UPDATE … RETURNING`. `Some` for the single winner,
    /// `None` for everybody else (wrong/stale jti, revoked, unknown session).
    ///
    /// # Errors
    /// The database error.
    pub async fn rotate_session(
        &self,
        id: &str,
        old_jti: &str,
        rotation: &Rotation,
    ) -> Result<Option<Session>> {
        Ok(sqlx::query_as::<_, Session>(concat!(
            "UPDATE sessions SET previous_jti = current_jti, current_jti = $3, current_iat = $4, \
             expires_at = $5, rotated_at = $6, last_used_at = $6, \
             rotation_counter = rotation_counter + 1 \
             WHERE id = $1 AND current_jti = $2 AND revoked_at IS NULL RETURNING ",
            session_columns!()
        ))
        .bind(id)
        .bind(old_jti)
        .bind(&rotation.new_jti)
        .bind(rotation.new_iat)
        .bind(rotation.new_expires_at)
        .bind(rotation.now)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records a use of the current token without rotating it. `None` unless `jti` is
    /// current and the session is not revoked.
    ///
    /// # Errors
    /// The database error.
    pub async fn touch_session(&self, id: &str, jti: &str, now: i64) -> Result<Option<Session>> {
        Ok(sqlx::query_as::<_, Session>(concat!(
            "UPDATE sessions SET last_used_at = $3 \
             WHERE id = $1 AND current_jti = $2 AND revoked_at IS NULL RETURNING ",
            session_columns!()
        ))
        .bind(id)
        .bind(jti)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Sliding refresh: keeps the `jti` and `expires_at`, moves `current_iat`. `None` unless
    /// `jti` is current and the session is not revoked.
    ///
    /// # Errors
    /// The database error.
    pub async fn slide_session(
        &self,
        id: &str,
        jti: &str,
        new_iat: i64,
        now: i64,
    ) -> Result<Option<Session>> {
        Ok(sqlx::query_as::<_, Session>(concat!(
            "UPDATE sessions SET current_iat = $3, last_used_at = $4 \
             WHERE id = $1 AND current_jti = $2 AND revoked_at IS NULL RETURNING ",
            session_columns!()
        ))
        .bind(id)
        .bind(jti)
        .bind(new_iat)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Revokes the session unless it is already revoked (the first reason is kept).
    /// `true` if this call revoked it.
    ///
    /// # Errors
    /// The database error.
    pub async fn revoke_session(&self, id: &str, reason: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 \
             WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Revokes the session only if `jti` is its current token and it is not revoked yet,
    /// in one conditional `UPDATE`. `true` if this call revoked it.
    ///
    /// # Errors
    /// The database error.
    pub async fn revoke_session_if_current(
        &self,
        id: &str,
        jti: &str,
        reason: &str,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $3, revoked_reason = $4 \
             WHERE id = $1 AND current_jti = $2 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(jti)
        .bind(now)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Revokes one live session of a user (only theirs). `true` if this call revoked it.
    ///
    /// # Errors
    /// The database error.
    pub async fn revoke_user_session(
        &self,
        user_id: i64,
        id: &str,
        reason: &str,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $3, revoked_reason = $4 \
             WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(user_id)
        .bind(now)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Revokes every not-yet-revoked session of the user — including expired ones still
    /// awaiting [`flush_expired_sessions`](Store::flush_expired_sessions), so no token
    /// accepted within a clock leeway survives. Returns how many were revoked.
    ///
    /// # Errors
    /// The database error.
    pub async fn revoke_user_sessions(&self, user_id: i64, reason: &str, now: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 \
             WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// The user's live sessions — not revoked and `expires_at >= now_secs` (the complement
    /// of what [`flush_expired_sessions`](Store::flush_expired_sessions) deletes) — newest
    /// first.
    ///
    /// # Errors
    /// The database error.
    pub async fn live_sessions(&self, user_id: i64, now_secs: i64) -> Result<Vec<Session>> {
        Ok(sqlx::query_as::<_, Session>(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at >= $2 \
             ORDER BY created_at DESC, id DESC"
        ))
        .bind(user_id)
        .bind(now_secs)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes sessions with `expires_at < now_secs` (revoked or not), `batch` rows per
    /// statement (a `batch` of 0 is treated as 1) so no statement holds the write lock
    /// long. Returns the number of rows deleted.
    ///
    /// # Errors
    /// The database error; rows deleted by earlier batches stay deleted.
    pub async fn flush_expired_sessions(&self, now_secs: i64, batch: u32) -> Result<u64> {
        let batch = batch.max(1);
        let mut total = 0u64;
        loop {
            let done = sqlx::query(
                "DELETE FROM sessions WHERE id IN \
                 (SELECT id FROM sessions WHERE expires_at < $1 LIMIT $2)",
            )
            .bind(now_secs)
            .bind(i64::from(batch))
            .execute(&self.pool)
            .await?;
            let deleted = done.rows_affected();
            total += deleted;
            if deleted < u64::from(batch) {
                break;
            }
            tokio::task::yield_now().await;
        }
        if total > 0 {
            tracing::debug!(deleted = total, "flushed expired sessions");
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_round_trips_through_text() {
        for kind in [SessionKind::Refresh, SessionKind::Sliding] {
            assert_eq!(
                SessionKind::try_from(kind.as_str().to_owned()).unwrap(),
                kind
            );
        }
        assert_eq!(SessionKind::Sliding.to_string(), "sliding");
        assert!(SessionKind::try_from("Refresh".to_owned()).is_err());
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        let ua = "é".repeat(600);
        let cut = truncate_chars(Some(&ua), MAX_USER_AGENT_CHARS).unwrap();
        assert_eq!(cut.chars().count(), 512);
        assert_eq!(
            truncate_chars(Some("1.2.3.4"), MAX_IP_CHARS).as_deref(),
            Some("1.2.3.4")
        );
        assert_eq!(truncate_chars(None, MAX_IP_CHARS), None);
    }
}
