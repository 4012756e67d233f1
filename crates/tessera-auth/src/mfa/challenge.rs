//! The challenges of the second step: random 256-bit tokens, stored as their SHA-256, bound
//! to a user, a login route and a purpose; guesses counted before they are compared; a
//! success consumes the token in one `DELETE … RETURNING`.

use serde_json::json;
use tessera_core::Timestamp;
use tessera_store::{MfaChallengeRow, NewMfaChallenge, User};

use super::{MAX_ATTEMPTS, MFA_THROTTLE_SCOPE, MfaPurpose, MfaRoute};
use crate::audit::{Audit, event};
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::secret::{random_token, token_hash};
use crate::service::Auth;

/// A token's length: 32 bytes in unpadded base64url.
const TOKEN_CHARS: usize = 43;

/// Whether `token` could be a challenge's token: anything else is not looked up.
fn token_shape(token: &str) -> bool {
    token.len() == TOKEN_CHARS
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A pending second step, as the service reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaChallenge {
    /// The SHA-256 of its token, in hex (its id).
    pub token_hash: String,
    /// The user whose first factor was checked.
    pub user_id: i64,
    /// The route the login started at.
    pub route: MfaRoute,
    /// What it allows.
    pub purpose: MfaPurpose,
    /// When it stops being accepted.
    pub expires_at: Timestamp,
    /// Guesses counted so far (the current one included, during a check).
    pub attempts: i64,
}

impl MfaChallenge {
    fn from_row(row: MfaChallengeRow) -> Option<Self> {
        let purpose = match row.purpose.as_str() {
            "verify" => MfaPurpose::Verify,
            "setup" => MfaPurpose::Setup,
            _ => return None,
        };
        Some(Self {
            token_hash: row.token_hash,
            user_id: row.user_id,
            route: MfaRoute::parse(&row.route)?,
            purpose,
            expires_at: row.expires_at,
            attempts: row.attempts,
        })
    }
}

impl Auth {
    /// Stores a new challenge for `user` and returns its token.
    pub(crate) async fn open_challenge(
        &self,
        user: &User,
        route: MfaRoute,
        purpose: MfaPurpose,
    ) -> Result<String, AuthError> {
        let token = random_token()?;
        let now = self.now();
        let expires_at = now + self.mfa_settings().mfa_token_lifetime;
        self.store()
            .insert_mfa_challenge(&NewMfaChallenge {
                token_hash: &token_hash(&token),
                user_id: user.id,
                route: &route.stored(),
                purpose: purpose.as_str(),
                now,
                expires_at,
            })
            .await?;
        Ok(token)
    }

    /// The live challenge of `mfa_token`, left in place and its guesses not counted (to start
    /// a passkey assertion for it); `None` for an unknown, used or expired one.
    ///
    /// # Errors
    /// The store's.
    pub async fn peek_mfa_challenge(
        &self,
        mfa_token: &str,
    ) -> Result<Option<MfaChallenge>, AuthError> {
        if !token_shape(mfa_token) {
            return Ok(None);
        }
        let row = self
            .store()
            .find_mfa_challenge(&token_hash(mfa_token), self.now())
            .await?;
        Ok(row
            .and_then(MfaChallenge::from_row)
            .filter(|c| c.attempts < MAX_ATTEMPTS))
    }

    /// Counts a guess on the live challenge of `mfa_token` for `purpose` and returns it with
    /// its active user. The guess is first throttled by `mfa` per user (`user_<id>`), so that
    /// the user's guesses are limited whichever addresses and tokens they come with. While
    /// that user's name is locked for `client`, nothing is counted.
    ///
    /// # Errors
    /// [`AuthError::MfaTokenInvalid`] for a token that is malformed, unknown, used, expired,
    /// out of guesses, of another purpose, whose user is gone or inactive, or whose name is
    /// locked; [`AuthError::Throttled`]; the store's.
    pub(crate) async fn attempt_challenge(
        &self,
        mfa_token: &str,
        purpose: MfaPurpose,
        client: &ClientInfo,
    ) -> Result<(MfaChallenge, User), AuthError> {
        let Some(peeked) = self.peek_mfa_challenge(mfa_token).await? else {
            return Err(AuthError::MfaTokenInvalid);
        };
        if peeked.purpose != purpose {
            return Err(AuthError::MfaTokenInvalid);
        }
        let user = self
            .store()
            .user_by_id(peeked.user_id)
            .await?
            .filter(|user| user.is_active)
            .ok_or(AuthError::MfaTokenInvalid)?;
        self.throttles()
            .check(MFA_THROTTLE_SCOPE, &format!("user_{}", user.id))
            .await?;
        let name = self.lockout_name_of(&user).to_owned();
        if self.lockout().is_locked(&name, client.ident()).await? {
            self.refuse_locked(&name, Some(user.id), client).await;
            return Err(AuthError::MfaTokenInvalid);
        }
        let counted = self
            .store()
            .attempt_mfa_challenge(&peeked.token_hash, self.now(), MAX_ATTEMPTS)
            .await?
            .and_then(MfaChallenge::from_row)
            .filter(|c| c.user_id == user.id && c.purpose == purpose)
            .ok_or(AuthError::MfaTokenInvalid)?;
        Ok((counted, user))
    }

    /// A passed second step: consumes the challenge (the single winner goes on), lifts the
    /// lockout of the user's name for `client`, completes the login (`last_login` with
    /// `update_last_login`, counted as a successful login; a social sign-in's bookkeeping)
    /// and audits `mfa.verified` with the method.
    ///
    /// # Errors
    /// [`AuthError::MfaTokenInvalid`] when a concurrent request consumed it first; the
    /// store's.
    pub(crate) async fn finish_challenge(
        &self,
        challenge: &MfaChallenge,
        user: &User,
        method: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.store()
            .consume_mfa_challenge(&challenge.token_hash, self.now())
            .await?
            .ok_or(AuthError::MfaTokenInvalid)?;
        let name = self.lockout_name_of(user).to_owned();
        self.lockout().clear(&name, client.ident()).await?;
        if self.settings().update_last_login {
            self.store().set_last_login(user.id, self.now()).await?;
        }
        metrics::counter!("tessera_logins_total", "outcome" => "success").increment(1);
        metrics::counter!("tessera_mfa_total", "outcome" => "success").increment(1);
        self.audit(
            Audit::new(event::MFA_VERIFIED)
                .user(user.id)
                .login_name(&name)
                .client(client)
                .detail(json!({"route": challenge.route.as_str(), "method": method})),
        )
        .await;
        if let Some(identity) = challenge.route.social_identity() {
            self.social_sign_in_completed(user, identity, client)
                .await?;
        }
        Ok(())
    }
}
