//! Account flows by e-mail: password reset, e-mail verification, e-mail change and login
//! by code, in dj-rest-auth's dialect.
//!
//! A request never mints a secret: it only queues a row in the store's outbox (kind,
//! recipient, the user when known). The outbox sender resolves the user when it sends,
//! mints the token or code then (keeping only its hash), renders the mail and sends it. An
//! unknown address is queued too and dropped by the sender, so a request does the same
//! work whether or not the address belongs to someone. Tokens are single use, bound to the
//! state they change (a reset token dies when the password or the address changes), and
//! only the newest of a purpose works.
//!
//! | route (dj-rest-auth's dialect) | use case |
//! |---|---|
//! | `POST password/reset/`, `password/reset/confirm/` | [`Auth::request_password_reset`], [`Auth::confirm_password_reset`] |
//! | `POST verify-email/`, `verify-email/resend/` | [`Auth::verify_email`], [`Auth::resend_email_verification`] |
//! | `POST email/change/`, `email/change/confirm/` | [`Auth::request_email_change`], [`Auth::confirm_email_change`] |
//! | `POST code/request/`, `code/login/` | [`Auth::request_login_code`], [`Auth::login_with_code`] |
//! | staff: resend a verification mail | [`Auth::staff_resend_verification`] |
//! | the outbox sender, a test mail | [`Auth::send_due_mail`], [`Auth::send_test_email`] |
//!
//! Every login path asks [`Auth::check_email_verified`] (`require_verified_email`).

mod email_change;
mod login_code;
mod password_reset;
mod sender;
mod tokens;
mod verification;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tessera_core::SettingsError;
use tessera_store::{AccountToken, CodeOwner, NewMail, User};
use tokio::sync::Notify;

use crate::audit::{Audit, event};
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::form::{Fields, Trim, too_long};
use crate::mail::{EmailBackend, MailKind, MailSettings, Mailer, Templates};
use crate::rules::{EMAIL_MAX_LENGTH, has_invisible, validate_email};
use crate::secret::{sha256_hex, token_hash};
use crate::service::Auth;

pub use email_change::EMAIL_UNCHANGED;
pub use sender::{MAIL_BATCH, MAIL_LEASE, MAIL_MAX_ATTEMPTS, MAIL_POLL_INTERVAL};
pub use tokens::{decode_uid, encode_uid};

use tokens::{MAX_CODE_ATTEMPTS, Purpose};

/// The public URL when none is configured.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8000";

/// The throttle scope of mail requests, per client address (`20/hour` by default): over it,
/// 429.
pub const REQUEST_SCOPE: &str = "email_request";
/// The throttle scope of mails to one address (keyed by the SHA-256 of the address,
/// `5/hour` by default): over it, the request is answered as usual but nothing is queued.
pub const RECIPIENT_SCOPE: &str = "email_recipient";
/// The throttle scope of confirmations, verifications and code logins, per client address
/// (`30/hour` by default).
pub const CONFIRM_SCOPE: &str = "email_confirm";

/// The message of a token, code or uid that is wrong, used or expired (dj-rest-auth's).
pub const INVALID_VALUE: &str = "Invalid value";
/// Django's `SetPasswordForm` message for two different passwords.
pub const PASSWORDS_DIFFER: &str = "The two password fields didn\u{2019}t match.";
/// The message for an address Django's `EmailValidator` refuses.
const INVALID_EMAIL: &str = "Enter a valid email address.";

/// Whether, and where, an unverified e-mail address matters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequireVerifiedEmail {
    /// Nothing depends on it (verification mails are still sent at registration and on
    /// request).
    #[default]
    Off,
    /// The same as `off` for logging in; the account shows whether the address is
    /// verified (allauth's `"optional"`).
    Optional,
    /// Users whose address is not verified cannot log in (allauth's
    /// `ACCOUNT_EMAIL_VERIFICATION = "mandatory"`).
    Login,
}

/// Settings of the account flows by e-mail, next to the others in the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmailFlowSettings {
    /// The link of a password-reset mail; `{server}` is the public URL, `{uid}` the user's
    /// id (base64url of its decimal text, as Django's `urlsafe_base64_encode`), `{token}`
    /// the token. Defaults to `"{server}/account/reset/{uid}/{token}/"`.
    pub password_reset_url: String,
    /// The link of a verification mail; `{key}` is the token. Defaults to
    /// `"{server}/account/verify-email/{key}/"`.
    pub email_verification_url: String,
    /// The link of an e-mail change confirmation. Defaults to
    /// `"{server}/account/email-change/{key}/"`.
    pub email_change_url: String,
    /// How long a password-reset link or code works (Django's `PASSWORD_RESET_TIMEOUT`).
    /// Defaults to 1 hour.
    #[serde(with = "tessera_core::duration")]
    pub password_reset_timeout: Duration,
    /// How long a verification link or code works (allauth's
    /// `EMAIL_CONFIRMATION_EXPIRE_DAYS`). Defaults to 3 days.
    #[serde(with = "tessera_core::duration")]
    pub email_verification_timeout: Duration,
    /// How long an e-mail change confirmation works. Defaults to 1 hour.
    #[serde(with = "tessera_core::duration")]
    pub email_change_timeout: Duration,
    /// How long a login code works. Defaults to 15 minutes.
    #[serde(with = "tessera_core::duration")]
    pub login_code_timeout: Duration,
    /// Whether logging in requires a verified address. Defaults to `off`.
    pub require_verified_email: RequireVerifiedEmail,
    /// Whether users may log in with a code sent by mail. Defaults to `false`.
    #[serde(with = "tessera_core::boolean")]
    pub login_by_code: bool,
    /// The most mails waiting in the outbox; a request that would queue one more is
    /// refused as busy (503). Defaults to 10000.
    pub email_outbox_limit: u64,
}

impl Default for EmailFlowSettings {
    fn default() -> Self {
        Self {
            password_reset_url: "{server}/account/reset/{uid}/{token}/".into(),
            email_verification_url: "{server}/account/verify-email/{key}/".into(),
            email_change_url: "{server}/account/email-change/{key}/".into(),
            password_reset_timeout: Duration::from_secs(3600),
            email_verification_timeout: Duration::from_secs(3 * 86_400),
            email_change_timeout: Duration::from_secs(3600),
            login_code_timeout: Duration::from_secs(15 * 60),
            require_verified_email: RequireVerifiedEmail::Off,
            login_by_code: false,
            email_outbox_limit: 10_000,
        }
    }
}

impl EmailFlowSettings {
    /// Checks every value; the first problem names its setting.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let templates = [
            ("password_reset_url", &self.password_reset_url, "{token}"),
            (
                "email_verification_url",
                &self.email_verification_url,
                "{key}",
            ),
            ("email_change_url", &self.email_change_url, "{key}"),
        ];
        for (setting, url, needed) in templates {
            if !url.contains(needed) {
                return Err(SettingsError {
                    setting: setting.into(),
                    message: format!("must contain {needed}"),
                });
            }
        }
        let lifetimes = [
            ("password_reset_timeout", self.password_reset_timeout),
            (
                "email_verification_timeout",
                self.email_verification_timeout,
            ),
            ("email_change_timeout", self.email_change_timeout),
            ("login_code_timeout", self.login_code_timeout),
        ];
        for (setting, lifetime) in lifetimes {
            if lifetime.is_zero() {
                return Err(SettingsError {
                    setting: setting.into(),
                    message: "must be above zero".into(),
                });
            }
        }
        if self.email_outbox_limit == 0 {
            return Err(SettingsError {
                setting: "email_outbox_limit".into(),
                message: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    /// [`validate`](Self::validate), and what these settings need of `mail` and of
    /// registration: with `email_backend = "off"` no address can be verified, so
    /// `require_verified_email` must be `off`; and `"login"` needs every account to have an
    /// address (`email_optional`: username mode without `registration_email_required`),
    /// or those without one could never log in.
    pub fn validate_with(
        &self,
        mail: &MailSettings,
        email_optional: bool,
    ) -> Result<(), SettingsError> {
        self.validate()?;
        if email_optional && self.require_verified_email == RequireVerifiedEmail::Login {
            return Err(SettingsError {
                setting: "require_verified_email".into(),
                message: "\"login\" needs an address on every account: with username_field = \
                          \"username\", set registration_email_required = true"
                    .into(),
            });
        }
        if mail.email_backend == EmailBackend::Off
            && self.require_verified_email != RequireVerifiedEmail::Off
        {
            return Err(SettingsError {
                setting: "require_verified_email".into(),
                message: "must be \"off\" with email_backend = \"off\" (no address can be \
                          verified without mail)"
                    .into(),
            });
        }
        Ok(())
    }
}

/// What the account flows by e-mail share: their settings, the mailer, the mail texts, and
/// the sender's wake-up.
#[derive(Debug)]
pub(crate) struct MailState {
    settings: EmailFlowSettings,
    mail: MailSettings,
    public_url: String,
    mailer: Mailer,
    templates: Templates,
    wake: Arc<Notify>,
}

impl MailState {
    /// The state for these settings.
    pub(crate) fn new(
        settings: EmailFlowSettings,
        mail: MailSettings,
        public_url: String,
        mailer: Mailer,
        templates: Templates,
    ) -> Self {
        Self {
            settings,
            mail,
            public_url,
            mailer,
            templates,
            wake: Arc::new(Notify::new()),
        }
    }

    /// The flows' settings.
    pub(crate) fn settings(&self) -> &EmailFlowSettings {
        &self.settings
    }

    /// How mail is sent.
    pub(crate) fn mail_settings(&self) -> &MailSettings {
        &self.mail
    }

    /// The public URL, as configured.
    pub(crate) fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The mailer.
    pub(crate) fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    /// The mail texts.
    pub(crate) fn templates(&self) -> &Templates {
        &self.templates
    }

    /// What wakes the sender.
    pub(crate) fn wake(&self) -> &Arc<Notify> {
        &self.wake
    }
}

/// Reads the required address `name`: trimmed, normalised, at most 254 characters, valid
/// for Django's `EmailValidator`, with no invisible code point.
fn read_address(fields: &mut Fields<'_>, name: &str) -> Option<String> {
    let typed = fields.required(name, Trim::Yes)?;
    let email = tessera_store::normalize_email(&typed);
    if email.chars().nth(EMAIL_MAX_LENGTH).is_some() {
        fields.fail(name, too_long(EMAIL_MAX_LENGTH));
        return None;
    }
    if has_invisible(&typed) || !validate_email(&email) {
        fields.fail(name, INVALID_EMAIL);
        return None;
    }
    Some(email)
}

/// `user@example.com` as `u***@example.com`: enough for its owner to recognise it.
fn mask_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

impl Auth {
    /// The public path of every mail a visitor asks for by address: the `email_request`
    /// throttle for the client, the address read, then [`Auth::queue_mail`] — the same
    /// work whether or not the address belongs to someone (the sender finds out).
    async fn request_mail(
        &self,
        kind: MailKind,
        data: &Map<String, Value>,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.throttles()
            .check(REQUEST_SCOPE, client.ident())
            .await?;
        let mut fields = Fields::new(data);
        let email = read_address(&mut fields, "email");
        fields.finish()?;
        let email = email.unwrap_or_default();
        self.queue_mail(kind, &email, None, json!({}), Some(client))
            .await?;
        Ok(())
    }

    /// Queues a mail of `kind` to `recipient` (about `user_id`, when known) unless the
    /// address had its share lately (`email_recipient`): then nothing is queued, and the
    /// answer is the same (audited as `mail.throttled`). The security notice of an e-mail
    /// change ([`MailKind::EmailChangeNotice`]) is not held back that way: its owner must
    /// learn of the change, and the request's own throttle (per user and per client)
    /// bounds it. Wakes the sender. Returns whether it was queued.
    ///
    /// # Errors
    /// [`AuthError::MailOff`] with `email_backend = "off"`; [`AuthError::Busy`] when the
    /// outbox holds `email_outbox_limit` mails; the store's.
    pub(crate) async fn queue_mail(
        &self,
        kind: MailKind,
        recipient: &str,
        user_id: Option<i64>,
        detail: Value,
        client: Option<&ClientInfo>,
    ) -> Result<bool, AuthError> {
        if !self.mail_enabled() {
            return Err(AuthError::MailOff);
        }
        let key = sha256_hex(recipient.as_bytes());
        let throttled = if kind == MailKind::EmailChangeNotice {
            Ok(())
        } else {
            self.throttles().check(RECIPIENT_SCOPE, &key).await
        };
        match throttled {
            Err(AuthError::Throttled { .. }) => {
                let mut throttled =
                    Audit::new(event::MAIL_THROTTLED).detail(json!({"kind": kind.as_str()}));
                if let Some(client) = client {
                    throttled = throttled.client(client);
                }
                if let Some(id) = user_id {
                    throttled = throttled.user(id);
                }
                self.audit(throttled).await;
                return Ok(false);
            }
            other => other?,
        }
        let mail = NewMail {
            kind: kind.as_str(),
            recipient,
            user_id,
            detail: &detail,
        };
        let limit = self.email_flow_settings().email_outbox_limit;
        let queued = self.store().enqueue_mail(&mail, self.now(), limit).await?;
        if queued.is_none() {
            metrics::counter!("tessera_mail_refused_total", "kind" => kind.as_str()).increment(1);
            tracing::warn!(
                kind = kind.as_str(),
                limit,
                "the outbox is full; a mail was refused"
            );
            return Err(AuthError::Busy { retry_after: 60 });
        }
        metrics::counter!("tessera_mail_queued_total", "kind" => kind.as_str()).increment(1);
        self.mail_state().wake().notify_one();
        Ok(true)
    }

    /// Counts one attempt of `code` on the tokens of `purpose` that `owner` names (the
    /// user's newest; or each live one going to an e-mail change's new address, so that
    /// another user asking for the same address does not hide one's own) and compares it
    /// with each, in constant time: the token it matches (not consumed yet). A malformed
    /// code is not looked up; on a token whose last attempt it was, a wrong code disables
    /// the code (its link still works).
    ///
    /// # Errors
    /// The store's.
    async fn check_code(
        &self,
        purpose: Purpose,
        owner: CodeOwner<'_>,
        code: &str,
    ) -> Result<Option<AccountToken>, AuthError> {
        if !tokens::code_shape(code) {
            return Ok(None);
        }
        let store = self.store();
        let tried = store
            .attempt_account_code(purpose.as_str(), owner, self.now(), MAX_CODE_ATTEMPTS)
            .await?;
        let mut matched = None;
        for token in tried {
            // Every candidate is compared, each in constant time, even after a match.
            let matches = tokens::same_hash(
                &tokens::code_hash(self.api_key_hasher(), token.id, code),
                &token.code_hash,
            );
            if matches && matched.is_none() {
                matched = Some(token);
            } else if !matches && token.attempts >= MAX_CODE_ATTEMPTS {
                store.disable_account_code(token.id).await?;
            }
        }
        Ok(matched)
    }

    /// The token of `purpose` a link's `token` names, not consumed: `None` for a malformed,
    /// unknown, used or expired one.
    ///
    /// # Errors
    /// The store's.
    async fn find_token(
        &self,
        purpose: Purpose,
        token: &str,
    ) -> Result<Option<AccountToken>, AuthError> {
        if !tokens::token_shape(token) {
            return Ok(None);
        }
        let hash = token_hash(token);
        Ok(self
            .store()
            .find_account_token(purpose.as_str(), &hash, self.now())
            .await?)
    }

    /// The user of `token`, if the token still matches them: active, and the state it was
    /// bound to unchanged. A token that no longer matches is deleted.
    ///
    /// # Errors
    /// The store's.
    async fn bound_user(
        &self,
        purpose: Purpose,
        token: &AccountToken,
    ) -> Result<Option<User>, AuthError> {
        let user = self.store().user_by_id(token.user_id).await?;
        let matching = user.filter(|user| {
            let binding = purpose.binding(user, token.new_email.as_deref());
            user.is_active && tokens::same_hash(&binding, &token.binding)
        });
        if matching.is_none() {
            self.store().delete_account_token(token.id).await?;
        }
        Ok(matching)
    }

    /// Whether the account flows by e-mail are on: `email_backend` is not `off`. When they
    /// are off nothing is queued, no mail is sent, and the HTTP routes are absent.
    pub fn mail_enabled(&self) -> bool {
        self.mail_settings().email_backend != EmailBackend::Off
    }

    /// Whether `user` may log in under `require_verified_email`: with `login`, only with a
    /// verified address. Every login path asks (the password check, login by code).
    ///
    /// # Errors
    /// [`AuthError::EmailNotVerified`] with `require_verified_email = "login"` and an
    /// unverified address.
    pub fn check_email_verified(&self, user: &User) -> Result<(), AuthError> {
        let required =
            self.email_flow_settings().require_verified_email == RequireVerifiedEmail::Login;
        if required && !user.email_verified {
            return Err(AuthError::EmailNotVerified);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_masked_to_their_first_letter_and_domain() {
        assert_eq!(mask_email("nina@example.com"), "n***@example.com");
        assert_eq!(mask_email("weird"), "***");
    }

    #[test]
    fn the_defaults_validate_and_a_link_without_its_token_does_not() {
        assert!(EmailFlowSettings::default().validate().is_ok());
        let bad = EmailFlowSettings {
            password_reset_url: "{server}/reset/".into(),
            ..EmailFlowSettings::default()
        };
        assert_eq!(bad.validate().unwrap_err().setting, "password_reset_url");
        let zero = EmailFlowSettings {
            login_code_timeout: Duration::ZERO,
            ..EmailFlowSettings::default()
        };
        assert_eq!(zero.validate().unwrap_err().setting, "login_code_timeout");
    }

    #[test]
    fn without_mail_no_verified_address_can_be_required() {
        let off = MailSettings {
            email_backend: EmailBackend::Off,
            ..MailSettings::default()
        };
        assert!(
            EmailFlowSettings::default()
                .validate_with(&off, false)
                .is_ok()
        );
        for required in [RequireVerifiedEmail::Optional, RequireVerifiedEmail::Login] {
            let flows = EmailFlowSettings {
                require_verified_email: required,
                ..EmailFlowSettings::default()
            };
            let error = flows.validate_with(&off, false).unwrap_err();
            assert_eq!(error.setting, "require_verified_email");
            assert!(flows.validate_with(&MailSettings::default(), false).is_ok());
        }
    }

    #[test]
    fn logins_that_need_a_verified_address_need_an_address_on_every_account() {
        let login = EmailFlowSettings {
            require_verified_email: RequireVerifiedEmail::Login,
            ..EmailFlowSettings::default()
        };
        let error = login
            .validate_with(&MailSettings::default(), true)
            .unwrap_err();
        assert_eq!(error.setting, "require_verified_email");
        assert!(login.validate_with(&MailSettings::default(), false).is_ok());
        let optional = EmailFlowSettings {
            require_verified_email: RequireVerifiedEmail::Optional,
            ..EmailFlowSettings::default()
        };
        assert!(
            optional
                .validate_with(&MailSettings::default(), true)
                .is_ok()
        );
    }
}
