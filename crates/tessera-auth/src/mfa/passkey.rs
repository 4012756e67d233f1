//! The passkey side of the second step: how many passkeys a user has, the ceremony of a
//! pending login, and whether an assertion proves its user ([`crate::passkeys`] holds
//! the WebAuthn relying party and the passkeys).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tessera_store::User;
use webauthn_rs::prelude::{Passkey, PasskeyAuthentication, PublicKeyCredential};

use super::MfaChallenge;
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::form::{Fields, Trim};
use crate::passkeys::ceremony::KIND_MFA;
use crate::passkeys::{
    PasskeyChallenge, constant_eq, corrupt, serialise, webauthn_failure, within_bound,
};
use crate::service::Auth;

/// The server half of a second-factor ceremony: the pending login it belongs to.
#[derive(Serialize, Deserialize)]
struct MfaState {
    /// The pending login's id.
    mfa: String,
    /// The authentication state.
    state: PasskeyAuthentication,
}

impl Auth {
    /// How many passkeys `user_id` has registered: with one, every login takes a second
    /// step and `passkey` is among its methods.
    ///
    /// # Errors
    /// The store's error.
    pub(crate) async fn passkey_count(&self, user_id: i64) -> Result<u64, AuthError> {
        self.count_passkeys(user_id).await
    }

    /// The passkeys the store holds while passkeys are unavailable
    /// ([`Auth::passkeys_unavailable`]): why they are, and how many passkeys their users
    /// would be asked for and could not use. `None` when passkeys are available or none is
    /// held. A server should not start with `Some` (the command line's `serve` refuses,
    /// `check` reports it).
    ///
    /// # Errors
    /// The store's.
    pub async fn stranded_passkeys(&self) -> Result<Option<(String, u64)>, AuthError> {
        let Some(why) = self.passkeys_unavailable() else {
            return Ok(None);
        };
        let held = self.store().passkey_total().await?;
        Ok((held > 0).then(|| (why.to_string(), held)))
    }

    /// `POST mfa/passkey/begin/` (`mfa_token`): the request options for the pending login's
    /// user, their passkeys allowed. The ceremony is bound to that pending login: only
    /// `mfa/verify/` with the same `mfa_token` finishes it.
    ///
    /// # Errors
    /// [`AuthError::PasskeysOff`] when passkeys are unavailable; [`AuthError::Invalid`]
    /// without an `mfa_token`; [`AuthError::MfaTokenInvalid`] for an unknown or expired
    /// one, or a user without passkeys (as `mfa/verify/`); [`AuthError::Throttled`] (the
    /// `mfa` scope, per client, as `mfa/verify/`); [`AuthError::Busy`]; the store's error.
    pub async fn begin_passkey_second_factor(
        &self,
        data: &Map<String, Value>,
        client: &ClientInfo,
    ) -> Result<PasskeyChallenge, AuthError> {
        let webauthn = self.webauthn()?;
        self.throttles()
            .check(crate::mfa::MFA_THROTTLE_SCOPE, client.ident())
            .await?;
        let mut fields = Fields::new(data);
        let token = fields.required("mfa_token", Trim::Yes);
        fields.finish()?;
        let token = token.unwrap_or_default();
        let Some(pending) = self
            .peek_mfa_challenge(&token)
            .await?
            .filter(|pending| pending.purpose == crate::mfa::MfaPurpose::Verify)
        else {
            return Err(AuthError::MfaTokenInvalid);
        };
        let passkeys = self.usable_passkeys(pending.user_id).await?;
        if passkeys.is_empty() {
            return Err(AuthError::MfaTokenInvalid);
        }
        let keys: Vec<Passkey> = passkeys.into_iter().map(|(_, passkey)| passkey).collect();
        let (options, state) = webauthn
            .start_passkey_authentication(&keys)
            .map_err(webauthn_failure)?;
        let state = serde_json::to_string(&MfaState {
            mfa: pending.token_hash.clone(),
            state,
        })
        .map_err(serialise)?;
        let challenge_id = self
            .store_ceremony(Some(pending.user_id), KIND_MFA, &state)
            .await?;
        Ok(PasskeyChallenge {
            challenge_id,
            public_key: serde_json::to_value(&options.public_key).map_err(serialise)?,
        })
    }

    /// Whether `assertion` (the `passkey` object of `POST auth/mfa/verify/`:
    /// `{challenge_id, credential}`, the ceremony begun by `POST auth/mfa/passkey/begin/`
    /// for this very `challenge`) proves `user`: a credential of `user` that verifies;
    /// a refusal (`Err` with its reason: `malformed`, `challenge`, `verification`,
    /// `unknown_credential`) counts as a wrong second factor, which the caller audits
    /// (`mfa.failed`, `detail.reason`). The ceremony is consumed either way. A success
    /// stores the credential's counter and last use (`passkey.used`,
    /// `detail.purpose = "mfa"`).
    ///
    /// # Errors
    /// [`AuthError::PasskeysOff`] when passkeys are unavailable; the store's error.
    pub(crate) async fn verify_passkey_second_factor(
        &self,
        user: &User,
        challenge: &MfaChallenge,
        assertion: &Value,
        client: &ClientInfo,
    ) -> Result<Result<(), &'static str>, AuthError> {
        let webauthn = self.webauthn()?;
        let pending_id = challenge.token_hash.as_str();
        let Some(object) = assertion.as_object() else {
            return Ok(Err("malformed"));
        };
        let challenge_id = object.get("challenge_id").and_then(Value::as_str);
        let credential = object.get("credential").filter(|value| within_bound(value));
        let (Some(challenge_id), Some(credential)) = (challenge_id, credential) else {
            return Ok(Err("malformed"));
        };
        let Some(ceremony) = self
            .take_ceremony(challenge_id, KIND_MFA, Some(user.id))
            .await?
        else {
            return Ok(Err("challenge"));
        };
        let Ok(state) = serde_json::from_str::<MfaState>(&ceremony.state) else {
            return Err(corrupt());
        };
        if !constant_eq(&state.mfa, pending_id) {
            return Ok(Err("challenge"));
        }
        let Ok(credential) = serde_json::from_value::<PublicKeyCredential>(credential.clone())
        else {
            return Ok(Err("malformed"));
        };
        let result = match webauthn.finish_passkey_authentication(&credential, &state.state) {
            Ok(result) => result,
            Err(error) => {
                tracing::debug!(%error, "refused a passkey assertion");
                return Ok(Err("verification"));
            }
        };
        let credential_id = URL_SAFE_NO_PAD.encode(result.cred_id());
        let Some(stored) = self
            .store()
            .passkey_by_credential_id(&credential_id)
            .await?
            .filter(|stored| stored.user_id == user.id)
        else {
            return Ok(Err("unknown_credential"));
        };
        self.record_use(&stored, &result, "mfa", client).await?;
        Ok(Ok(()))
    }
}
