//! Registering passkeys, and a user's management of them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tessera_core::KeyError;
use tessera_store::{NewPasskey, PasskeyInsert, StoredPasskey, User, WayIn};
use webauthn_rs::prelude::{PasskeyRegistration, RegisterPublicKeyCredential, Uuid};

use super::ceremony::KIND_REGISTER;
use super::{
    DUPLICATE_PASSKEY, INVALID_CHALLENGE, INVALID_CREDENTIAL, MAX_PASSKEY_NAME_CHARS,
    MAX_PASSKEYS_PER_USER, PasskeyChallenge, corrupt, parse_passkey, read_credential, serialise,
    webauthn_failure,
};
use crate::accounts::Removed;
use crate::audit::{Audit, event};
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::form::{Fields, Trim};
use crate::service::Auth;

/// The message of a wrong current password, as a password change's.
const WRONG_PASSWORD: &str = "Current password is incorrect.";

/// The server half of a registration: the user handle it was begun with.
#[derive(Serialize, Deserialize)]
struct RegisterState {
    /// The WebAuthn user handle (a UUID's text).
    handle: String,
    /// The registration state.
    state: PasskeyRegistration,
}

impl Auth {
    /// `POST passkeys/register/begin/`: the creation options for a new passkey of `user`
    /// (a discoverable credential preferred, user verification required, the user's
    /// passkeys excluded).
    ///
    /// # Errors
    /// [`AuthError::PasskeysOff`] when passkeys are unavailable; [`AuthError::Invalid`]
    /// when `user` holds [`MAX_PASSKEYS_PER_USER`] already;
    /// [`AuthError::Busy`] over the ceremony bounds; the store's error.
    pub async fn begin_passkey_registration(
        &self,
        user: &User,
    ) -> Result<PasskeyChallenge, AuthError> {
        let webauthn = self.webauthn()?;
        let held = self.store().passkeys_of(user.id).await?;
        if held.len() >= MAX_PASSKEYS_PER_USER as usize {
            return Err(too_many());
        }
        let handle = match held.first() {
            Some(first) => Uuid::parse_str(&first.user_handle).map_err(|_| corrupt())?,
            None => random_handle()?,
        };
        let exclude = held
            .iter()
            .filter_map(|stored| parse_passkey(stored).ok())
            .map(|passkey| passkey.cred_id().clone())
            .collect::<Vec<_>>();
        let name = self.login_name_of(user).unwrap_or(&user.email).to_owned();
        let display = crate::accounts::full_name(user);
        let display = if display.trim().is_empty() {
            name.clone()
        } else {
            display
        };
        let (options, state) = webauthn
            .start_passkey_registration(handle, &name, &display, Some(exclude))
            .map_err(webauthn_failure)?;
        let mut public_key = serde_json::to_value(&options.public_key).map_err(serialise)?;
        // A discoverable credential is preferred (it signs in with no name typed, as
        // `passkey_login` needs), not required: a security key with no resident slot left
        // still registers, as a second factor. User verification stays required: the
        // stored credential type (webauthn-rs's `Passkey`) is verified with it at every use.
        if let Some(selection) = public_key
            .get_mut("authenticatorSelection")
            .and_then(Value::as_object_mut)
        {
            selection.insert("residentKey".into(), json!("preferred"));
            selection.insert("requireResidentKey".into(), json!(false));
        }
        let state = serde_json::to_string(&RegisterState {
            handle: handle.to_string(),
            state,
        })
        .map_err(serialise)?;
        let challenge_id = self
            .store_ceremony(Some(user.id), KIND_REGISTER, &state)
            .await?;
        Ok(PasskeyChallenge {
            challenge_id,
            public_key,
        })
    }

    /// `POST passkeys/register/finish/` (`challenge_id`, `name`, `credential`, and
    /// `password` when `user` has a usable one): verifies the browser's credential against
    /// the ceremony `user` began and stores the passkey. The current password, as for an
    /// e-mail change, keeps a stolen access token from adding a passkey only its thief
    /// holds; a wrong one counts as a failed login of the user (and is refused without a
    /// check while they are locked out). The fields are checked before the challenge is
    /// spent. Audited as `passkey.registered`; a refused credential as
    /// `passkey.registration_failed`.
    ///
    /// # Errors
    /// [`AuthError::PasskeysOff`] when passkeys are unavailable; [`AuthError::Invalid`]
    /// for a missing or bad field, a wrong password, an unknown, used or expired
    /// challenge, a credential that does not verify or is registered already, or too many
    /// passkeys; the store's error.
    pub async fn finish_passkey_registration(
        &self,
        user: &User,
        data: &Map<String, Value>,
        client: &ClientInfo,
    ) -> Result<StoredPasskey, AuthError> {
        let webauthn = self.webauthn()?;
        let mut fields = Fields::new(data);
        let challenge_id = fields.required("challenge_id", Trim::Yes);
        let name = read_name(&mut fields);
        let credential = read_credential(&mut fields, data);
        if user.has_usable_password()
            && let Some(password) = fields.required("password", Trim::No)
            && !self
                .current_password_matches(user, &password, client)
                .await?
        {
            fields.fail("password", WRONG_PASSWORD);
        }
        fields.finish()?;
        let (Some(challenge_id), Some(name), Some(credential)) = (challenge_id, name, credential)
        else {
            return Err(AuthError::field("non_field_errors", INVALID_CREDENTIAL));
        };
        let failed = |reason: &'static str| {
            Audit::new(event::PASSKEY_REGISTRATION_FAILED)
                .user(user.id)
                .client(client)
                .detail(json!({ "reason": reason }))
        };
        let Some(ceremony) = self
            .take_ceremony(&challenge_id, KIND_REGISTER, Some(user.id))
            .await?
        else {
            self.audit(failed("challenge")).await;
            return Err(AuthError::field("challenge_id", INVALID_CHALLENGE));
        };
        let RegisterState { handle, state } =
            serde_json::from_str(&ceremony.state).map_err(|_| corrupt())?;
        let Ok(credential) = serde_json::from_value::<RegisterPublicKeyCredential>(credential)
        else {
            self.audit(failed("malformed")).await;
            return Err(AuthError::field("credential", INVALID_CREDENTIAL));
        };
        let passkey = match webauthn.finish_passkey_registration(&credential, &state) {
            Ok(passkey) => passkey,
            Err(error) => {
                tracing::debug!(%error, "refused a passkey registration");
                self.audit(failed("verification")).await;
                return Err(AuthError::field("credential", INVALID_CREDENTIAL));
            }
        };
        let credential_id = URL_SAFE_NO_PAD.encode(passkey.cred_id());
        let serialised = serde_json::to_string(&passkey).map_err(serialise)?;
        let new = NewPasskey {
            user_id: user.id,
            credential_id: &credential_id,
            user_handle: &handle,
            passkey: &serialised,
            name: &name,
            created_at: self.now(),
        };
        match self
            .store()
            .insert_passkey(&new, MAX_PASSKEYS_PER_USER)
            .await?
        {
            PasskeyInsert::Stored(stored) => {
                self.audit(
                    Audit::new(event::PASSKEY_REGISTERED)
                        .user(user.id)
                        .client(client)
                        .detail(json!({"passkey_id": stored.id, "name": stored.name})),
                )
                .await;
                Ok(stored)
            }
            PasskeyInsert::TooMany => Err(too_many()),
            PasskeyInsert::Duplicate => {
                self.audit(failed("duplicate")).await;
                Err(AuthError::field("credential", DUPLICATE_PASSKEY))
            }
        }
    }

    /// `GET passkeys/`: `user`'s passkeys, oldest first.
    ///
    /// # Errors
    /// The store's error.
    pub async fn own_passkeys(&self, user: &User) -> Result<Vec<StoredPasskey>, AuthError> {
        Ok(self.store().passkeys_of(user.id).await?)
    }

    /// How many passkeys `user_id` holds.
    ///
    /// # Errors
    /// The store's error.
    pub async fn count_passkeys(&self, user_id: i64) -> Result<u64, AuthError> {
        Ok(self.store().passkey_count(user_id).await?)
    }

    /// `PATCH passkeys/{id}/` (`name`): renames one of `user`'s passkeys. Audited as
    /// `passkey.renamed`.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] for a bad name; [`AuthError::NotFound`] when `user` holds no
    /// such passkey; the store's error.
    pub async fn rename_passkey(
        &self,
        user: &User,
        id: i64,
        data: &Map<String, Value>,
        client: &ClientInfo,
    ) -> Result<StoredPasskey, AuthError> {
        let mut fields = Fields::new(data);
        let name = read_name(&mut fields);
        fields.finish()?;
        let name = name.unwrap_or_default();
        let renamed = self
            .store()
            .rename_passkey(id, user.id, &name)
            .await?
            .ok_or(AuthError::NotFound)?;
        self.audit(
            Audit::new(event::PASSKEY_RENAMED)
                .user(user.id)
                .client(client)
                .detail(json!({"passkey_id": id, "name": renamed.name})),
        )
        .await;
        Ok(renamed)
    }

    /// `DELETE passkeys/{id}/`: deletes one of `user`'s passkeys — but never the last way
    /// into the account (see [`ways_in`](crate::accounts)): with passwordless sign-in on, the
    /// last passkey of a user with no usable password and no linked identity stays.
    /// Audited as `passkey.deleted`.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when `user` holds no such passkey; [`AuthError::Invalid`]
    /// ([`LAST_WAY_IN`](crate::accounts::LAST_WAY_IN)) for the last way in; the store's error.
    pub async fn delete_passkey(
        &self,
        user: &User,
        id: i64,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let Removed::Passkey(deleted) = self.remove_way_in(user, WayIn::Passkey(id)).await? else {
            return Err(AuthError::NotFound);
        };
        self.audit(
            Audit::new(event::PASSKEY_DELETED)
                .user(user.id)
                .client(client)
                .detail(json!({"passkey_id": deleted.id, "name": deleted.name})),
        )
        .await;
        Ok(())
    }
}

/// A random (version 4) WebAuthn user handle.
fn random_handle() -> Result<Uuid, AuthError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| KeyError::new("the random generator failed"))?;
    // RFC 9562 §5.4: the version and variant bits.
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Ok(Uuid::from_bytes(bytes))
}

/// `name`: required, trimmed, at most [`MAX_PASSKEY_NAME_CHARS`], no control characters.
fn read_name(fields: &mut Fields<'_>) -> Option<String> {
    let name = fields.required("name", Trim::Yes)?;
    if name.chars().any(char::is_control) {
        fields.fail("name", "Control characters are not allowed.");
        return None;
    }
    if name.chars().count() > MAX_PASSKEY_NAME_CHARS {
        fields.fail(
            "name",
            format!("Ensure this field has no more than {MAX_PASSKEY_NAME_CHARS} characters."),
        );
        return None;
    }
    Some(name)
}

fn too_many() -> AuthError {
    AuthError::field(
        "non_field_errors",
        format!("You cannot have more than {MAX_PASSKEYS_PER_USER} passkeys; delete one first."),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::Map;
    use tessera_core::{Clock, Settings, Timestamp};
    use tessera_store::{NewUser, PasswordHasher, Store};

    use super::*;

    /// 2025-01-01T00:00:00Z.
    const T0: Timestamp = Timestamp::from_secs(1_735_689_600);

    /// A service at `localhost:8000` on a fresh database with one user, Ada, with no
    /// usable password.
    async fn service() -> (Auth, User) {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let (clock, _hand) = Clock::manual(T0);
        let auth = Auth::builder(Settings::default(), store)
            .clock(clock)
            .hasher(PasswordHasher::new(1))
            .public_url("http://localhost:8000")
            .offline()
            .build()
            .await
            .unwrap();
        let ada = auth
            .store()
            .create_user(&NewUser {
                email: "ada@example.com".into(),
                password_hash: "!".into(),
                is_active: true,
                date_joined: T0,
                ..NewUser::default()
            })
            .await
            .unwrap();
        (auth, ada)
    }

    #[tokio::test]
    async fn registration_prefers_a_discoverable_credential_and_requires_verification() {
        let (auth, ada) = service().await;
        let begun = auth.begin_passkey_registration(&ada).await.unwrap();
        let selection = &begun.public_key["authenticatorSelection"];
        assert_eq!(selection["residentKey"], "preferred", "{selection}");
        assert_eq!(selection["requireResidentKey"], false, "{selection}");
        assert_eq!(selection["userVerification"], "required", "{selection}");
    }

    #[tokio::test]
    async fn a_linked_social_identity_is_another_way_in() {
        let (auth, ada) = service().await;
        assert_eq!(auth.ways_in_besides_passkeys(&ada).await.unwrap(), 0);
        auth.store()
            .link_social_identity(ada.id, "github", "ada-1815", "ada@example.com", T0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(auth.ways_in_besides_passkeys(&ada).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_second_factor_begin_with_an_unknown_token_is_an_invalid_mfa_token() {
        let (auth, _) = service().await;
        let mut data = Map::new();
        data.insert("mfa_token".into(), "nope".into());
        let client = ClientInfo::default();
        let refused = auth.begin_passkey_second_factor(&data, &client).await;
        assert!(
            matches!(refused, Err(AuthError::MfaTokenInvalid)),
            "{refused:?}"
        );
    }
}
