//! The TOTP device: RFC 6238 with SHA-1, 6 digits and 30-second steps, one step of skew
//! either way; each time step accepted once per user (the store keeps the last one).

use serde_json::{Map, Value, json};
use tessera_core::{Secret, open_private_key, seal_private_key};
use tessera_store::User;
use totp_rs::{Builder, Totp};

use super::challenge::MfaChallenge;
use super::{
    ALREADY_ENABLED, INVALID_CODE, MFA_THROTTLE_SCOPE, MfaActor, MfaPassed, MfaPurpose, NEEDS_KEK,
    NOT_ENABLED, NOT_SET_UP, read_code, unix_seconds,
};
use crate::audit::{Audit, event};
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::form::{FieldErrors, Fields, Trim};
use crate::service::Auth;

/// The secret's random bytes (160 bits, RFC 4226's recommendation).
const SECRET_BYTES: usize = 20;

/// A new, pending TOTP device, to show once (`POST auth/mfa/totp/setup/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpSetup {
    /// The secret in base32 (RFC 4648, no padding), for typing into an app.
    pub secret: String,
    /// The `otpauth://totp/…` URL with the issuer and the account's login name.
    pub otpauth_url: String,
    /// The URL as an inline SVG QR code.
    pub qr_svg: String,
}

/// A confirmed TOTP device (`POST auth/mfa/totp/confirm/`).
#[derive(Debug, Clone)]
pub struct TotpConfirmed {
    /// The ten recovery codes, shown this once.
    pub recovery_codes: Vec<String>,
    /// The login it completes, when it was confirmed with a setup `mfa_token`.
    pub login: Option<MfaPassed>,
}

/// The associated data binding a sealed secret to its user.
fn binding(user_id: i64) -> String {
    format!("totp:{user_id}")
}

/// The `otpauth` label: the login name, without the `:` the URL format reserves.
fn label(name: &str) -> String {
    name.replace(':', "_")
}

impl Auth {
    /// `POST auth/mfa/totp/setup/`: a new pending TOTP secret for the user (replacing a
    /// pending one), sealed in the store, with its `otpauth://` URL and QR code. It guards
    /// nothing until [`Auth::confirm_totp`]. `actor` is the logged-in user, or the `mfa_token`
    /// of a staff login that must set it up (`mfa_required_for_staff`). Throttled by `mfa`
    /// per user (a logged-in user) or per client (a setup token). Audited as
    /// `mfa.totp_setup`.
    ///
    /// # Errors
    /// `400 {"detail": "Two-factor authentication is already enabled."}`
    /// ([`AuthError::MfaRefused`]) when TOTP is on; `400 {"detail": "Two-factor
    /// authentication needs a key-encryption key on the server."}` without a
    /// `key_encryption_key` under [`MfaSettings::require_sealed_secrets`](super::MfaSettings);
    /// [`AuthError::MfaTokenInvalid`] for a bad setup token; [`AuthError::Throttled`]; the
    /// store's; the sealing's.
    pub async fn setup_totp(
        &self,
        actor: MfaActor<'_>,
        client: &ClientInfo,
    ) -> Result<TotpSetup, AuthError> {
        let user = match actor {
            MfaActor::User(user) => {
                self.throttles()
                    .check(MFA_THROTTLE_SCOPE, &format!("user_{}", user.id))
                    .await?;
                user.clone()
            }
            MfaActor::Pending(token) => {
                self.throttles()
                    .check(MFA_THROTTLE_SCOPE, client.ident())
                    .await?;
                self.setup_challenge_user(token).await?.1
            }
        };
        let kek = self.kek()?;
        if kek.is_none() && self.mfa_settings().require_sealed_secrets {
            return Err(AuthError::MfaRefused(NEEDS_KEK));
        }
        let mut bytes = [0u8; SECRET_BYTES];
        aws_lc_rs::rand::fill(&mut bytes)
            .map_err(|_| tessera_core::KeyError::new("the random generator failed"))?;
        let totp = self.totp_for(&user, bytes.to_vec())?;
        let secret = totp.secret().to_base32();
        bytes.fill(0);
        let sealed = seal_private_key(
            kek.as_ref(),
            &binding(user.id),
            &Secret::from(secret.as_str()),
        )?;
        if !self
            .store()
            .put_pending_totp(user.id, &sealed, self.now())
            .await?
        {
            return Err(AuthError::MfaRefused(ALREADY_ENABLED));
        }
        let otpauth_url = totp
            .to_url()
            .map_err(|e| AuthError::MfaRefused(totp_error(&e)))?;
        let qr_svg = qr_svg(&otpauth_url)?;
        self.audit(
            Audit::new(event::MFA_TOTP_SETUP)
                .user(user.id)
                .login_name(self.lockout_name_of(&user))
                .client(client)
                .detail(json!({"during_login": matches!(actor, MfaActor::Pending(_))})),
        )
        .await;
        Ok(TotpSetup {
            secret,
            otpauth_url,
            qr_svg,
        })
    }

    /// `POST auth/mfa/totp/confirm/` (`code`, and `mfa_token` for a staff login setting it
    /// up): confirms the pending device with its current code, and gives the user ten new
    /// recovery codes (any earlier ones die). Audited as `mfa.totp_enabled`. With a setup
    /// token, the code counts as the login's second step (guesses, lockout as
    /// [`Auth::verify_mfa`]) and the answer carries the login to complete. Throttled by
    /// `mfa` per user and per client.
    ///
    /// # Errors
    /// `{"code": ["Invalid code."]}` for a wrong code; [`AuthError::MfaRefused`] with nothing
    /// set up or TOTP on already; [`AuthError::MfaTokenInvalid`]; [`AuthError::Throttled`];
    /// the store's.
    pub async fn confirm_totp(
        &self,
        actor: MfaActor<'_>,
        data: &Map<String, Value>,
        client: &ClientInfo,
    ) -> Result<TotpConfirmed, AuthError> {
        let mut fields = Fields::new(data);
        let code = read_code(&mut fields, true);
        fields.finish()?;
        let code = code.unwrap_or_default();
        let (challenge, user) = match actor {
            MfaActor::User(user) => {
                let by_user = format!("user_{}", user.id);
                self.throttles()
                    .check_each(MFA_THROTTLE_SCOPE, &[&by_user, client.ident()])
                    .await?;
                (None, user.clone())
            }
            MfaActor::Pending(token) => {
                self.throttles()
                    .check(MFA_THROTTLE_SCOPE, client.ident())
                    .await?;
                let (challenge, user) = self
                    .attempt_challenge(token, MfaPurpose::Setup, client)
                    .await?;
                (Some(challenge), user)
            }
        };
        let device = self.store().totp_device(user.id).await?;
        let device = match device {
            Some(device) if device.is_confirmed() => {
                return Err(AuthError::MfaRefused(ALREADY_ENABLED));
            }
            Some(device) => device,
            None => return Err(AuthError::MfaRefused(NOT_SET_UP)),
        };
        let totp = self.open_totp(&user, &device.secret)?;
        let step = totp
            .check(&code, unix_seconds(self.now()))
            .and_then(|step| i64::try_from(step).ok());
        let Some(step) = step else {
            // During a login, the challenge's failure (audited once, counted towards the
            // lockout); otherwise the confirmation's.
            if let Some(challenge) = &challenge {
                self.second_factor_failed(&user, challenge, "wrong_code", client)
                    .await?;
            } else {
                self.audit(
                    Audit::new(event::MFA_FAILED)
                        .user(user.id)
                        .login_name(self.lockout_name_of(&user))
                        .client(client)
                        .detail(json!({"purpose": "confirm"})),
                )
                .await;
            }
            return Err(AuthError::field("code", INVALID_CODE));
        };
        let (codes, hashes) = self.new_recovery_codes(&user, &device.secret)?;
        if !self
            .store()
            .confirm_totp(user.id, step, self.now(), &hashes)
            .await?
        {
            return Err(AuthError::MfaRefused(ALREADY_ENABLED));
        }
        self.audit(
            Audit::new(event::MFA_TOTP_ENABLED)
                .user(user.id)
                .client(client),
        )
        .await;
        let login = match challenge {
            Some(challenge) => {
                self.finish_challenge(&challenge, &user, "totp_setup", client)
                    .await?;
                Some(MfaPassed {
                    route: challenge.route,
                    user,
                })
            }
            None => None,
        };
        Ok(TotpConfirmed {
            recovery_codes: codes,
            login,
        })
    }

    /// `POST auth/mfa/totp/disable/` (`password`, `code`: a TOTP or a recovery code):
    /// removes the TOTP device and the recovery codes. Audited as `mfa.totp_disabled`. A
    /// wrong password counts as a failed login (as a password change's does); a user
    /// without a usable password gives the `code` alone. Throttled by `mfa` per user and
    /// per client.
    ///
    /// # Errors
    /// `{"password": ["Incorrect password."]}`, `{"code": ["Invalid code."]}`;
    /// [`AuthError::MfaRefused`] when TOTP is off; [`AuthError::Throttled`]; the store's.
    pub async fn disable_totp(
        &self,
        user: &User,
        data: &Map<String, Value>,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let by_user = format!("user_{}", user.id);
        self.throttles()
            .check_each(MFA_THROTTLE_SCOPE, &[&by_user, client.ident()])
            .await?;
        // A user without a usable password (a social account) has none to give: the code
        // alone proves the device.
        let with_password = user.has_usable_password();
        let mut fields = Fields::new(data);
        let password = if with_password {
            fields.required("password", Trim::No)
        } else {
            None
        };
        let code = read_code(&mut fields, true);
        fields.finish()?;
        let code = code.unwrap_or_default();
        if !self.mfa_methods(user).await?.contains(&"totp") {
            return Err(AuthError::MfaRefused(NOT_ENABLED));
        }
        if with_password {
            self.check_password_field(user, &password.unwrap_or_default(), client)
                .await?;
        }
        if self.check_second_code(user, &code, client).await?.is_none() {
            self.audit(
                Audit::new(event::MFA_FAILED)
                    .user(user.id)
                    .login_name(self.lockout_name_of(user))
                    .client(client)
                    .detail(json!({"purpose": "disable"})),
            )
            .await;
            return Err(AuthError::field("code", INVALID_CODE));
        }
        self.store().delete_mfa(user.id).await?;
        self.audit(
            Audit::new(event::MFA_TOTP_DISABLED)
                .user(user.id)
                .client(client),
        )
        .await;
        Ok(())
    }

    /// `password` is `user`'s, checked as a login would be, or
    /// `{"password": ["Incorrect password."]}`.
    pub(crate) async fn check_password_field(
        &self,
        user: &User,
        password: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        if self
            .current_password_matches(user, password, client)
            .await?
        {
            Ok(())
        } else {
            let mut errors = FieldErrors::default();
            errors.add("password", "Incorrect password.");
            Err(errors.into())
        }
    }

    /// Whether `code` is the current code of `user`'s confirmed device, accepting its step
    /// (once: a step accepted before, or an earlier one, is refused).
    pub(crate) async fn accept_totp_code(
        &self,
        user: &User,
        code: &str,
    ) -> Result<bool, AuthError> {
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(false);
        }
        let Some(device) = self.store().totp_device(user.id).await? else {
            return Ok(false);
        };
        if !device.is_confirmed() {
            return Ok(false);
        }
        let totp = self.open_totp(user, &device.secret)?;
        let Some(step) = totp
            .check(code, unix_seconds(self.now()))
            .and_then(|step| i64::try_from(step).ok())
        else {
            return Ok(false);
        };
        Ok(self.store().accept_totp_step(user.id, step).await?)
    }

    /// Seals, with the `key_encryption_key`, every TOTP secret still stored `plain:` (set up
    /// before the key was configured); the server does it when it starts. Returns how many
    /// were sealed; none without a key.
    ///
    /// # Errors
    /// An unusable `key_encryption_key`; the store's.
    pub async fn seal_plain_totp_secrets(&self) -> Result<u64, AuthError> {
        let Some(kek) = self.kek()? else {
            return Ok(0);
        };
        let mut sealed = 0;
        for (user_id, stored) in self.store().totp_secrets().await? {
            let Some(plain) = tessera_core::plain_private_key(&stored) else {
                continue;
            };
            let resealed = seal_private_key(Some(&kek), &binding(user_id), &plain)?;
            if self
                .store()
                .reseal_totp_secret(user_id, &stored, &resealed)
                .await?
            {
                sealed += 1;
            }
        }
        Ok(sealed)
    }

    /// How many TOTP secrets the store keeps unencrypted (`plain:`).
    ///
    /// # Errors
    /// The store's.
    pub async fn plain_totp_secrets(&self) -> Result<usize, AuthError> {
        Ok(self
            .store()
            .totp_secrets()
            .await?
            .iter()
            .filter(|(_, stored)| !tessera_core::is_sealed(stored))
            .count())
    }

    /// The user of a live setup challenge (not counted as a guess).
    async fn setup_challenge_user(&self, token: &str) -> Result<(MfaChallenge, User), AuthError> {
        let challenge = self
            .peek_mfa_challenge(token)
            .await?
            .filter(|c| c.purpose == MfaPurpose::Setup)
            .ok_or(AuthError::MfaTokenInvalid)?;
        let user = self
            .store()
            .user_by_id(challenge.user_id)
            .await?
            .filter(|user| user.is_active)
            .ok_or(AuthError::MfaTokenInvalid)?;
        Ok((challenge, user))
    }

    /// The key-encryption key, if one is configured.
    fn kek(&self) -> Result<Option<tessera_core::KeyEncryptionKey>, AuthError> {
        self.settings()
            .key_encryption_key
            .as_ref()
            .map(tessera_core::KeyEncryptionKey::from_secret)
            .transpose()
            .map_err(AuthError::from)
    }

    /// The device of `user` from its stored secret.
    fn open_totp(&self, user: &User, stored: &str) -> Result<Totp, AuthError> {
        let bytes = self.totp_secret_bytes(user, stored)?;
        self.totp_for(user, bytes)
    }

    /// The raw secret of `user`'s device from its stored (sealed or `plain:`) form.
    pub(super) fn totp_secret_bytes(
        &self,
        user: &User,
        stored: &str,
    ) -> Result<Vec<u8>, AuthError> {
        let secret = open_private_key(self.kek()?.as_ref(), &binding(user.id), stored)?;
        let bytes = totp_rs::Secret::try_from_base32(secret.expose())
            .map_err(|_| tessera_core::KeyError::new("a stored TOTP secret is malformed"))?;
        Ok(bytes.as_bytes().to_vec())
    }

    /// The device of `user` with the secret `bytes`, its issuer and account name set.
    fn totp_for(&self, user: &User, bytes: Vec<u8>) -> Result<Totp, AuthError> {
        let name = self.login_name_of(user).unwrap_or(&user.email);
        Builder::new()
            .with_secret(bytes)
            .with_account_name(label(name))
            .with_issuer(Some(self.mfa_settings().mfa_issuer.trim().to_owned()))
            .build()
            .map_err(|e| AuthError::MfaRefused(totp_error(&e)))
    }
}

/// A TOTP failure that settings validation and the secret's size rule out.
fn totp_error(error: &totp_rs::TotpError) -> &'static str {
    tracing::error!(%error, "building a TOTP device failed");
    "Two-factor authentication cannot be set up for this account."
}

/// The `otpauth` URL as an inline SVG QR code.
fn qr_svg(url: &str) -> Result<String, AuthError> {
    let code = qrcode::QrCode::new(url.as_bytes())
        .map_err(|_| AuthError::MfaRefused("The QR code could not be made."))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build())
}
