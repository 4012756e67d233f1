//! Passwordless sign-in: a discoverable passkey alone (`passkey_login`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use tessera_store::User;
use webauthn_rs::prelude::{DiscoverableAuthentication, PublicKeyCredential};

use super::ceremony::KIND_LOGIN;
use super::{
    PASSKEY_LOGIN_THROTTLE_SCOPE, PasskeyChallenge, constant_eq, corrupt, parse_passkey,
    read_credential, serialise, webauthn_failure,
};
use crate::audit::{Audit, event};
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::form::{Fields, Trim};
use crate::service::Auth;

impl Auth {
    /// `POST passkeys/login/begin/`: the request options of a discoverable sign-in (no user
    /// named: the authenticator offers its passkeys for this site).
    ///
    /// # Errors
    /// [`AuthError::NotFound`] unless `passkey_login`; [`AuthError::PasskeysOff`] when
    /// passkeys are unavailable; [`AuthError::Throttled`] (the
    /// `login` scope, per client); [`AuthError::Busy`]; the store's error.
    pub async fn begin_passkey_login(
        &self,
        client: &ClientInfo,
    ) -> Result<PasskeyChallenge, AuthError> {
        if !self.passkey_settings().passkey_login {
            return Err(AuthError::NotFound);
        }
        let webauthn = self.webauthn()?;
        self.throttles()
            .check(PASSKEY_LOGIN_THROTTLE_SCOPE, client.ident())
            .await?;
        let (options, state) = webauthn
            .start_discoverable_authentication()
            .map_err(webauthn_failure)?;
        let state = serde_json::to_string(&state).map_err(serialise)?;
        let challenge_id = self.store_ceremony(None, KIND_LOGIN, &state).await?;
        Ok(PasskeyChallenge {
            challenge_id,
            public_key: serde_json::to_value(&options.public_key).map_err(serialise)?,
        })
    }

    /// `POST passkeys/login/finish/` (`challenge_id`, `credential`): the user a
    /// discoverable assertion signs in — its credential registered, under the user handle
    /// it was registered with, verified with user verification, the account active (and
    /// verified, under `require_verified_email = "login"`). Sets `last_login`
    /// (`update_last_login`); the caller issues the tokens. Audited as `passkey.used`;
    /// refusals as `passkey.login_failed` (with the user when the credential is known).
    ///
    /// # Errors
    /// [`AuthError::NotFound`] unless `passkey_login`; [`AuthError::PasskeysOff`] when
    /// passkeys are unavailable; [`AuthError::Invalid`] for missing
    /// fields; [`AuthError::InvalidCredentials`] for every refusal;
    /// [`AuthError::EmailNotVerified`]; [`AuthError::Throttled`]; the store's error.
    pub async fn finish_passkey_login(
        &self,
        data: &Map<String, Value>,
        client: &ClientInfo,
    ) -> Result<User, AuthError> {
        if !self.passkey_settings().passkey_login {
            return Err(AuthError::NotFound);
        }
        let webauthn = self.webauthn()?;
        self.throttles()
            .check(PASSKEY_LOGIN_THROTTLE_SCOPE, client.ident())
            .await?;
        let mut fields = Fields::new(data);
        let challenge_id = fields.required("challenge_id", Trim::Yes);
        let credential = read_credential(&mut fields, data);
        fields.finish()?;
        let (Some(challenge_id), Some(credential)) = (challenge_id, credential) else {
            return Err(AuthError::InvalidCredentials);
        };
        let refuse = async |reason: &'static str, user: Option<i64>| {
            let mut audit = Audit::new(event::PASSKEY_LOGIN_FAILED)
                .client(client)
                .detail(json!({"reason": reason, "purpose": "login"}));
            if let Some(user) = user {
                audit = audit.user(user);
            }
            self.audit(audit).await;
            metrics::counter!("tessera_logins_total", "outcome" => "failure").increment(1);
            AuthError::InvalidCredentials
        };
        let Some(ceremony) = self.take_ceremony(&challenge_id, KIND_LOGIN, None).await? else {
            return Err(refuse("challenge", None).await);
        };
        let state: DiscoverableAuthentication =
            serde_json::from_str(&ceremony.state).map_err(|_| corrupt())?;
        let Ok(credential) = serde_json::from_value::<PublicKeyCredential>(credential) else {
            return Err(refuse("malformed", None).await);
        };
        let Ok((handle, raw_id)) = webauthn.identify_discoverable_authentication(&credential)
        else {
            return Err(refuse("malformed", None).await);
        };
        let credential_id = URL_SAFE_NO_PAD.encode(raw_id);
        let Some(stored) = self
            .store()
            .passkey_by_credential_id(&credential_id)
            .await?
        else {
            return Err(refuse("unknown_credential", None).await);
        };
        if !constant_eq(&stored.user_handle, &handle.to_string()) {
            return Err(refuse("user_handle", Some(stored.user_id)).await);
        }
        let passkey = parse_passkey(&stored)?;
        let result =
            match webauthn.finish_discoverable_authentication_v2(&credential, state, &passkey) {
                Ok(result) if result.user_verified() => result,
                Ok(_) => return Err(refuse("user_verification", Some(stored.user_id)).await),
                Err(error) => {
                    tracing::debug!(%error, "refused a passkey sign-in");
                    return Err(refuse("verification", Some(stored.user_id)).await);
                }
            };
        let Some(user) = self.store().user_by_id(stored.user_id).await? else {
            return Err(refuse("user", None).await);
        };
        if !user.is_active {
            return Err(refuse("inactive", Some(user.id)).await);
        }
        self.check_email_verified(&user)?;
        self.record_use(&stored, &result, "login", client).await?;
        if self.settings().update_last_login {
            self.store().set_last_login(user.id, self.now()).await?;
        }
        metrics::counter!("tessera_logins_total", "outcome" => "success").increment(1);
        Ok(user)
    }
}
