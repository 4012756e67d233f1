//! Begun ceremonies: their server half stored under the hash of a random id, taken once.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tessera_core::KeyError;
use tessera_store::{NewWebauthnCeremony, WebauthnCeremony};

use super::{CEREMONY_LIFETIME, MAX_CEREMONIES, MAX_CEREMONIES_PER_USER};
use crate::error::AuthError;
use crate::service::Auth;

/// The three kinds of ceremony, as stored.
pub(crate) const KIND_REGISTER: &str = "register";
pub(crate) const KIND_MFA: &str = "mfa";
pub(crate) const KIND_LOGIN: &str = "login";
/// Random bytes in a challenge id.
pub(crate) const CHALLENGE_ID_BYTES: usize = 32;

impl Auth {
    /// Stores a ceremony's server half under a new random id; returns the id.
    pub(crate) async fn store_ceremony(
        &self,
        user_id: Option<i64>,
        kind: &str,
        state: &str,
    ) -> Result<String, AuthError> {
        let mut secret = [0u8; CHALLENGE_ID_BYTES];
        aws_lc_rs::rand::fill(&mut secret)
            .map_err(|_| KeyError::new("the random generator failed"))?;
        let challenge_id = URL_SAFE_NO_PAD.encode(secret);
        let now = self.now();
        let new = NewWebauthnCeremony {
            hash: &ceremony_hash(&challenge_id),
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
            .take_webauthn_ceremony(&ceremony_hash(challenge_id), self.now())
            .await?;
        Ok(ceremony.filter(|ceremony| ceremony.kind == kind && ceremony.user_id == user_id))
    }
}

/// The SHA-256 of a challenge id, hex.
fn ceremony_hash(challenge_id: &str) -> String {
    digest::digest(&digest::SHA256, challenge_id.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_hashes_are_hex_sha256() {
        assert_eq!(
            ceremony_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
