//! Social login: the provider accounts linked to users (`social_identities`), the
//! authorization requests under way (`social_states`), and the single-use codes and tickets
//! of the flow (`social_tickets`) — every secret only by its SHA-256.
//!
//! A state, a code or a ticket is used in one conditional `DELETE … RETURNING`: of
//! concurrent uses, on any number of servers, exactly one gets the row.

use tessera_core::Timestamp;

use crate::Store;
use crate::engine::Retry;
use crate::error::Result;

/// Longest stored hash, in characters (a hex SHA-256 is 64).
const MAX_HASH_CHARS: usize = 128;

/// A provider's account linked to a user.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SocialIdentity {
    /// Row id (the `{id}` of `DELETE social/identities/{id}/`).
    pub id: i64,
    /// The user it signs in.
    pub user_id: i64,
    /// The provider's configured name.
    pub provider: String,
    /// The provider's stable id of the account (`sub`, GitHub's numeric id).
    pub subject: String,
    /// The address the provider gave when the identity was linked (`""` for none).
    pub email: String,
    /// When it was linked.
    pub created_at: Timestamp,
    /// When it last signed the user in.
    pub last_login: Option<Timestamp>,
}

/// An authorization request to remember until the provider sends the browser back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSocialState<'a> {
    /// SHA-256 (hex) of the `state` sent to the provider.
    pub hash: &'a str,
    /// The provider's configured name.
    pub provider: &'a str,
    /// SHA-256 (hex) of the browser-binding cookie's value.
    pub binding_hash: &'a str,
    /// The nonce the ID token must carry.
    pub nonce: &'a str,
    /// `token`, `cookie` or `connect`.
    pub mode: &'a str,
    /// The user an identity is connected to (`connect` mode).
    pub user_id: Option<i64>,
    /// SHA-256 (hex) of the client that started it (the per-client cap).
    pub client_hash: &'a str,
}

/// A consumed authorization request.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SocialState {
    /// The provider's configured name.
    pub provider: String,
    /// SHA-256 (hex) of the browser-binding cookie's value.
    pub binding_hash: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// `token`, `cookie` or `connect`.
    pub mode: String,
    /// The user an identity is connected to (`connect` mode).
    pub user_id: Option<i64>,
    /// When the request started.
    pub created_at: Timestamp,
}

/// A single-use code or ticket of the social flow.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SocialTicket {
    /// What it is for: `login`, `link` or `link_ticket`.
    pub purpose: String,
    /// The user it signs in, or whose account the identity would be linked to.
    pub user_id: i64,
    /// The provider's configured name (the identity of a `login`; `link`, `link_ticket`).
    pub provider: String,
    /// The provider's id of the account (the identity of a `login`; `link`, `link_ticket`).
    pub subject: String,
    /// The address the provider gave (`link`, `link_ticket`).
    pub email: String,
    /// SHA-256 (hex) of the browser-binding value of the login that made it (`link`,
    /// `link_ticket`): only that browser links.
    pub binding_hash: String,
    /// When it was issued.
    pub created_at: Timestamp,
}

impl Store {
    /// The identity `subject` of `provider`, if linked.
    ///
    /// # Errors
    /// The database error.
    pub async fn social_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<SocialIdentity>> {
        fetch!(
            self,
            fetch_optional,
            SocialIdentity,
            "SELECT id, user_id, provider, subject, email, created_at, last_login \
             FROM social_identities WHERE provider = $1 AND subject = $2",
            provider,
            subject
        )
    }

    /// The identities linked to `user_id`, oldest first.
    ///
    /// # Errors
    /// The database error.
    pub async fn social_identities_of(&self, user_id: i64) -> Result<Vec<SocialIdentity>> {
        fetch!(
            self,
            fetch_all,
            SocialIdentity,
            "SELECT id, user_id, provider, subject, email, created_at, last_login \
             FROM social_identities WHERE user_id = $1 ORDER BY id",
            user_id
        )
    }

    /// Links `subject` of `provider` to `user_id`. `None` when that identity is already
    /// linked (to this user or another): nothing is changed then.
    ///
    /// # Errors
    /// The database error.
    pub async fn link_social_identity(
        &self,
        user_id: i64,
        provider: &str,
        subject: &str,
        email: &str,
        now: Timestamp,
    ) -> Result<Option<SocialIdentity>> {
        db!(write self, Retry::NotApplied, |pool| {
            sqlx::query_as::<_, SocialIdentity>(
                "INSERT INTO social_identities (user_id, provider, subject, email, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider, subject) DO NOTHING \
                 RETURNING id, user_id, provider, subject, email, created_at, last_login",
            )
            .bind(user_id)
            .bind(provider)
            .bind(subject)
            .bind(email)
            .bind(now)
            .fetch_optional(pool)
            .await
        })
    }

    /// Records a sign-in through identity `id`.
    ///
    /// # Errors
    /// The database error.
    pub async fn touch_social_identity(&self, id: i64, now: Timestamp) -> Result<()> {
        changed_rows!(
            self,
            "UPDATE social_identities SET last_login = $2 WHERE id = $1",
            id,
            now
        )
        .map(drop)
    }

    /// Stores an authorization request valid until `expires_at`, unless `max` requests are
    /// already under way at `now`, or `max_per_client` of the same client (then `false`,
    /// nothing stored).
    ///
    /// # Errors
    /// The database error.
    pub async fn insert_social_state(
        &self,
        state: &NewSocialState<'_>,
        now: Timestamp,
        expires_at: Timestamp,
        max: i64,
        max_per_client: i64,
    ) -> Result<bool> {
        db!(write self, Retry::NotApplied, |pool| {
            sqlx::query(
                "INSERT INTO social_states \
                 (hash, provider, binding_hash, nonce, mode, user_id, created_at, expires_at, \
                 client_hash) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $10 \
                 WHERE (SELECT COUNT(*) FROM social_states WHERE expires_at > $7) < $9 \
                 AND (SELECT COUNT(*) FROM social_states \
                 WHERE client_hash = $10 AND expires_at > $7) < $11",
            )
            .bind(state.hash)
            .bind(state.provider)
            .bind(state.binding_hash)
            .bind(state.nonce)
            .bind(state.mode)
            .bind(state.user_id)
            .bind(now)
            .bind(expires_at)
            .bind(max)
            .bind(state.client_hash)
            .bind(max_per_client)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() == 1)
        })
    }

    /// Consumes the authorization request whose state hashes to `hash`, if it has not
    /// expired at `now`: `None` for an unknown, used or expired one.
    ///
    /// # Errors
    /// The database error. A retry after a lost connection may answer `None`: a state is
    /// never used twice.
    pub async fn take_social_state(
        &self,
        hash: &str,
        now: Timestamp,
    ) -> Result<Option<SocialState>> {
        if hash.len() > MAX_HASH_CHARS {
            return Ok(None);
        }
        fetch!(
            write self,
            fetch_optional,
            SocialState,
            "DELETE FROM social_states WHERE hash = $1 AND expires_at > $2 \
             RETURNING provider, binding_hash, nonce, mode, user_id, created_at",
            hash,
            now
        )
    }

    /// Stores a code or ticket by its `hash`, valid until `expires_at`.
    ///
    /// # Errors
    /// The database error.
    pub async fn insert_social_ticket(
        &self,
        hash: &str,
        ticket: &SocialTicket,
        expires_at: Timestamp,
    ) -> Result<()> {
        db!(write self, Retry::NotApplied, |pool| {
            sqlx::query(
                "INSERT INTO social_tickets \
                 (hash, purpose, user_id, provider, subject, email, created_at, expires_at, \
                 binding_hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(hash)
            .bind(&ticket.purpose)
            .bind(ticket.user_id)
            .bind(&ticket.provider)
            .bind(&ticket.subject)
            .bind(&ticket.email)
            .bind(ticket.created_at)
            .bind(expires_at)
            .bind(&ticket.binding_hash)
            .execute(pool)
            .await
            .map(drop)
        })
    }

    /// Consumes the code or ticket whose hash is `hash`, if it is one of `purposes` and has
    /// not expired at `now`: `None` for an unknown, used, expired or other one.
    ///
    /// # Errors
    /// The database error.
    pub async fn take_social_ticket(
        &self,
        hash: &str,
        purposes: &[&str],
        now: Timestamp,
    ) -> Result<Option<SocialTicket>> {
        if hash.len() > MAX_HASH_CHARS || purposes.is_empty() || purposes.len() > 2 {
            return Ok(None);
        }
        let second = purposes.get(1).unwrap_or(&purposes[0]);
        fetch!(
            write self,
            fetch_optional,
            SocialTicket,
            "DELETE FROM social_tickets WHERE hash = $1 AND expires_at > $2 \
             AND purpose IN ($3, $4) \
             RETURNING purpose, user_id, provider, subject, email, binding_hash, created_at",
            hash,
            now,
            purposes[0],
            *second
        )
    }

    /// Deletes the states, codes and tickets that expired at or before `before`; returns
    /// how many went.
    ///
    /// # Errors
    /// The database error.
    pub async fn flush_expired_social(&self, before: Timestamp) -> Result<u64> {
        let states = changed_rows!(
            self,
            "DELETE FROM social_states WHERE expires_at <= $1",
            before
        )?;
        let tickets = changed_rows!(
            self,
            "DELETE FROM social_tickets WHERE expires_at <= $1",
            before
        )?;
        Ok(states + tickets)
    }
}
