//! Begun ceremonies: their server half stored under the hash of a random id, taken once.

use tessera_store::{NewWebauthnCeremony, WebauthnCeremony};

use super::{CEREMONY_LIFETIME, MAX_CEREMONIES, MAX_CEREMONIES_PER_USER};
use crate::error::AuthError;
use crate::secret::{random_token, token_hash};
use crate::service::Auth;

/// The three kinds of ceremony, as stored.
pub(crate) const KIND_REGISTER: &str = "register";
pub(crate) const KIND_MFA: &str = "mfa";
pub(crate) const KIND_LOGIN: &str = "login";

impl Auth {
    /// Stores a ceremony's server half under a new random id; returns the id.
    pub(crate) async fn store_ceremony(
        &self,
        user_id: Option<i64>,
        kind: &str,
        state: &str,
    ) -> Result<String, AuthError> {
        let challenge_id = random_token()?;
        let now = self.now();
        let new = NewWebauthnCeremony {
            hash: &token_hash(&challenge_id),
            user_id,
            kind,
            state,
            created_at: now,
            expires_at: now + CEREMONY_LIFETIME,
        };
        let stored = self
            .store()
            .insert_webauthn_ceremony(&new, MAX_CEREMONIES_PER_USER, MAX_CEREMONIES)
            .await?;
        if !stored {
            return Err(AuthError::Busy {
                retry_after: CEREMONY_LIFETIME.as_secs(),
            });
        }
        Ok(challenge_id)
    }

    /// Consumes ceremony `challenge_id` — `None` unless it is live, of `kind`, and begun
    /// for `user_id`.
    pub(crate) async fn take_ceremony(
        &self,
        challenge_id: &str,
        kind: &str,
        user_id: Option<i64>,
    ) -> Result<Option<WebauthnCeremony>, AuthError> {
        if challenge_id.len() > 128 {
            return Ok(None);
        }
        let ceremony = self
            .store()
            .take_webauthn_ceremony(&token_hash(challenge_id), self.now())
            .await?;
        Ok(ceremony.filter(|ceremony| ceremony.kind == kind && ceremony.user_id == user_id))
    }
}
