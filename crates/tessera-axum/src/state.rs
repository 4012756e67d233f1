//! [`Tessera`]: everything the extractors and routes need, shared by every request.

use std::sync::Arc;

use axum::http::HeaderName;
use tessera_core::{Clock, Settings, SettingsError, TokenBackend, TokenKind};
use tessera_store::{PasswordHasher, Store};

use crate::account_settings::AccountSettings;
use crate::audit::{AuditLog, AuditSettings};
use crate::browser::BrowserSettings;
use crate::guard::Guard;
use crate::throttle::ThrottleSettings;

/// Tessera's shared state. Cloning is cheap.
///
/// An application keeps it in its own state and implements `FromRef` for it, or uses it as
/// the router state directly.
#[derive(Clone, Debug)]
pub struct Tessera(Arc<Inner>);

#[derive(Debug, Clone)]
struct Inner {
    settings: Settings,
    backend: TokenBackend,
    store: Store,
    hasher: PasswordHasher,
    clock: Clock,
    auth_header: HeaderName,
    auth_kinds: Vec<TokenKind>,
    accounts: AccountSettings,
    browser: BrowserSettings,
    throttling: ThrottleSettings,
    /// Counters shared by every clone, and kept across `with_*` calls.
    guard: Arc<Guard>,
    /// The audit log's settings and queue (shared by every clone and `with_*` copy).
    audit: AuditLog,
}

impl Tessera {
    /// Builds the state from validated settings and an open store. Password hashing may run
    /// on as many threads as the machine has cores.
    pub fn new(settings: Settings, store: Store) -> Result<Self, SettingsError> {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self::with_parts(settings, store, PasswordHasher::new(cores), Clock::system())
    }

    /// Builds the state with an explicit hasher and clock (tests use a manual clock).
    pub fn with_parts(
        settings: Settings,
        store: Store,
        hasher: PasswordHasher,
        clock: Clock,
    ) -> Result<Self, SettingsError> {
        let backend = TokenBackend::from_settings(&settings)?;
        let auth_header =
            HeaderName::from_bytes(settings.auth_header().as_bytes()).map_err(|_| {
                SettingsError {
                    setting: "auth_header_name".into(),
                    message: "is not a valid header name".into(),
                }
            })?;
        let auth_kinds = settings.auth_token_kinds();
        let guard = Arc::new(Guard::new(&ThrottleSettings::default(), store.engine()));
        Ok(Self(Arc::new(Inner {
            settings,
            backend,
            store,
            hasher,
            clock,
            auth_header,
            auth_kinds,
            accounts: AccountSettings::default(),
            browser: BrowserSettings::default(),
            throttling: ThrottleSettings::default(),
            guard,
            audit: AuditLog::default(),
        })))
    }

    /// A copy of this state with one part changed.
    fn changed(&self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = (*self.0).clone();
        change(&mut inner);
        Self(Arc::new(inner))
    }

    /// The same state with other account settings (password rules, custom user fields).
    pub fn with_accounts(self, accounts: AccountSettings) -> Result<Self, SettingsError> {
        accounts.validate()?;
        Ok(self.changed(|inner| inner.accounts = accounts))
    }

    /// The same state with other browser settings (token cookies, CSRF, CORS).
    pub fn with_browser(self, browser: BrowserSettings) -> Result<Self, SettingsError> {
        browser.validate()?;
        Ok(self.changed(|inner| inner.browser = browser))
    }

    /// The same state with other throttling and lockout settings.
    pub fn with_throttling(self, throttling: ThrottleSettings) -> Result<Self, SettingsError> {
        throttling.validate()?;
        let guard = Arc::new(Guard::new(&throttling, self.store().engine()));
        Ok(self.changed(|inner| {
            inner.throttling = throttling;
            inner.guard = guard;
        }))
    }

    /// The same state with other audit-log settings (retention).
    pub fn with_audit(self, audit: AuditSettings) -> Result<Self, SettingsError> {
        audit.validate()?;
        Ok(self.changed(|inner| inner.audit.settings = audit))
    }

    /// The audit-log settings in force.
    pub fn audit_settings(&self) -> &AuditSettings {
        &self.0.audit.settings
    }

    pub(crate) fn audit_log(&self) -> &AuditLog {
        &self.0.audit
    }

    /// The throttling and lockout settings in force.
    pub fn throttling(&self) -> &ThrottleSettings {
        &self.0.throttling
    }

    pub(crate) fn guard(&self) -> &Guard {
        &self.0.guard
    }

    /// The browser settings in force.
    pub fn browser(&self) -> &BrowserSettings {
        &self.0.browser
    }

    /// The account settings in force.
    pub fn accounts(&self) -> &AccountSettings {
        &self.0.accounts
    }

    /// The user object of responses, with the configured custom fields.
    pub fn user_object(&self, user: &tessera_store::User) -> serde_json::Value {
        crate::representation::user_object(user, &self.0.accounts.user_fields)
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    /// The token backend (keys and claim rules).
    pub fn backend(&self) -> &TokenBackend {
        &self.0.backend
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The bounded password-hashing pool.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.0.hasher
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.0.clock
    }

    /// Now, in whole seconds.
    pub fn now_secs(&self) -> i64 {
        self.0.clock.now_secs()
    }

    /// Now, in microseconds.
    pub fn now_micros(&self) -> i64 {
        self.0.clock.now_micros()
    }

    /// The header that carries tokens (`authorization` by default).
    pub fn auth_header(&self) -> &HeaderName {
        &self.0.auth_header
    }

    /// The token kinds authentication accepts, in order (`auth_token_classes`).
    pub fn auth_kinds(&self) -> &[TokenKind] {
        &self.0.auth_kinds
    }

    /// The `WWW-Authenticate` value of every 401: `Bearer realm="api"`.
    pub fn www_authenticate(&self) -> String {
        let scheme = self
            .0
            .settings
            .auth_header_types
            .first()
            .map_or("Bearer", String::as_str);
        format!("{scheme} realm=\"api\"")
    }
}
