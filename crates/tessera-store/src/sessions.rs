//! Login sessions: one row per login, holding that login's refresh-token family.
//!
//! Every state change is a single conditional `UPDATE … RETURNING`, so concurrent requests
//! presenting the same token cannot both win (no read-then-write).

use std::fmt;

use tessera_core::Timestamp;

use crate::Store;
use crate::engine::Retry;
use crate::error::Result;

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

/// Why a session was revoked, as stored in `sessions.revoked_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RevokeReason {
    /// Its refresh token was blacklisted (simplejwt's blacklist route).
    Blacklisted,
    /// A refresh token that had been rotated away was presented again.
    ReuseDetected,
    /// The user logged out (the logout routes).
    Logout,
    /// The user ended this one session from their sessions list.
    EndedByUser,
    /// The user logged out everywhere: every token issued before is refused.
    LogoutAll,
    /// The password changed: every token issued before is refused.
    PasswordChanged,
    /// Staff deactivated the user.
    Deactivated,
    /// Staff ended the user's sessions.
    Admin,
    /// A reason this build does not know (written by a newer one); read, never written.
    Other,
}

impl RevokeReason {
    /// The stored text (`"logout"`, `"reuse_detected"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blacklisted => "blacklisted",
            Self::ReuseDetected => "reuse_detected",
            Self::Logout => "logout",
            Self::EndedByUser => "ended_by_user",
            Self::LogoutAll => "logout_all",
            Self::PasswordChanged => "password_changed",
            Self::Deactivated => "deactivated",
            Self::Admin => "admin",
            Self::Other => "other",
        }
    }

    /// The reason stored as `text`; one this build does not know is [`RevokeReason::Other`].
    pub fn from_stored(text: &str) -> Self {
        [
            Self::Blacklisted,
            Self::ReuseDetected,
            Self::Logout,
            Self::EndedByUser,
            Self::LogoutAll,
            Self::PasswordChanged,
            Self::Deactivated,
            Self::Admin,
        ]
        .into_iter()
        .find(|reason| reason.as_str() == text)
        .unwrap_or(Self::Other)
    }

    /// Whether it ends every token issued before it — a password change or a "log out
    /// everywhere" — rather than one session.
    pub fn ends_everything(self) -> bool {
        matches!(self, Self::PasswordChanged | Self::LogoutAll)
    }
}

impl fmt::Display for RevokeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<DB: sqlx::Database> sqlx::Type<DB> for RevokeReason
where
    String: sqlx::Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <String as sqlx::Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <String as sqlx::Type<DB>>::compatible(ty)
    }
}

impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for RevokeReason
where
    String: sqlx::Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let text = <String as sqlx::Decode<'r, DB>>::decode(value)?;
        Ok(Self::from_stored(&text))
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
    /// Its `iat` (stored in whole seconds, like the claim).
    #[sqlx(try_from = "WholeSeconds")]
    pub current_iat: Timestamp,
    /// Its `exp` (stored in whole seconds, like the claim).
    #[sqlx(try_from = "WholeSeconds")]
    pub expires_at: Timestamp,
    /// `jti` of the token replaced by the last rotation.
    pub previous_jti: Option<String>,
    /// Last rotation.
    pub rotated_at: Option<Timestamp>,
    /// Number of rotations so far.
    pub rotation_counter: i64,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last use (rotation, touch or slide).
    pub last_used_at: Timestamp,
    /// Revocation time.
    pub revoked_at: Option<Timestamp>,
    /// Why it was revoked (the first reason given).
    pub revoked_reason: Option<RevokeReason>,
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
    /// Its `iat`.
    pub iat: Timestamp,
    /// Its `exp`.
    pub expires_at: Timestamp,
    /// `User-Agent` header (truncated to 512 characters).
    pub user_agent: Option<String>,
    /// Client IP (truncated to 64 characters).
    pub ip: Option<String>,
    /// Current time.
    pub now: Timestamp,
}

/// The new token of a rotation, for [`Store::rotate_session`].
#[derive(Debug, Clone)]
pub struct Rotation {
    /// `jti` of the new token.
    pub new_jti: String,
    /// Its `iat`.
    pub new_iat: Timestamp,
    /// Its `exp`.
    pub new_expires_at: Timestamp,
    /// Current time.
    pub now: Timestamp,
}

/// A column kept in whole seconds, as JWT claims count time (`current_iat`, `expires_at`).
#[derive(sqlx::Type)]
#[sqlx(transparent)]
struct WholeSeconds(i64);

impl From<WholeSeconds> for Timestamp {
    fn from(stored: WholeSeconds) -> Self {
        Timestamp::from_secs(stored.0)
    }
}

fn truncate_chars(value: Option<&str>, max: usize) -> Option<String> {
    value.map(|v| v.chars().take(max).collect())
}

/// A `User-Agent` as a session stores it (at most 512 characters).
pub(crate) fn truncate_user_agent(value: Option<&str>) -> Option<String> {
    truncate_chars(value, MAX_USER_AGENT_CHARS)
}

/// A client address as a session stores it (at most 64 characters).
pub(crate) fn truncate_ip(value: Option<&str>) -> Option<String> {
    truncate_chars(value, MAX_IP_CHARS)
}

/// The session by id (authentication's and verify's lookup: the primary key).
pub(crate) const SELECT_SESSION: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions WHERE id = $1"
);

/// A refresh: the one conditional write that rotates (the primary key, then the row's own
/// `current_jti` and `revoked_at`).
pub(crate) const ROTATE_SESSION: &str = "UPDATE sessions SET previous_jti = current_jti, current_jti = $3, current_iat = $4, \
     expires_at = $5, rotated_at = $6, last_used_at = $6, \
     rotation_counter = rotation_counter + 1 \
     WHERE id = $1 AND current_jti = $2 AND revoked_at IS NULL \
     AND EXISTS (SELECT 1 FROM users WHERE users.id = sessions.user_id AND users.is_active) \
     RETURNING user_id";

/// A refresh without rotation: records the use of the current token.
pub(crate) const TOUCH_SESSION: &str = concat!(
    "UPDATE sessions SET last_used_at = $3 \
     WHERE id = $1 AND current_jti = $2 AND revoked_at IS NULL RETURNING ",
    session_columns!()
);

/// A logout or blacklist: revokes only while `jti` is current.
pub(crate) const REVOKE_SESSION_IF_CURRENT: &str = "UPDATE sessions SET revoked_at = $3, revoked_reason = $4 \
     WHERE id = $1 AND current_jti = $2 AND revoked_at IS NULL";

/// Every not-yet-revoked session of a user (`sessions_user_id_idx`).
pub(crate) const REVOKE_USER_SESSIONS: &str = "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 \
     WHERE user_id = $1 AND revoked_at IS NULL";

/// A user's live sessions, newest first (`sessions_user_id_idx`).
pub(crate) const LIVE_SESSIONS: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at >= $2 \
     ORDER BY created_at DESC, id DESC"
);

/// One batch of `flushexpiredtokens` (`sessions_expires_at_idx`). PostgreSQL skips rows
/// another transaction holds, so a flush never waits behind a request (nor two flushes
/// behind each other).
pub(crate) const FLUSH_BATCH_SQLITE: &str = "DELETE FROM sessions WHERE id IN \
     (SELECT id FROM sessions WHERE expires_at < $1 LIMIT $2)";
/// [`FLUSH_BATCH_SQLITE`] for PostgreSQL.
pub(crate) const FLUSH_BATCH_POSTGRES: &str = "DELETE FROM sessions WHERE id IN \
     (SELECT id FROM sessions WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)";

impl Store {
    /// Creates a session with a fresh random id. A retry after a connection failure finds
    /// the row the first try may have written, rather than writing a second one.
    ///
    /// # Errors
    /// The database error (e.g. a foreign-key violation for an unknown user).
    pub async fn create_session(&self, new: &NewSession) -> Result<Session> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let user_agent = truncate_chars(new.user_agent.as_deref(), MAX_USER_AGENT_CHARS);
        let ip = truncate_chars(new.ip.as_deref(), MAX_IP_CHARS);
        db!(write self, Retry::Idempotent, |pool| {
            let created = sqlx::query_as::<_, Session>(concat!(
                "INSERT INTO sessions (id, user_id, kind, current_jti, current_iat, expires_at, \
                 created_at, last_used_at, user_agent, ip) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9) \
                 ON CONFLICT (id) DO NOTHING RETURNING ",
                session_columns!()
            ))
            .bind(&id)
            .bind(new.user_id)
            .bind(new.kind.as_str())
            .bind(&new.jti)
            .bind(new.iat.as_secs())
            .bind(new.expires_at.as_secs())
            .bind(new.now)
            .bind(&user_agent)
            .bind(&ip)
            .fetch_optional(pool)
            .await;
            match created {
                Ok(Some(session)) => Ok(session),
                // Already there: an earlier try of this very call wrote it.
                Ok(None) => {
                    sqlx::query_as::<_, Session>(SELECT_SESSION)
                        .bind(&id)
                        .fetch_one(pool)
                        .await
                }
                Err(error) => Err(error),
            }
        })
    }

    /// The session with this id, revoked or not.
    ///
    /// # Errors
    /// The database error.
    pub async fn session(&self, id: &str) -> Result<Option<Session>> {
        fetch!(self, fetch_optional, Session, SELECT_SESSION, id)
    }

    /// Atomically replaces the current token of a live session whose current `jti` is
    /// `old_jti` and whose user is active, in one conditional `UPDATE … RETURNING`. The
    /// session's owner (its `user_id`) for the single winner, `None` for everybody else
    /// (wrong/stale jti, revoked, unknown session, inactive user). Only the owner comes
    /// back: a refresh needs nothing else, and every column returned is copied out of SQLite
    /// and decoded on the hottest write path; [`Store::session`] reads the whole row.
    ///
    /// On SQLite, rotations waiting at the same time are committed together, each its own
    /// statement in one transaction, and each answered once it committed (`rotations.rs`).
    ///
    /// # Errors
    /// The database error.
    pub async fn rotate_session(
        &self,
        id: &str,
        old_jti: &str,
        rotation: &Rotation,
    ) -> Result<Option<i64>> {
        if let crate::engine::Pool::Sqlite(pool) = self.writer() {
            return self.rotations.rotate(pool, id, old_jti, rotation).await;
        }
        fetch!(
            write self,
            fetch_optional,
            (i64,),
            ROTATE_SESSION,
            id,
            old_jti,
            &rotation.new_jti,
            rotation.new_iat.as_secs(),
            rotation.new_expires_at.as_secs(),
            rotation.now,
        )
        .map(|row| row.map(|(owner,)| owner))
    }

    /// How many rotations this store (every clone) committed in a transaction shared with
    /// other rotations, on SQLite; always `0` on PostgreSQL, where rotations run in parallel.
    /// A figure for tests and diagnostics.
    pub fn rotations_grouped(&self) -> u64 {
        self.rotations.grouped()
    }

    /// Records a use of the current token without rotating it. `None` unless `jti` is
    /// current and the session is not revoked.
    ///
    /// # Errors
    /// The database error.
    pub async fn touch_session(
        &self,
        id: &str,
        jti: &str,
        now: Timestamp,
    ) -> Result<Option<Session>> {
        fetch!(write self, fetch_optional, Session, TOUCH_SESSION, id, jti, now)
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
        new_iat: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Session>> {
        fetch!(
            write self,
            fetch_optional,
            Session,
            concat!(
                "UPDATE sessions SET current_iat = $3, last_used_at = $4 \
                 WHERE id = $1 AND current_jti = $2 AND revoked_at IS NULL RETURNING ",
                session_columns!()
            ),
            id,
            jti,
            new_iat.as_secs(),
            now,
        )
    }

    /// Revokes the session unless it is already revoked (the first reason is kept).
    /// `true` if this call revoked it.
    ///
    /// # Errors
    /// The database error.
    pub async fn revoke_session(
        &self,
        id: &str,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<bool> {
        let sql = "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 \
                   WHERE id = $1 AND revoked_at IS NULL";
        Ok(self.counted(changed_rows!(self, sql, id, now, reason.as_str()))? > 0)
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
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<bool> {
        let revoked = changed_rows!(
            self,
            REVOKE_SESSION_IF_CURRENT,
            id,
            jti,
            now,
            reason.as_str()
        );
        Ok(self.counted(revoked)? > 0)
    }

    /// Revokes one live session of a user (only theirs). `true` if this call revoked it.
    ///
    /// # Errors
    /// The database error.
    pub async fn revoke_user_session(
        &self,
        user_id: i64,
        id: &str,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<bool> {
        let sql = "UPDATE sessions SET revoked_at = $3, revoked_reason = $4 \
                   WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL";
        let revoked = changed_rows!(self, sql, id, user_id, now, reason.as_str());
        Ok(self.counted(revoked)? > 0)
    }

    /// Revokes every not-yet-revoked session of the user — including expired ones still
    /// awaiting [`flush_expired_sessions`](Store::flush_expired_sessions), so no token
    /// accepted within a clock leeway survives — and blacklists every token of theirs
    /// imported from Django (none may be adopted after), in one transaction. Returns how
    /// many sessions were revoked.
    ///
    /// # Errors
    /// The database error.
    pub async fn revoke_user_sessions(
        &self,
        user_id: i64,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<u64> {
        let revoked = db!(write self, Retry::Idempotent, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            let revoked = sqlx::query(REVOKE_USER_SESSIONS)
                .bind(user_id)
                .bind(now)
                .bind(reason.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(crate::django::BLACKLIST_USER_FOREIGN)
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(revoked)
        }
        .await);
        self.counted(revoked)
    }

    /// The user's live sessions — not revoked and not expired at `now` (the complement
    /// of what [`flush_expired_sessions`](Store::flush_expired_sessions) deletes) — newest
    /// first.
    ///
    /// # Errors
    /// The database error.
    pub async fn live_sessions(&self, user_id: i64, now: Timestamp) -> Result<Vec<Session>> {
        fetch!(
            self,
            fetch_all,
            Session,
            LIVE_SESSIONS,
            user_id,
            now.as_secs()
        )
    }

    /// Deletes sessions expired before `now` (revoked or not), `batch` rows per
    /// statement (a `batch` of 0 is treated as 1), each statement its own short
    /// transaction, so the flush never holds a lock for long and servers keep serving
    /// while it runs. Returns the number of rows deleted.
    ///
    /// # Errors
    /// The database error; rows deleted by earlier batches stay deleted.
    pub async fn flush_expired_sessions(&self, now: Timestamp, batch: u32) -> Result<u64> {
        let batch = batch.max(1);
        let mut total = 0u64;
        loop {
            let deleted = db!(write self, Retry::Idempotent, |pool, engine| {
                sqlx::query(engine.pick(FLUSH_BATCH_SQLITE, FLUSH_BATCH_POSTGRES))
                    .bind(now.as_secs())
                    .bind(i64::from(batch))
                    .execute(pool)
                    .await
                    .map(|done| done.rows_affected())
            });
            // A live session deleted is logged as ended.
            let deleted = self.counted_rows(deleted)?;
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
    fn revoke_reasons_round_trip_and_unknown_ones_are_other() {
        for reason in [
            RevokeReason::Blacklisted,
            RevokeReason::ReuseDetected,
            RevokeReason::Logout,
            RevokeReason::EndedByUser,
            RevokeReason::LogoutAll,
            RevokeReason::PasswordChanged,
            RevokeReason::Deactivated,
            RevokeReason::Admin,
        ] {
            assert_eq!(RevokeReason::from_stored(reason.as_str()), reason);
        }
        assert_eq!(
            RevokeReason::from_stored("from_a_newer_build"),
            RevokeReason::Other
        );
        let everything: Vec<_> = [
            RevokeReason::PasswordChanged,
            RevokeReason::LogoutAll,
            RevokeReason::Logout,
        ]
        .into_iter()
        .map(RevokeReason::ends_everything)
        .collect();
        assert_eq!(everything, [true, true, false]);
    }

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
