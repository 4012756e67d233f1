//! [`Auth`], the service handle every use case hangs off, and [`AuthBuilder`], the one way
//! to make it.

use std::sync::{Arc, OnceLock};

use tokio::task::JoinHandle;

use tessera_core::{Clock, KeyOrigin, Settings, Timestamp, TokenBackend, TokenKind, UsernameField};
use tessera_store::{PasswordHasher, Store, User};

use crate::api_keys::{ApiKeyHasher, ApiKeySettings};
use crate::audit::{Audit, AuditLog, AuditSettings};
use crate::email_flows::{EmailFlowSettings, MailState};
use crate::error::AuthError;
use crate::guard::{Hashing, Lockout, ThrottleSettings, Throttles};
use crate::keys::{KeyManager, KeyRefresher, load_key_files};
use crate::mail::{MailSettings, Mailer, Templates};
use crate::mfa::MfaSettings;
use crate::obtain::{ObtainHook, ObtainHookSlot};
use crate::passkeys::{PasskeySettings, PasskeyState};
use crate::revocation::{RevocationSettings, RevocationStatus, Revocations};
use crate::rules::AccountSettings;
use crate::social::{Social, SocialSettings};

/// The authentication service: settings, keys, store and the protections around them.
/// Cloning is cheap; every clone shares the counters, the audit queue and the background
/// tasks, which stop when the last clone is dropped.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use tessera_auth::mfa::{LoginStep, MfaRoute};
/// use tessera_auth::{Auth, ClientInfo};
/// use tessera_store::Store;
///
/// let store = Store::connect("sqlite://./tessera.db?mode=rwc").await?;
/// store.migrate().await?;
/// let settings = tessera_core::Settings {
///     signing_key: Some("a-long-random-secret-of-at-least-32-bytes".into()),
///     ..Default::default()
/// };
/// let auth = Auth::builder(settings, store).build().await?;
/// let client = ClientInfo::default();
/// if let Some(user) = auth.check_credentials("ada@example.com", "pw", &client).await? {
///     // The second factor, if the user has one, before anything is issued.
///     let step = auth.login_step(&user, MfaRoute::Pair, &client).await?;
///     if step == LoginStep::Complete {
///         let pair = auth.issue_pair(&user, &client, &Default::default()).await?;
///         println!("{}", pair.access);
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Auth(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    settings: Settings,
    backend: TokenBackend,
    store: Store,
    clock: Clock,
    auth_kinds: Vec<TokenKind>,
    accounts: AccountSettings,
    throttles: Throttles,
    lockout: Lockout,
    hashing: Hashing,
    audit: AuditLog,
    /// What code adds to the obtain routes' tokens and answers, after the configuration.
    obtain_hook: ObtainHookSlot,
    /// Keeps the stored ring current (`key_source = "store"`); stops with the last clone.
    _refresher: Option<KeyRefresher>,
    /// The background upkeep (not offline); stops with the last clone.
    upkeep: OnceLock<BackgroundTask>,
    /// The account flows by e-mail: settings, mailer, templates, the sender's wake-up.
    mail: MailState,
    /// The outbox sender (not offline); stops with the last clone.
    mail_sender: OnceLock<BackgroundTask>,
    /// API key settings.
    api_keys: ApiKeySettings,
    /// The keyed hash of API keys.
    api_key_hasher: ApiKeyHasher,
    /// The WebAuthn relying party of passkeys.
    passkeys: PasskeyState,
    /// Multi-factor settings.
    mfa: MfaSettings,
    /// Social login: the providers, their cached discovery and keys.
    social: Social,
    /// What authentication knows of ended sessions, users and API keys, in memory.
    revocations: Revocations,
    /// The change-log feed that keeps `revocations` current (not offline); stops with the
    /// last clone.
    revocation_feed: OnceLock<BackgroundTask>,
}

/// The service, not kept alive: [`upgrade`](Self::upgrade) answers `None` once the last
/// clone is gone.
#[derive(Debug, Clone)]
pub(crate) struct WeakAuth(std::sync::Weak<Inner>);

impl WeakAuth {
    /// The service, while a clone of it lives.
    pub(crate) fn upgrade(&self) -> Option<Auth> {
        self.0.upgrade().map(Auth)
    }
}

/// A task that ends when its owner is dropped.
#[derive(Debug)]
pub(crate) struct BackgroundTask(pub(crate) JoinHandle<()>);

impl Drop for BackgroundTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Builds an [`Auth`]: settings for each part (defaults otherwise), then [`build`](Self::build).
#[derive(Debug)]
#[must_use]
pub struct AuthBuilder {
    settings: Settings,
    store: Store,
    accounts: AccountSettings,
    throttling: ThrottleSettings,
    audit: AuditSettings,
    hasher: Option<PasswordHasher>,
    clock: Clock,
    offline: bool,
    obtain_hook: ObtainHookSlot,
    mail: MailSettings,
    email_flows: EmailFlowSettings,
    public_url: String,
    api_keys: ApiKeySettings,
    passkeys: PasskeySettings,
    mfa: MfaSettings,
    social: SocialSettings,
    revocation: RevocationSettings,
}

impl AuthBuilder {
    /// The token settings being built with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// For tools that issue and check no tokens (the command line): no signing key is
    /// needed, and none is read or started; the token backend neither signs nor verifies.
    pub fn offline(mut self) -> Self {
        self.offline = true;
        self
    }

    /// Account settings: password rules, custom user fields, page size.
    pub fn accounts(mut self, accounts: AccountSettings) -> Self {
        self.accounts = accounts;
        self
    }

    /// Throttle, lockout and hashing-queue settings.
    pub fn throttling(mut self, throttling: ThrottleSettings) -> Self {
        self.throttling = throttling;
        self
    }

    /// Audit-log settings (retention).
    pub fn audit(mut self, audit: AuditSettings) -> Self {
        self.audit = audit;
        self
    }

    /// The password hasher. Defaults to one hashing thread per core.
    pub fn hasher(mut self, hasher: PasswordHasher) -> Self {
        self.hasher = Some(hasher);
        self
    }

    /// The clock (tests use a manual one). Defaults to the system clock.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// How mail is sent (`email_backend`, `smtp_url`, `email_from` …). Defaults to the
    /// console backend.
    pub fn mail(mut self, mail: MailSettings) -> Self {
        self.mail = mail;
        self
    }

    /// The account flows by e-mail: links, lifetimes, `require_verified_email`,
    /// `login_by_code`, the outbox's bound.
    pub fn email_flows(mut self, email_flows: EmailFlowSettings) -> Self {
        self.email_flows = email_flows;
        self
    }

    /// The server's public URL, the `{server}` of the links in mails (no trailing slash
    /// needed). Defaults to `http://127.0.0.1:8000`.
    pub fn public_url(mut self, public_url: impl Into<String>) -> Self {
        self.public_url = public_url.into();
        self
    }

    /// API keys: the HMAC secret, the bound per user, how long dead keys stay listed.
    pub fn api_keys(mut self, api_keys: ApiKeySettings) -> Self {
        self.api_keys = api_keys;
        self
    }

    /// Multi-factor authentication: `mfa_issuer`, `mfa_token_lifetime`,
    /// `mfa_required_for_staff`.
    pub fn mfa(mut self, mfa: MfaSettings) -> Self {
        self.mfa = mfa;
        self
    }

    /// Social login: `oidc_providers`, `social_frontend_url`, `social_signup`. Defaults to
    /// no provider.
    pub fn social(mut self, social: SocialSettings) -> Self {
        self.social = social;
        self
    }

    /// How authentication keeps revocations in memory: `revocation_max_staleness`, the
    /// poll interval, the capacities. Defaults to [`RevocationSettings::default`] (1 s).
    pub fn revocation(mut self, revocation: RevocationSettings) -> Self {
        self.revocation = revocation;
        self
    }

    /// Passkeys: the WebAuthn relying party (`webauthn_rp_id`, `webauthn_origins`,
    /// `webauthn_rp_name`) and `passkey_login`. Defaults to a relying party taken from the
    /// public URL, passwordless sign-in off.
    pub fn passkeys(mut self, passkeys: PasskeySettings) -> Self {
        self.passkeys = passkeys;
        self
    }

    /// Code that adds claims to the obtain routes' tokens and fields to their answers,
    /// after `[token_obtain]` / `[token_obtain_sliding]` — what a DRF project writes in a
    /// `TokenObtainPairSerializer` subclass. See [`ObtainHook`].
    pub fn obtain_hook(mut self, hook: impl ObtainHook) -> Self {
        self.obtain_hook = ObtainHookSlot::new(hook);
        self
    }

    /// Validates every setting, reads the key files, and starts the keys the settings
    /// describe: with `key_source = "store"`, the first key when there is none, the stored
    /// ring, and a task that keeps it current. Unless [`offline`](Self::offline), it also
    /// starts the upkeep (see [`Auth::upkeep`]): now and every hour, old audit events,
    /// expired sessions and stale throttle rows are deleted; and the outbox sender (see
    /// [`Auth::send_due_mail`]), which sends the account flows' mails. The mailer and the
    /// mail texts are set up either way (offline tools queue mail and send test mails).
    /// The remote JWKS (`jwk_url`) is HTTP's to fetch: `tessera-axum`'s builder starts it.
    /// The tasks stop with the last clone of the service.
    ///
    /// # Errors
    /// A setting that cannot be served (it is named: the mail settings and templates
    /// included), a key file that cannot be read, or stored keys that cannot be opened.
    /// Never a panic.
    pub async fn build(self) -> Result<Auth, AuthError> {
        let key_refresh_interval = self.settings.key_refresh_interval;
        self.accounts.validate_with(&self.settings)?;
        self.throttling.validate()?;
        self.audit.validate()?;
        let email_optional = self.settings.username_field == UsernameField::Username
            && !self.accounts.registration_email_required;
        self.email_flows.validate_with(&self.mail, email_optional)?;
        self.api_keys.validate()?;
        self.mfa.validate()?;
        self.social.validate()?;
        self.revocation.validate()?;
        let passkeys = PasskeyState::new(self.passkeys, &self.public_url)?;
        let mailer = Mailer::from_settings(&self.mail).await?;
        let templates = Templates::load(self.mail.email_templates_dir.as_deref())?;
        let mail = MailState::new(
            self.email_flows,
            self.mail,
            self.public_url,
            mailer,
            templates,
        );
        let (settings, backend) = if self.offline {
            let settings = self.settings;
            // An empty ring: what a store-keyed backend is before its keys are installed.
            // The configured keys are left out, as `key_source = "store"` requires.
            let keyless = Settings {
                key_source: KeyOrigin::Store,
                signing_key: None,
                signing_key_file: None,
                verifying_key: String::new(),
                verifying_key_file: None,
                signing_key_id: None,
                ..settings.clone()
            };
            let backend = TokenBackend::from_settings(&keyless)?;
            (settings, backend)
        } else {
            let settings = load_key_files(self.settings)?;
            let backend = TokenBackend::from_settings(&settings)?;
            (settings, backend)
        };
        let refresher = if settings.key_source == KeyOrigin::Store && !self.offline {
            let manager = KeyManager::new(self.store.clone(), &settings)?;
            Some(
                KeyRefresher::start(
                    manager,
                    backend.clone(),
                    self.clock.clone(),
                    key_refresh_interval,
                )
                .await?,
            )
        } else {
            None
        };
        // The signing key as configured or read from its file (offline tools read the file
        // here, for this alone).
        let signing_key = match (&settings.signing_key, &settings.signing_key_file) {
            (Some(key), _) => Some(key.clone()),
            (None, Some(_)) => load_key_files(settings.clone())
                .ok()
                .and_then(|loaded| loaded.signing_key),
            (None, None) => None,
        };
        let api_key_hasher = ApiKeyHasher::new(
            &self.api_keys,
            settings.key_encryption_key.as_ref(),
            signing_key.as_ref(),
        );
        let hasher = self.hasher.unwrap_or_else(|| {
            PasswordHasher::new(std::thread::available_parallelism().map_or(2, usize::from))
        });
        let (store, clock, offline) = (self.store, self.clock, self.offline);
        let auth_kinds = settings.auth_token_kinds();
        let revocations = Revocations::new(
            self.revocation,
            token_window(&settings, &backend, &auth_kinds),
        );
        let auth = Auth(Arc::new(Inner {
            auth_kinds,
            throttles: Throttles::new(&self.throttling, store.clone(), clock.clone()),
            lockout: Lockout::new(&self.throttling, store.clone(), clock.clone()),
            hashing: Hashing::new(hasher, self.throttling.hash_queue_limit),
            audit: AuditLog::new(self.audit, store.clone(), clock.clone()),
            obtain_hook: self.obtain_hook,
            accounts: self.accounts,
            settings,
            backend,
            store,
            clock,
            _refresher: refresher,
            upkeep: OnceLock::new(),
            mail,
            mail_sender: OnceLock::new(),
            api_keys: self.api_keys,
            api_key_hasher,
            passkeys,
            mfa: self.mfa,
            social: Social::new(self.social),
            revocations,
            revocation_feed: OnceLock::new(),
        }));
        if let Some(refresher) = &auth.0._refresher {
            auth.audit_sealed_keys(refresher.sealed_at_start()).await;
        }
        if !offline {
            auth.0.revocations.start(&auth.0.store, auth.now()).await?;
            if auth.0.revocations.settings().enabled() {
                let _ = auth.0.revocation_feed.set(auth.start_revocation_feed());
            }
            auth.start_upkeep();
            if auth.mail_enabled() {
                auth.start_mail_sender();
            }
        }
        Ok(auth)
    }
}

/// How long a token authentication accepts can live: the longest lifetime among the
/// accepted kinds (and access tokens, which API keys mint), plus `leeway`.
fn token_window(
    settings: &Settings,
    backend: &TokenBackend,
    kinds: &[TokenKind],
) -> std::time::Duration {
    kinds
        .iter()
        .map(|kind| kind.lifetime(backend))
        .chain([settings.access_token_lifetime])
        .max()
        .unwrap_or_default()
        + settings.leeway
}

impl Auth {
    /// Runs [`Auth::upkeep`] now and then as often as it asks, holding the service only
    /// while a round runs: the task ends with the last clone, or when the store closes.
    fn start_upkeep(&self) {
        let weak = Arc::downgrade(&self.0);
        let task = tokio::spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let Some(next) = Auth(inner).upkeep().await else {
                    return;
                };
                tokio::time::sleep(next).await;
            }
        });
        let _ = self.0.upkeep.set(BackgroundTask(task));
    }

    /// Starts building the service for `settings` over `store` (connected and migrated).
    pub fn builder(settings: Settings, store: Store) -> AuthBuilder {
        AuthBuilder {
            settings,
            store,
            accounts: AccountSettings::default(),
            throttling: ThrottleSettings::default(),
            audit: AuditSettings::default(),
            hasher: None,
            clock: Clock::system(),
            offline: false,
            obtain_hook: ObtainHookSlot::default(),
            mail: MailSettings::default(),
            email_flows: EmailFlowSettings::default(),
            public_url: crate::email_flows::DEFAULT_PUBLIC_URL.to_owned(),
            api_keys: ApiKeySettings::default(),
            passkeys: PasskeySettings::default(),
            mfa: MfaSettings::default(),
            social: SocialSettings::default(),
            revocation: RevocationSettings::default(),
        }
    }

    /// A builder holding this service's settings, store, hasher and clock, to build a
    /// variant of it (another throttle setting, say) over the same store. The variant is a
    /// service of its own: its counters, lockouts, audit queue and background tasks are new.
    pub fn to_builder(&self) -> AuthBuilder {
        AuthBuilder {
            settings: self.0.settings.clone(),
            store: self.0.store.clone(),
            accounts: self.0.accounts.clone(),
            throttling: self.0.throttles.settings().clone(),
            audit: self.0.audit.settings().clone(),
            hasher: Some(self.0.hashing.hasher().clone()),
            clock: self.0.clock.clone(),
            offline: false,
            obtain_hook: self.0.obtain_hook.clone(),
            mail: self.0.mail.mail_settings().clone(),
            email_flows: self.0.mail.settings().clone(),
            public_url: self.0.mail.public_url().to_owned(),
            api_keys: self.0.api_keys.clone(),
            passkeys: self.0.passkeys.settings().clone(),
            mfa: self.0.mfa.clone(),
            social: self.0.social.settings().clone(),
            revocation: self.0.revocations.settings().clone(),
        }
    }

    /// The token settings in force (simplejwt's `SIMPLE_JWT`).
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

    /// The obtain routes' code hook (none unless [`AuthBuilder::obtain_hook`] set one).
    pub(crate) fn obtain_hook(&self) -> &ObtainHookSlot {
        &self.0.obtain_hook
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.0.clock
    }

    /// The current instant, from the service's clock.
    pub fn now(&self) -> Timestamp {
        self.0.clock.now()
    }

    /// The token kinds authentication accepts, in order (`auth_token_classes`).
    pub fn auth_kinds(&self) -> &[TokenKind] {
        &self.0.auth_kinds
    }

    /// The account settings in force.
    pub fn accounts(&self) -> &AccountSettings {
        &self.0.accounts
    }

    /// The throttle and lockout settings in force.
    pub fn throttling(&self) -> &ThrottleSettings {
        self.0.throttles.settings()
    }

    /// The audit-log settings in force.
    pub fn audit_settings(&self) -> &AuditSettings {
        self.0.audit.settings()
    }

    /// The account flows by e-mail: settings, mailer, templates.
    pub(crate) fn mail_state(&self) -> &MailState {
        &self.0.mail
    }

    /// The settings of the account flows by e-mail in force.
    pub fn email_flow_settings(&self) -> &EmailFlowSettings {
        self.0.mail.settings()
    }

    /// How mail is sent.
    pub fn mail_settings(&self) -> &MailSettings {
        self.0.mail.mail_settings()
    }

    /// The API key settings in force.
    pub fn api_key_settings(&self) -> &ApiKeySettings {
        &self.0.api_keys
    }

    /// Social login's state: the settings, each provider's discovery and keys.
    pub(crate) fn social(&self) -> &Social {
        &self.0.social
    }

    /// The social login settings in force.
    pub fn social_settings(&self) -> &SocialSettings {
        self.0.social.settings()
    }

    /// The multi-factor settings.
    pub(crate) fn mfa_state(&self) -> &MfaSettings {
        &self.0.mfa
    }

    /// The WebAuthn relying party of passkeys.
    pub(crate) fn passkey_state(&self) -> &PasskeyState {
        &self.0.passkeys
    }

    /// The keyed hash of API keys.
    pub(crate) fn api_key_hasher(&self) -> &ApiKeyHasher {
        &self.0.api_key_hasher
    }

    /// The mailer.
    pub fn mailer(&self) -> &Mailer {
        self.0.mail.mailer()
    }

    /// Keeps the outbox sender's task: it stops with the last clone.
    pub(crate) fn keep_mail_sender(&self, task: BackgroundTask) {
        let _ = self.0.mail_sender.set(task);
    }

    /// A handle on the service that does not keep it alive (the background tasks').
    pub(crate) fn downgrade(&self) -> WeakAuth {
        WeakAuth(Arc::downgrade(&self.0))
    }

    /// The in-memory revocation state.
    pub(crate) fn revocations(&self) -> &Revocations {
        &self.0.revocations
    }

    /// A snapshot of the in-memory revocation state: whether it is fresh, what it holds,
    /// how many checks it decided (see the `revocation` module).
    pub fn revocation_status(&self) -> RevocationStatus {
        self.0.revocations.status()
    }

    /// The throttles.
    pub fn throttles(&self) -> &Throttles {
        &self.0.throttles
    }

    /// The login lockouts.
    pub fn lockout(&self) -> &Lockout {
        &self.0.lockout
    }

    /// The bounded password-hashing queue.
    pub fn hashing(&self) -> &Hashing {
        &self.0.hashing
    }

    /// The password hasher.
    pub fn hasher(&self) -> &PasswordHasher {
        self.0.hashing.hasher()
    }

    /// The audit log.
    pub fn audit_log(&self) -> &AuditLog {
        &self.0.audit
    }

    /// Records an audit event (see [`AuditLog::record`]).
    pub async fn audit(&self, audit: Audit) {
        self.0.audit.record(audit).await;
    }

    /// Whether this service keeps a stored key ring current (`key_source = "store"`, not
    /// offline): a key change is then installed here at once.
    pub(crate) fn holds_stored_ring(&self) -> bool {
        self.0._refresher.is_some()
    }

    /// The manager of the store's signing keys, under this service's settings.
    ///
    /// # Errors
    /// An unusable `key_encryption_key`.
    pub fn key_manager(&self) -> Result<KeyManager, AuthError> {
        Ok(KeyManager::new(self.0.store.clone(), &self.0.settings)?)
    }

    /// The name `user` logs in with (`username_field`): the e-mail address or the username.
    pub fn login_name_of<'u>(&self, user: &'u User) -> Option<&'u str> {
        match self.0.settings.username_field {
            UsernameField::Username => user.username.as_deref(),
            UsernameField::Email => Some(user.email.as_str()),
        }
    }
}
