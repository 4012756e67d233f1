//! Multi-factor authentication: a TOTP device (RFC 6238: SHA-1, 6 digits, 30 s) with
//! single-use recovery codes, and the second step every login route takes for a user who
//! has a second factor.
//!
//! | use case | where |
//! |---|---|
//! | the settings (`mfa_issuer`, `mfa_token_lifetime`, `mfa_required_for_staff`) | [`MfaSettings`] |
//! | the step after every login's first factor: complete, or a second step owed | [`Auth::login_step`], [`LoginStep`] |
//! | the login's second step: the challenge, then [`Auth::verify_mfa`] | [`Auth::second_factor`], [`MfaPending`], [`MfaPassed`] |
//! | setting TOTP up, confirming, disabling; the status | [`Auth::setup_totp`], [`Auth::confirm_totp`], [`Auth::disable_totp`], [`Auth::mfa_status`] |
//! | recovery codes | [`Auth::regenerate_recovery_codes`] |
//! | staff: removing someone's second factors | [`Auth::reset_mfa`] |
//!
//! # The second step
//! Once a login route has checked the first factor (a password, a mailed code, a social
//! identity), it calls [`Auth::login_step`]. For a user with a confirmed TOTP device or a
//! passkey it issues nothing: [`Auth::second_factor`]
//! stores a challenge — a random 256-bit token, kept as its SHA-256, bound to the user and
//! to the route, living `mfa_token_lifetime` — and the route answers 401 with the token and
//! the methods the user can use. [`Auth::verify_mfa`] takes the token with a TOTP code, a
//! recovery code or a passkey assertion, consumes the token (one `DELETE … RETURNING`), and
//! hands back the user and the route, whose success answer the caller then gives. A wrong
//! code leaves the token but counts: [`MAX_ATTEMPTS`] guesses per token, each a failed login
//! of the user's name from that client towards the lockout; the `mfa` throttle limits the
//! attempts per client and per user (whatever the address, and however many tokens the
//! password buys). The login is complete — `last_login` set, counted as a success — only
//! once the second step passes.
//!
//! With `mfa_required_for_staff`, a staff member without a second factor gets a challenge of
//! the other purpose ([`MfaPurpose::Setup`]): it is good only for setting TOTP up and
//! confirming it ([`Auth::setup_totp`], [`Auth::confirm_totp`] with
//! [`MfaActor::Pending`]), and the confirmation completes the login.
//!
//! # At rest
//! The TOTP secret is sealed with the `key_encryption_key` (AES-256-GCM, bound to
//! `totp:<user id>`, as signing keys are bound to their key id); without one it is stored
//! `plain:` — development only: with [`MfaSettings::require_sealed_secrets`] (the server
//! sets it outside debug mode) setting TOTP up is refused instead. Recovery codes are kept
//! as HMAC-SHA256 keyed with the user's TOTP secret (so that a copy of the database does
//! not give them away, and no server secret's change breaks them), challenge tokens as
//! SHA-256.
//!
//! A password change or reset keeps the second factors (they prove something else) but
//! ends the pending second steps: a login that checked the old password cannot finish.
//! Deleting the user deletes them.

mod challenge;
mod passkey;
mod recovery;
mod step;
mod totp;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tessera_core::{SettingsError, Timestamp};
use tessera_store::User;

use crate::actor::Actor;
use crate::audit::{Audit, event};
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::form::{Fields, Trim};
use crate::service::Auth;

pub use challenge::MfaChallenge;
pub use step::LoginStep;
pub use totp::TotpSetup;

/// Guesses a challenge takes before it dies.
pub const MAX_ATTEMPTS: i64 = 5;
/// The throttle scope of the second step (by client address), and of TOTP confirmation
/// and disabling (by user).
pub const MFA_THROTTLE_SCOPE: &str = "mfa";
/// The recovery codes a user gets at a time.
pub const RECOVERY_CODES: usize = 10;

/// The field error of a wrong TOTP or recovery code.
pub const INVALID_CODE: &str = "Invalid code.";
/// The 401 detail of a login that needs its second step.
pub const MFA_REQUIRED: &str = "Multi-factor authentication required.";
/// The 401 detail of a staff login that must set a second factor up first.
pub const MFA_SETUP_REQUIRED: &str = "Multi-factor authentication must be set up for this account.";
/// The 400 detail of a TOTP setup while TOTP is on.
pub const ALREADY_ENABLED: &str = "Two-factor authentication is already enabled.";
/// The 400 detail of a confirmation with nothing set up.
pub const NOT_SET_UP: &str = "Set up two-factor authentication first.";
/// The 400 detail of disabling or regenerating codes without TOTP on.
pub const NOT_ENABLED: &str = "Two-factor authentication is not enabled.";
/// The 400 detail of a TOTP setup that would store its secret unencrypted where
/// [`MfaSettings::require_sealed_secrets`] forbids it.
pub const NEEDS_KEK: &str = "Two-factor authentication needs a key-encryption key on the server.";

/// The longest code read (a recovery code with its dash, with room for spaces).
const MAX_CODE_CHARS: usize = 32;

/// Multi-factor settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MfaSettings {
    /// The issuer in the `otpauth://` URL, which authenticator apps show beside the account
    /// (no `:`, at most 100 characters). Defaults to `Tessera`.
    pub mfa_issuer: String,
    /// How long a login's second step may take (the `mfa_token`'s lifetime): 30 seconds
    /// to an hour. Defaults to 5 minutes.
    #[serde(with = "tessera_core::duration")]
    pub mfa_token_lifetime: Duration,
    /// Staff members and superusers must log in with a second factor; one without gets the
    /// chance to set TOTP up during the login (see the module's documentation). Defaults to
    /// `false`.
    #[serde(with = "tessera_core::boolean")]
    pub mfa_required_for_staff: bool,
    /// Refuse to set TOTP up without a `key_encryption_key` (the secret would be stored
    /// unencrypted) rather than store it `plain:`. Not a setting: the server turns it on
    /// outside debug mode, where it would refuse to start while such a secret exists.
    /// Defaults to `false`.
    #[serde(skip)]
    pub require_sealed_secrets: bool,
}

impl Default for MfaSettings {
    fn default() -> Self {
        Self {
            mfa_issuer: "Tessera".into(),
            mfa_token_lifetime: Duration::from_secs(300),
            mfa_required_for_staff: false,
            require_sealed_secrets: false,
        }
    }
}

impl MfaSettings {
    /// Checks every value; the first problem names its setting.
    ///
    /// # Errors
    /// An empty or too long issuer, one holding `:`, or a lifetime out of bounds.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let issuer = self.mfa_issuer.trim();
        if issuer.is_empty() || issuer.chars().count() > 100 || issuer.contains(':') {
            return Err(SettingsError {
                setting: "mfa_issuer".into(),
                message: "must be 1 to 100 characters, without `:`".into(),
            });
        }
        let lifetime = self.mfa_token_lifetime;
        if lifetime < Duration::from_secs(30) || lifetime > Duration::from_secs(3600) {
            return Err(SettingsError {
                setting: "mfa_token_lifetime".into(),
                message: "must be between 30 seconds and an hour".into(),
            });
        }
        Ok(())
    }
}

/// The login route a challenge came from: its success answer is what
/// [`Auth::verify_mfa`]'s caller gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MfaRoute {
    /// simplejwt's `POST token/`.
    Pair,
    /// simplejwt's `POST token/sliding/`.
    Sliding,
    /// dj-rest-auth's `POST auth/login/`.
    Login,
    /// `POST auth/code/login/` (a mailed code).
    CodeLogin,
    /// `POST auth/cookie/login/` (the tokens in cookies).
    CookieLogin,
    /// `POST auth/social/exchange/` (a social login's one-time code): answered as
    /// `POST token/`, recorded as a social login through the linked identity `identity`.
    SocialPair {
        /// The id of the linked identity signing in.
        identity: i64,
    },
    /// A social login's callback in cookie mode: answered as `POST auth/cookie/login/`,
    /// recorded as a social login through the linked identity `identity`.
    SocialCookie {
        /// The id of the linked identity signing in.
        identity: i64,
    },
}

impl MfaRoute {
    /// The route's name (in audit details).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pair => "token",
            Self::Sliding => "token_sliding",
            Self::Login => "login",
            Self::CodeLogin => "code_login",
            Self::CookieLogin => "cookie_login",
            Self::SocialPair { .. } => "social_token",
            Self::SocialCookie { .. } => "social_cookie",
        }
    }

    /// The linked identity of a social sign-in.
    pub fn social_identity(self) -> Option<i64> {
        match self {
            Self::SocialPair { identity } | Self::SocialCookie { identity } => Some(identity),
            _ => None,
        }
    }

    /// The stored form: the name, and for a social sign-in `:` and the identity's id.
    pub fn stored(self) -> String {
        match self.social_identity() {
            Some(identity) => format!("{}:{identity}", self.as_str()),
            None => self.as_str().to_owned(),
        }
    }

    /// The route of a stored form ([`MfaRoute::stored`]).
    pub fn parse(stored: &str) -> Option<Self> {
        if let Some((name, identity)) = stored.split_once(':') {
            let identity = identity.parse().ok()?;
            return match name {
                "social_token" => Some(Self::SocialPair { identity }),
                "social_cookie" => Some(Self::SocialCookie { identity }),
                _ => None,
            };
        }
        [
            Self::Pair,
            Self::Sliding,
            Self::Login,
            Self::CodeLogin,
            Self::CookieLogin,
        ]
        .into_iter()
        .find(|route| route.as_str() == stored)
    }
}

/// What a challenge allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaPurpose {
    /// The second step of a login ([`Auth::verify_mfa`]).
    Verify,
    /// Setting TOTP up during a staff login (`mfa_required_for_staff`).
    Setup,
}

impl MfaPurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Setup => "setup",
        }
    }
}

/// A login that waits for its second step: the route answers 401 with it
/// ([`MfaPending::to_json`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaPending {
    /// What it waits for.
    pub purpose: MfaPurpose,
    /// The single-use token to send with the second factor (or the setup).
    pub mfa_token: String,
    /// The methods the user can use (`totp`, `recovery_code`, `passkey`); empty for a setup.
    pub methods: Vec<&'static str>,
}

impl MfaPending {
    /// The 401 body: `{"detail", "code": "mfa_required", "mfa_token", "methods"}`, or
    /// `{"detail", "code": "mfa_setup_required", "mfa_token"}`.
    pub fn to_json(&self) -> Value {
        match self.purpose {
            MfaPurpose::Verify => json!({
                "detail": MFA_REQUIRED,
                "code": "mfa_required",
                "mfa_token": self.mfa_token,
                "methods": self.methods,
            }),
            MfaPurpose::Setup => json!({
                "detail": MFA_SETUP_REQUIRED,
                "code": "mfa_setup_required",
                "mfa_token": self.mfa_token,
            }),
        }
    }
}

/// A second step passed: the user to log in, through the route the login started at.
#[derive(Debug, Clone)]
pub struct MfaPassed {
    /// The user.
    pub user: User,
    /// The route whose success answer to give.
    pub route: MfaRoute,
}

/// A second factor offered by [`Auth::verify_mfa`].
#[derive(Debug, Clone)]
pub enum SecondFactor {
    /// A TOTP code or a recovery code.
    Code(String),
    /// A WebAuthn assertion (the `passkey` object).
    Passkey(Value),
}

/// Who sets TOTP up: a logged-in user, or a staff member in the middle of a login that
/// requires it (with the challenge's token).
#[derive(Debug, Clone, Copy)]
pub enum MfaActor<'a> {
    /// The authenticated user.
    User(&'a User),
    /// The `mfa_token` of a login waiting for its setup.
    Pending(&'a str),
}

/// The refusal (as `non_field_errors`) of a staff reset that would take the account's last
/// way in (its passkeys sign it in, and it has no usable password and no linked provider)
/// without `force`.
pub const RESET_LEAVES_NO_WAY_IN: &str = "The user's passkeys are their only way to sign in: \
     without them the account cannot be entered (no usable password, no linked provider). \
     Reset with force (`--force`, or `\"force\": true`) to remove them anyway.";

/// What a staff reset removed ([`Auth::reset_mfa`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MfaReset {
    /// Whether a confirmed TOTP device went (its recovery codes with it).
    pub totp: bool,
    /// How many passkeys went.
    pub passkeys: u64,
    /// Whether the passkeys that went were the account's last way in (a forced reset): the
    /// user can no longer sign in until staff give them a password.
    pub no_way_in: bool,
}

impl MfaReset {
    /// Whether any second factor went.
    pub fn removed_any(&self) -> bool {
        self.totp || self.passkeys > 0
    }
}

/// The user's second factors (`GET auth/mfa/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaStatus {
    /// Whether a confirmed TOTP device guards the logins.
    pub totp: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
    /// The methods a login can use.
    pub methods: Vec<&'static str>,
    /// Whether the user has a usable password (the forms that ask for the current one
    /// leave it out otherwise).
    pub has_usable_password: bool,
}

impl Auth {
    /// The second step `user` (whose first factor was just checked) owes on `route`, if
    /// any: a stored challenge, audited as `mfa.challenge`. `None` for a user with no second
    /// factor (who logs in as before), unless `mfa_required_for_staff` catches them: then a
    /// setup challenge. The route answers 401 with [`MfaPending::to_json`] and issues
    /// nothing. Login routes take [`Auth::login_step`], which calls this and also records a
    /// login that owes nothing as complete.
    ///
    /// # Errors
    /// The store's; a failing random generator.
    pub async fn second_factor(
        &self,
        user: &User,
        route: MfaRoute,
        client: &ClientInfo,
    ) -> Result<Option<MfaPending>, AuthError> {
        let methods = self.mfa_methods(user).await?;
        let purpose = if !methods.is_empty() {
            MfaPurpose::Verify
        } else if self.mfa_settings().mfa_required_for_staff && (user.is_staff || user.is_superuser)
        {
            MfaPurpose::Setup
        } else {
            return Ok(None);
        };
        let mfa_token = self.open_challenge(user, route, purpose).await?;
        metrics::counter!("tessera_mfa_total", "outcome" => "challenge").increment(1);
        self.audit(
            Audit::new(event::MFA_CHALLENGE)
                .user(user.id)
                .login_name(self.lockout_name_of(user))
                .client(client)
                .detail(json!({"route": route.as_str(), "purpose": purpose.as_str()})),
        )
        .await;
        Ok(Some(MfaPending {
            purpose,
            mfa_token,
            methods,
        }))
    }

    /// The methods `user` can pass a second step with: `totp` and `recovery_code` with a
    /// confirmed TOTP device, `passkey` with a passkey. Empty: no second factor.
    ///
    /// # Errors
    /// The store's.
    pub async fn mfa_methods(&self, user: &User) -> Result<Vec<&'static str>, AuthError> {
        let mut methods = Vec::new();
        if self
            .store()
            .totp_device(user.id)
            .await?
            .is_some_and(|device| device.is_confirmed())
        {
            methods.extend(["totp", "recovery_code"]);
        }
        if self.passkey_count(user.id).await? > 0 {
            methods.push("passkey");
        }
        Ok(methods)
    }

    /// Whether a login of `user` owes a second step: they have a second factor, or
    /// `mfa_required_for_staff` makes them set one up. The login completes (lockout lifted,
    /// `last_login`, success counted) only when it is passed.
    ///
    /// # Errors
    /// The store's.
    pub(crate) async fn owes_second_step(&self, user: &User) -> Result<bool, AuthError> {
        Ok(!self.mfa_methods(user).await?.is_empty()
            || (self.mfa_settings().mfa_required_for_staff && (user.is_staff || user.is_superuser)))
    }

    /// `POST auth/mfa/verify/` (`mfa_token` and `code`, or `mfa_token` and `passkey`): the
    /// second step. The token must be a live login challenge; the code the user's current
    /// TOTP code (±1 step, each step accepted once) or one of their unused recovery codes
    /// (then used up); or the assertion one of their passkeys. Success consumes the token
    /// and is audited as `mfa.verified` (`mfa.recovery_code_used` too for a recovery code);
    /// the caller then answers as the route the login came from would have. A wrong code is
    /// audited as `mfa.failed`, counts towards the user's lockout from this client and spends
    /// one of the token's [`MAX_ATTEMPTS`] guesses (the last one deletes the token). While
    /// the user's name is locked for this client nothing is tried. Throttled by `mfa` per
    /// client and per user (the token's), so that fresh tokens from fresh addresses buy no
    /// more guesses than the rate.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] for missing or malformed fields and for a wrong code
    /// (`{"code": ["Invalid code."]}`); [`AuthError::MfaTokenInvalid`] for an unknown, used,
    /// expired or exhausted token, one for a setup, or a locked name;
    /// [`AuthError::Throttled`]; the store's.
    pub async fn verify_mfa(
        &self,
        data: &Map<String, Value>,
        client: &ClientInfo,
    ) -> Result<MfaPassed, AuthError> {
        self.throttles()
            .check(MFA_THROTTLE_SCOPE, client.ident())
            .await?;
        let mut fields = Fields::new(data);
        let token = fields.required("mfa_token", Trim::Yes);
        let factor = match data.get("passkey") {
            Some(Value::Object(assertion)) => {
                Some(SecondFactor::Passkey(Value::Object(assertion.clone())))
            }
            Some(Value::Null) | None => read_code(&mut fields, true).map(SecondFactor::Code),
            Some(_) => {
                fields.fail("passkey", "Must be an object.");
                None
            }
        };
        fields.finish()?;
        let (Some(token), Some(factor)) = (token, factor) else {
            return Err(AuthError::field("code", "This field is required."));
        };
        let (challenge, user) = self
            .attempt_challenge(&token, MfaPurpose::Verify, client)
            .await?;
        let method = match &factor {
            SecondFactor::Code(code) => self
                .check_second_code(&user, code, client)
                .await?
                .ok_or("wrong_code"),
            SecondFactor::Passkey(assertion) => self
                .verify_passkey_second_factor(&user, &challenge, assertion, client)
                .await?
                .map(|()| "passkey"),
        };
        let method = match method {
            Ok(method) => method,
            Err(reason) => {
                self.second_factor_failed(&user, &challenge, reason, client)
                    .await?;
                return Err(AuthError::field(
                    if matches!(factor, SecondFactor::Passkey(_)) {
                        "passkey"
                    } else {
                        "code"
                    },
                    INVALID_CODE,
                ));
            }
        };
        self.finish_challenge(&challenge, &user, method, client)
            .await?;
        Ok(MfaPassed {
            user,
            route: challenge.route,
        })
    }

    /// Which of `users` have TOTP on (a confirmed device): the admin API's `mfa_enabled`.
    ///
    /// # Errors
    /// The store's.
    pub async fn users_with_totp(
        &self,
        users: &[User],
    ) -> Result<std::collections::HashSet<i64>, AuthError> {
        let ids: Vec<i64> = users.iter().map(|user| user.id).collect();
        Ok(self
            .store()
            .users_with_totp(&ids)
            .await?
            .into_iter()
            .collect())
    }

    /// The second factors of `user` (`GET auth/mfa/`).
    ///
    /// # Errors
    /// The store's.
    pub async fn mfa_status(&self, user: &User) -> Result<MfaStatus, AuthError> {
        let methods = self.mfa_methods(user).await?;
        let totp = methods.contains(&"totp");
        let recovery_codes_left = if totp {
            self.store().recovery_codes_left(user.id).await?
        } else {
            0
        };
        Ok(MfaStatus {
            totp,
            recovery_codes_left,
            methods,
            has_usable_password: user.has_usable_password(),
        })
    }

    /// Removes every second factor of `user` — TOTP device, recovery codes, passkeys, and
    /// the pending challenges and WebAuthn ceremonies — in one transaction, for a staff
    /// member or the command line (a lost phone): their next login asks for the first factor
    /// alone. When the passkeys are the account's last way in (they sign in, and there is no
    /// usable password and no linked provider), the reset is refused unless `force`; a forced
    /// one says so (`no_way_in`). Audited as `admin.mfa_reset` (`detail.totp`,
    /// `detail.passkeys`, and `detail.no_way_in` when true).
    ///
    /// # Errors
    /// [`AuthError::PermissionDenied`] under the privilege rules (staff who are not
    /// superusers acting on a superuser); [`AuthError::Invalid`]
    /// ([`RESET_LEAVES_NO_WAY_IN`]) for the last way in without `force`; the store's.
    pub async fn reset_mfa(
        &self,
        user: &User,
        actor: Actor<'_>,
        force: bool,
    ) -> Result<MfaReset, AuthError> {
        self.authorize(user, crate::accounts::AdminAction::ResetMfa, actor)
            .await?;
        let strands = self.passkeys_sign_in()
            && self.passkey_count(user.id).await? > 0
            && self.ways_in_besides_passkeys(user).await? == 0;
        if strands && !force {
            return Err(AuthError::field("non_field_errors", RESET_LEAVES_NO_WAY_IN));
        }
        let (totp, passkeys) = self.store().delete_second_factors(user.id).await?;
        let no_way_in = strands && passkeys > 0;
        let mut detail = json!({"totp": totp, "passkeys": passkeys});
        if no_way_in {
            detail["no_way_in"] = true.into();
        }
        self.audit(actor.event(event::ADMIN_MFA_RESET, user).detail(detail))
            .await;
        Ok(MfaReset {
            totp,
            passkeys,
            no_way_in,
        })
    }

    /// Whether `code` is `user`'s current TOTP code (its step then used up) or one of
    /// their unused recovery codes (then used up, audited as `mfa.recovery_code_used`):
    /// the method's name, or `None`.
    pub(crate) async fn check_second_code(
        &self,
        user: &User,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Option<&'static str>, AuthError> {
        if self.accept_totp_code(user, code).await? {
            return Ok(Some("totp"));
        }
        if self.use_recovery_code(user, code, client).await? {
            return Ok(Some("recovery_code"));
        }
        Ok(None)
    }

    /// A wrong second factor on `challenge`: audited as `mfa.failed` (`detail.reason`:
    /// `wrong_code`, or why a passkey assertion was refused), counted towards the lockout
    /// of the user's name from `client`, and the challenge deleted when that was its last
    /// guess.
    pub(crate) async fn second_factor_failed(
        &self,
        user: &User,
        challenge: &MfaChallenge,
        reason: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        metrics::counter!("tessera_mfa_total", "outcome" => "failure").increment(1);
        self.audit(
            Audit::new(event::MFA_FAILED)
                .user(user.id)
                .login_name(self.lockout_name_of(user))
                .client(client)
                .detail(json!({
                    "route": challenge.route.as_str(),
                    "attempts": challenge.attempts,
                    "reason": reason,
                })),
        )
        .await;
        if challenge.attempts >= MAX_ATTEMPTS {
            self.store()
                .delete_mfa_challenge(&challenge.token_hash)
                .await?;
        }
        let name = self.lockout_name_of(user).to_owned();
        self.login_failed(&name, Some(user.id), "wrong_mfa_code", client)
            .await
    }

    /// The multi-factor settings in force.
    pub fn mfa_settings(&self) -> &MfaSettings {
        self.mfa_state()
    }
}

/// The `code` field: required unless `required` is off, trimmed, spaces inside dropped (apps
/// show `123 456`), at most [`MAX_CODE_CHARS`].
pub(crate) fn read_code(fields: &mut Fields<'_>, required: bool) -> Option<String> {
    let code = if required {
        fields.required("code", Trim::Yes)
    } else {
        fields.optional("code", Trim::Yes)
    }?;
    if code.chars().count() > MAX_CODE_CHARS {
        fields.fail("code", INVALID_CODE);
        return None;
    }
    Some(code.chars().filter(|c| !c.is_whitespace()).collect())
}

/// `now` as Unix seconds (a TOTP time).
pub(crate) fn unix_seconds(now: Timestamp) -> u64 {
    u64::try_from(now.as_secs()).unwrap_or(0)
}
