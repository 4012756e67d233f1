//! Passkeys (WebAuthn): registered from an account, used as a second factor after a
//! password, and — with `passkey_login` — to sign in with no password at all.
//!
//! Every ceremony has two halves. Its begin answers the browser's options (the standard
//! WebAuthn JSON form, binary fields in base64url) and a `challenge_id`; the server half
//! is stored under the SHA-256 of that id, for [`CEREMONY_LIFETIME`], so that any server
//! sharing the database can finish it — once: a finish consumes the row in one statement,
//! whatever it then decides. Ceremonies are bounded per user, and those of no user (a
//! discoverable sign-in) in all.
//!
//! | route | use case |
//! |---|---|
//! | `POST passkeys/register/begin/`, `register/finish/` | [`Auth::begin_passkey_registration`], [`Auth::finish_passkey_registration`] |
//! | `GET passkeys/`, `PATCH`/`DELETE passkeys/{id}/` | [`Auth::own_passkeys`], [`Auth::rename_passkey`], [`Auth::delete_passkey`] |
//! | `POST mfa/passkey/begin/` (and `mfa/verify/` with `passkey`) | [`Auth::begin_passkey_second_factor`] |
//! | `POST passkeys/login/begin/`, `login/finish/` | [`Auth::begin_passkey_login`], [`Auth::finish_passkey_login`] |
//!
//! Passkeys are registered and used with user verification required (a PIN or a biometric
//! on the authenticator), so a passkey sign-in is two factors by itself and asks for no
//! further step.

pub(crate) mod ceremony;
mod login;
mod registration;
mod settings;

use std::time::Duration;

use serde_json::{Map, Value, json};
use tessera_core::{KeyError, SettingsError};
use tessera_store::StoredPasskey;
use webauthn_rs::prelude::{Passkey, Webauthn};

use crate::audit::{Audit, event};
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::form::Fields;
use crate::service::Auth;

pub(crate) use settings::PasskeyState;
pub use settings::{PasskeySettings, RelyingParty};

/// The most passkeys one user holds.
pub const MAX_PASSKEYS_PER_USER: u32 = 20;
/// The longest passkey name.
pub const MAX_PASSKEY_NAME_CHARS: usize = 64;
/// How long a begun ceremony can be finished.
pub const CEREMONY_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// The most unfinished ceremonies of one user.
pub const MAX_CEREMONIES_PER_USER: u32 = 10;
/// The most unfinished ceremonies of no user (discoverable sign-ins), in all: over it, a
/// sign-in's begin is refused as busy (503) until some finish or expire. A user's
/// ceremonies (registrations, second factors) count against [`MAX_CEREMONIES_PER_USER`]
/// only, so a flood of anonymous begins cannot stop them.
pub const MAX_CEREMONIES: u32 = 10_000;
/// The largest credential (the browser's `PublicKeyCredential` as JSON) read, in bytes.
pub const MAX_CREDENTIAL_BYTES: usize = 64 * 1024;
/// The throttle scope of passwordless sign-in (begin and finish), per client address: the
/// login's.
pub const PASSKEY_LOGIN_THROTTLE_SCOPE: &str = "login";

/// The message of a `challenge_id` that is unknown, used, expired or not the caller's.
pub const INVALID_CHALLENGE: &str = "Invalid or expired challenge.";
/// The message of a credential the server cannot verify.
pub const INVALID_CREDENTIAL: &str = "The passkey could not be verified.";
/// The message of a credential registered already.
pub const DUPLICATE_PASSKEY: &str = "This passkey is already registered.";
/// The refusal to delete the last way into an account (the one of every way in).
pub use crate::accounts::LAST_WAY_IN;

/// A begun ceremony: what the browser needs.
#[derive(Debug, Clone, PartialEq)]
pub struct PasskeyChallenge {
    /// The id to send back with the credential (single use, [`CEREMONY_LIFETIME`]).
    pub challenge_id: String,
    /// The options for `navigator.credentials.create()` or `.get()`, WebAuthn's JSON form.
    pub public_key: Value,
}

impl Auth {
    /// The passkey settings in force.
    pub fn passkey_settings(&self) -> &PasskeySettings {
        self.passkey_state().settings()
    }

    /// The relying party passkeys are bound to; `None` when passkeys are unavailable.
    pub fn relying_party(&self) -> Option<&RelyingParty> {
        self.passkey_state().relying_party()
    }

    /// Why passkeys are unavailable — the relying party derived from `public_url` cannot
    /// be served, the setting at fault named — or `None` when they are served.
    pub fn passkeys_unavailable(&self) -> Option<&SettingsError> {
        self.passkey_state().unavailable()
    }

    /// The WebAuthn relying party.
    ///
    /// # Errors
    /// [`AuthError::PasskeysOff`] when passkeys are unavailable.
    pub(crate) fn webauthn(&self) -> Result<&Webauthn, AuthError> {
        self.passkey_state()
            .webauthn()
            .ok_or(AuthError::PasskeysOff)
    }

    /// `user_id`'s passkeys that can be read, with their stored rows.
    pub(crate) async fn usable_passkeys(
        &self,
        user_id: i64,
    ) -> Result<Vec<(StoredPasskey, Passkey)>, AuthError> {
        let stored = self.store().passkeys_of(user_id).await?;
        Ok(stored
            .into_iter()
            .filter_map(|row| parse_passkey(&row).ok().map(|passkey| (row, passkey)))
            .collect())
    }

    /// Stores the credential's new counter and backup state, and its last use; audits
    /// `passkey.used`.
    pub(crate) async fn record_use(
        &self,
        stored: &StoredPasskey,
        result: &webauthn_rs::prelude::AuthenticationResult,
        purpose: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let mut passkey = parse_passkey(stored)?;
        let updated = match passkey.update_credential(result) {
            Some(true) => Some(serde_json::to_string(&passkey).map_err(serialise)?),
            _ => None,
        };
        self.store()
            .record_passkey_use(stored.id, &stored.passkey, updated.as_deref(), self.now())
            .await?;
        self.audit(
            Audit::new(event::PASSKEY_USED)
                .user(stored.user_id)
                .client(client)
                .detail(json!({"passkey_id": stored.id, "purpose": purpose})),
        )
        .await;
        Ok(())
    }
}

/// Whether two texts are equal, in constant time.
pub(crate) fn constant_eq(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

/// A stored passkey's credential.
pub(crate) fn parse_passkey(stored: &StoredPasskey) -> Result<Passkey, AuthError> {
    serde_json::from_str(&stored.passkey).map_err(|_| corrupt())
}

/// `credential`: a required JSON object of at most [`MAX_CREDENTIAL_BYTES`].
pub(crate) fn read_credential(fields: &mut Fields<'_>, data: &Map<String, Value>) -> Option<Value> {
    match data.get("credential") {
        None => {
            fields.fail("credential", "This field is required.");
            None
        }
        Some(value @ Value::Object(_)) if within_bound(value) => Some(value.clone()),
        Some(Value::Object(_)) => {
            fields.fail("credential", INVALID_CREDENTIAL);
            None
        }
        Some(_) => {
            fields.fail("credential", "Expected a dictionary of items.");
            None
        }
    }
}

/// Whether a credential's JSON is within [`MAX_CREDENTIAL_BYTES`].
pub(crate) fn within_bound(value: &Value) -> bool {
    serde_json::to_vec(value).is_ok_and(|bytes| bytes.len() <= MAX_CREDENTIAL_BYTES)
}

/// A stored row this module wrote that no longer reads.
pub(crate) fn corrupt() -> AuthError {
    AuthError::Signing(KeyError::new("a stored passkey or ceremony cannot be read"))
}

pub(crate) fn serialise(error: serde_json::Error) -> AuthError {
    AuthError::Signing(KeyError::new(format!(
        "a WebAuthn value could not be serialised: {error}"
    )))
}

pub(crate) fn webauthn_failure(error: webauthn_rs::prelude::WebauthnError) -> AuthError {
    AuthError::Signing(KeyError::new(format!("WebAuthn: {error}")))
}
