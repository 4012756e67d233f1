//! [`Tessera`]: the service ([`Auth`]) plus what only HTTP needs — the browser settings and
//! the token header — shared by every request; and [`TesseraBuilder`], the one way to make it.

use std::sync::Arc;

use axum::http::HeaderName;
use tessera_auth::accounts::AccountSettings;
use tessera_auth::audit::AuditSettings;
use tessera_auth::guard::ThrottleSettings;
use tessera_auth::{Auth, AuthBuilder, AuthError};
use tessera_core::{Clock, Settings, SettingsError};
use tessera_store::{PasswordHasher, Store, User};

use crate::browser::BrowserSettings;
use crate::remote::RemoteJwks;

/// Tessera's shared state. Cloning is cheap.
///
/// An application keeps it in its own state and implements `FromRef` for it, or uses it as
/// the router state directly. Build it with [`Tessera::builder`].
#[derive(Clone, Debug)]
pub struct Tessera(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    auth: Auth,
    browser: BrowserSettings,
    auth_header: HeaderName,
    www_authenticate: String,
}

/// Builds a [`Tessera`]: the service's settings ([`AuthBuilder`]'s) and the browser's, then
/// [`build`](Self::build).
#[derive(Debug)]
#[must_use]
pub struct TesseraBuilder {
    auth: AuthBuilder,
    browser: BrowserSettings,
}

impl TesseraBuilder {
    /// Account settings: password rules, custom user fields, page size.
    pub fn accounts(mut self, accounts: AccountSettings) -> Self {
        self.auth = self.auth.accounts(accounts);
        self
    }

    /// Throttle, lockout and hashing-queue settings.
    pub fn throttling(mut self, throttling: ThrottleSettings) -> Self {
        self.auth = self.auth.throttling(throttling);
        self
    }

    /// Audit-log settings (retention).
    pub fn audit(mut self, audit: AuditSettings) -> Self {
        self.auth = self.auth.audit(audit);
        self
    }

    /// How mail is sent: the backend (console, SMTP, file), the sender, the templates.
    pub fn mail(mut self, mail: tessera_auth::mail::MailSettings) -> Self {
        self.auth = self.auth.mail(mail);
        self
    }

    /// The account flows by e-mail: link templates, lifetimes, `require_verified_email`,
    /// `login_by_code`, the outbox's bound.
    pub fn email_flows(mut self, flows: tessera_auth::email_flows::EmailFlowSettings) -> Self {
        self.auth = self.auth.email_flows(flows);
        self
    }

    /// The address users reach the server at (`https://auth.example.com`): the `{server}`
    /// of the links in mails. Defaults to `http://127.0.0.1:8000`.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.auth = self.auth.public_url(url.into());
        self
    }

    /// API keys: the HMAC secret, the bound per user, how long dead keys stay listed.
    pub fn api_keys(mut self, api_keys: tessera_auth::api_keys::ApiKeySettings) -> Self {
        self.auth = self.auth.api_keys(api_keys);
        self
    }

    /// Multi-factor authentication: `mfa_issuer`, `mfa_token_lifetime`,
    /// `mfa_required_for_staff`.
    pub fn mfa(mut self, mfa: tessera_auth::mfa::MfaSettings) -> Self {
        self.auth = self.auth.mfa(mfa);
        self
    }

    /// Passkeys: the WebAuthn relying party and `passkey_login`.
    pub fn passkeys(mut self, passkeys: tessera_auth::passkeys::PasskeySettings) -> Self {
        self.auth = self.auth.passkeys(passkeys);
        self
    }

    /// Social login: `oidc_providers`, `social_frontend_url`, `social_signup`.
    pub fn social(mut self, social: tessera_auth::social::SocialSettings) -> Self {
        self.auth = self.auth.social(social);
        self
    }

    /// How authentication keeps revocations in memory: `revocation_max_staleness` (1 s by
    /// default; `0` reads the database on every check), the poll interval, the capacities.
    pub fn revocation(mut self, revocation: tessera_auth::revocation::RevocationSettings) -> Self {
        self.auth = self.auth.revocation(revocation);
        self
    }

    /// Browser settings: token cookies, CSRF, CORS.
    pub fn browser(mut self, browser: BrowserSettings) -> Self {
        self.browser = browser;
        self
    }

    /// The password hasher. Defaults to one hashing thread per core.
    pub fn hasher(mut self, hasher: PasswordHasher) -> Self {
        self.auth = self.auth.hasher(hasher);
        self
    }

    /// The clock (tests use a manual one). Defaults to the system clock.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.auth = self.auth.clock(clock);
        self
    }

    /// Code that adds claims to the obtain routes' tokens and fields to their answers,
    /// after `[token_obtain]` / `[token_obtain_sliding]` (see
    /// [`ObtainHook`](tessera_auth::obtain::ObtainHook)).
    pub fn obtain_hook(mut self, hook: impl tessera_auth::obtain::ObtainHook) -> Self {
        self.auth = self.auth.obtain_hook(hook);
        self
    }

    /// Validates every setting and starts the keys the settings describe: the stored ring
    /// and its refresher (`key_source = "store"`), the remote JWKS (`jwk_url`, fetched now in
    /// the background; a failure is logged and retried when a token needs it).
    ///
    /// # Errors
    /// A setting that cannot be served (it is named), a key file that cannot be read, or
    /// stored keys that cannot be opened. Never a panic.
    pub async fn build(self) -> Result<Tessera, AuthError> {
        // Everything HTTP needs is checked before the service starts keys or tasks.
        self.browser.validate()?;
        let header = self.auth.settings().auth_header();
        let auth_header = HeaderName::from_bytes(header.as_bytes()).map_err(|_| SettingsError {
            setting: "auth_header_name".into(),
            message: "is not a valid header name".into(),
        })?;
        let auth = self.auth.build().await?;
        let settings = auth.settings();
        if settings.jwk_url.is_some() && auth.backend().key_source().is_none() {
            let remote = RemoteJwks::new(settings)?;
            let _ = auth.backend().set_key_source(remote.clone());
            tokio::spawn(async move {
                if let Err(error) = remote.fetch().await {
                    tracing::warn!(%error, "could not fetch the remote JWKS (jwk_url) yet");
                }
            });
        }
        let scheme = settings
            .auth_header_types
            .first()
            .map_or("Bearer", String::as_str);
        let www_authenticate = format!("{scheme} realm=\"api\"");
        Ok(Tessera(Arc::new(Inner {
            auth,
            browser: self.browser,
            auth_header,
            www_authenticate,
        })))
    }
}

impl Tessera {
    /// Starts building the state for `settings` over `store` (connected and migrated).
    pub fn builder(settings: Settings, store: Store) -> TesseraBuilder {
        TesseraBuilder {
            auth: Auth::builder(settings, store),
            browser: BrowserSettings::default(),
        }
    }

    /// A builder holding this state's settings, store, hasher and clock, to build a
    /// variant of it over the same store (a service of its own: see [`Auth::to_builder`]).
    pub fn to_builder(&self) -> TesseraBuilder {
        TesseraBuilder {
            auth: self.0.auth.to_builder(),
            browser: self.0.browser.clone(),
        }
    }

    /// The service every view calls.
    pub fn auth(&self) -> &Auth {
        &self.0.auth
    }

    /// The token settings in force.
    pub fn settings(&self) -> &Settings {
        self.0.auth.settings()
    }

    /// The browser settings in force.
    pub fn browser(&self) -> &BrowserSettings {
        &self.0.browser
    }

    /// The user object of responses, with the configured custom fields (and the username
    /// with `username_field = "username"`).
    pub fn user_object(&self, user: &User) -> serde_json::Value {
        crate::representation::user_object_with(
            user,
            &self.0.auth.accounts().user_fields,
            self.settings().username_field,
        )
    }

    /// [`Tessera::user_object`] as a value to serialize straight into a response body.
    pub fn user_object_view<'a>(&'a self, user: &'a User) -> crate::representation::UserObject<'a> {
        crate::representation::UserObject::new(
            user,
            &self.0.auth.accounts().user_fields,
            self.settings().username_field,
        )
    }

    /// The short user object of the login answer (with the username with
    /// `username_field = "username"`).
    pub fn login_user_object(&self, user: &User) -> serde_json::Value {
        crate::representation::login_user_object_with(user, self.settings().username_field)
    }

    /// The header that carries tokens (`authorization` by default).
    pub fn auth_header(&self) -> &HeaderName {
        &self.0.auth_header
    }

    /// The `WWW-Authenticate` value of every 401: `Bearer realm="api"`.
    pub fn www_authenticate(&self) -> &str {
        &self.0.www_authenticate
    }
}
