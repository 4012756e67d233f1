//! WebSocket tickets: short-lived, single-use credentials that open one WebSocket, stored
//! hashed so that whichever server the socket reaches can redeem them — once.
//!
//! A redemption is one conditional `DELETE … RETURNING`: of concurrent redemptions of the
//! same ticket, on any number of servers, exactly one gets the row.

use tessera_core::Timestamp;

use crate::Store;
use crate::engine::Retry;
use crate::error::Result;

/// Longest stored ticket hash, in characters (a hex SHA-256 is 64).
const MAX_HASH_CHARS: usize = 128;

/// What a redeemed ticket was issued for.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RedeemedTicket {
    /// The user it authenticates.
    pub user_id: i64,
    /// The login session of the token it was issued against, if that token had one.
    pub session_id: Option<String>,
    /// When it was issued.
    pub created_at: Timestamp,
}

impl Store {
    /// Stores a ticket by its `hash` for `user_id` (and the `session_id` of the token it was
    /// issued against), valid until `expires_at`.
    ///
    /// # Errors
    /// The database error (a duplicate hash included, which a random 256-bit secret never
    /// produces).
    pub async fn insert_ws_ticket(
        &self,
        hash: &str,
        user_id: i64,
        session_id: Option<&str>,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        db!(write self, Retry::NotApplied, |pool| {
            sqlx::query(
                "INSERT INTO ws_tickets (hash, user_id, session_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(hash)
            .bind(user_id)
            .bind(session_id)
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await
            .map(drop)
        })
    }

    /// Consumes the ticket whose hash is `hash` if it has not expired at `now`, in one
    /// conditional `DELETE … RETURNING`. `Some` for the single winner; `None` for an unknown,
    /// already used or expired ticket (an expired one stays for
    /// [`Store::flush_expired_ws_tickets`]).
    ///
    /// # Errors
    /// The database error. A retry after a lost connection may find the row already
    /// deleted by the first run and answer `None`: a ticket is never accepted twice.
    pub async fn redeem_ws_ticket(
        &self,
        hash: &str,
        now: Timestamp,
    ) -> Result<Option<RedeemedTicket>> {
        if hash.len() > MAX_HASH_CHARS {
            return Ok(None);
        }
        db!(write self, Retry::Idempotent, |pool| {
            sqlx::query_as::<_, RedeemedTicket>(
                "DELETE FROM ws_tickets WHERE hash = $1 AND expires_at > $2 \
                 RETURNING user_id, session_id, created_at",
            )
            .bind(hash)
            .bind(now)
            .fetch_optional(pool)
            .await
        })
    }

    /// Deletes the tickets that expired at or before `before`; returns how many went.
    ///
    /// # Errors
    /// The database error.
    pub async fn flush_expired_ws_tickets(&self, before: Timestamp) -> Result<u64> {
        changed_rows!(
            self,
            "DELETE FROM ws_tickets WHERE expires_at <= $1",
            before
        )
    }
}
