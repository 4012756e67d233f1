//! simplejwt refresh tokens imported from Django (`foreign_refresh_tokens`), and the
//! cut-over's writes: a token adopted once into a session, or blacklisted.

use tessera_core::Timestamp;

use crate::engine::Retry;
use crate::error::Result;
use crate::sessions::SELECT_SESSION;
use crate::{NewSession, RevokeReason, Session, Store};

/// Every column of `foreign_refresh_tokens`, by `jti`.
pub(crate) const SELECT_FOREIGN: &str = "SELECT jti, user_id, expires_at, blacklisted_at, \
     adopted_at, session_id, imported_at FROM foreign_refresh_tokens WHERE jti = $1";

/// Blacklists every imported token of user `$1` not blacklisted yet, at `$2` — run with
/// every write that ends all of a user's sessions, in its transaction.
pub(crate) const BLACKLIST_USER_FOREIGN: &str = "UPDATE foreign_refresh_tokens \
     SET blacklisted_at = $2 WHERE user_id = $1 AND blacklisted_at IS NULL";

/// Blacklists imported token `$1` of user `$2` at `$3` (kept when it already was), in one
/// statement; returns the row as it now is.
pub(crate) const BLACKLIST_FOREIGN: &str = "UPDATE foreign_refresh_tokens \
     SET blacklisted_at = COALESCE(blacklisted_at, $3) WHERE jti = $1 AND user_id = $2 \
     RETURNING jti, user_id, expires_at, blacklisted_at, adopted_at, session_id, imported_at";

/// Revokes session `$1` (the one adopted from a foreign token) at `$2` for reason `$3`,
/// unless it already was.
pub(crate) const REVOKE_ADOPTED_SESSION: &str = "UPDATE sessions SET revoked_at = $2, \
     revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL";

/// A simplejwt refresh token imported from Django: its id, never the token.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ForeignToken {
    /// The token's `jti`.
    pub jti: String,
    /// Its user.
    pub user_id: i64,
    /// When it expires.
    pub expires_at: Timestamp,
    /// When it was blacklisted (in Django, or by a Tessera logout).
    pub blacklisted_at: Option<Timestamp>,
    /// When a refresh adopted it.
    pub adopted_at: Option<Timestamp>,
    /// The session it was adopted into.
    pub session_id: Option<String>,
    /// When it was imported.
    pub imported_at: Timestamp,
}

/// What presenting a foreign refresh token came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adoption {
    /// Adopted now, into this new session.
    Adopted(Session),
    /// Adopted before (into `session_id`): this is a second presentation.
    AlreadyAdopted(ForeignToken),
    /// Not adoptable: unknown (`None`), another user's, blacklisted, expired, its user
    /// inactive, or issued before the user's password changed (or they logged out
    /// everywhere).
    Refused(Option<ForeignToken>),
}

impl Store {
    /// The imported token with this `jti`.
    ///
    /// # Errors
    /// The database error.
    pub async fn foreign_token(&self, jti: &str) -> Result<Option<ForeignToken>> {
        fetch!(self, fetch_optional, ForeignToken, SELECT_FOREIGN, jti)
    }

    /// Adopts the imported token `jti` of `user_id` into a new session described by
    /// `session` — in one transaction whose conditional `UPDATE` lets only one of any
    /// number of concurrent presentations win: the token must be imported, this user's,
    /// not adopted, not blacklisted, not expired at `session.now`, its user active, and
    /// `issued_at` (the token's `iat`) not before the second of the user's last password
    /// change or "log out everywhere" (`iat` counts whole seconds, as for every token).
    ///
    /// # Errors
    /// The database error.
    pub async fn adopt_foreign_token(
        &self,
        jti: &str,
        user_id: i64,
        issued_at: Timestamp,
        session: &NewSession,
    ) -> Result<Adoption> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        // A change at or after the second following `iat` is later than the token.
        let changed_before = Timestamp::from_secs(issued_at.as_secs().saturating_add(1));
        db!(write self, Retry::NotApplied, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            let won = sqlx::query(
                "UPDATE foreign_refresh_tokens SET adopted_at = $3, session_id = $4 \
                 WHERE jti = $1 AND user_id = $2 AND adopted_at IS NULL \
                 AND blacklisted_at IS NULL AND expires_at > $3 \
                 AND EXISTS (SELECT 1 FROM users WHERE users.id = foreign_refresh_tokens.user_id \
                 AND users.is_active \
                 AND (users.password_changed_at IS NULL OR users.password_changed_at < $5))",
            )
            .bind(jti)
            .bind(user_id)
            .bind(session.now)
            .bind(&id)
            .bind(changed_before)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            if !won {
                let row = sqlx::query_as::<_, ForeignToken>(SELECT_FOREIGN)
                    .bind(jti)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.rollback().await?;
                return Ok(match row {
                    Some(row) if row.adopted_at.is_some() && row.user_id == user_id => {
                        Adoption::AlreadyAdopted(row)
                    }
                    other => Adoption::Refused(other),
                });
            }
            sqlx::query(
                "INSERT INTO sessions (id, user_id, kind, current_jti, current_iat, expires_at, \
                 created_at, last_used_at, user_agent, ip) \
                 VALUES ($1, $2, 'refresh', $3, $4, $5, $6, $6, $7, $8)",
            )
            .bind(&id)
            .bind(user_id)
            .bind(&session.jti)
            .bind(session.iat.as_secs())
            .bind(session.expires_at.as_secs())
            .bind(session.now)
            .bind(crate::sessions::truncate_user_agent(session.user_agent.as_deref()))
            .bind(crate::sessions::truncate_ip(session.ip.as_deref()))
            .execute(&mut *tx)
            .await?;
            let created = sqlx::query_as::<_, Session>(SELECT_SESSION)
                .bind(&id)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Adoption::Adopted(created))
        }
        .await)
    }

    /// Deletes the imported tokens that expired before `before`: none can be adopted any
    /// more (`flushexpiredtokens`). Returns how many went.
    ///
    /// # Errors
    /// The database error.
    pub async fn flush_expired_foreign_tokens(&self, before: Timestamp) -> Result<u64> {
        changed_rows!(
            self,
            "DELETE FROM foreign_refresh_tokens WHERE expires_at < $1",
            before
        )
    }

    /// Blacklists the imported token `jti` of `user_id` (a logout or the blacklist route
    /// given it) and revokes the session adopted from it, if any, with `reason` — in one
    /// transaction whose single conditional `UPDATE` either runs after a concurrent
    /// adoption (and so sees and ends its session) or before it (which then fails).
    /// Returns the row as it now is, `None` when no such token was imported for that user.
    ///
    /// # Errors
    /// The database error.
    pub async fn blacklist_foreign_token(
        &self,
        jti: &str,
        user_id: i64,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<Option<ForeignToken>> {
        let blacklisted = db!(write self, Retry::Idempotent, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            let row = sqlx::query_as::<_, ForeignToken>(BLACKLIST_FOREIGN)
                .bind(jti)
                .bind(user_id)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(sid) = row.as_ref().and_then(|row| row.session_id.as_deref()) {
                sqlx::query(REVOKE_ADOPTED_SESSION)
                    .bind(sid)
                    .bind(now)
                    .bind(reason.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(row)
        }
        .await);
        self.counted(blacklisted)
    }
}
