//! [`TestApp`]: an application under test — its own database, a manual clock, the settings
//! a test asks for and the routers it mounts — and [`TestAppBuilder`], the one way to make it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::MethodRouter;
use tessera_auth::email_flows::EmailFlowSettings;
use tessera_auth::mail::MailSettings;
use tessera_core::{Clock, ManualClock, Settings, Timestamp};
use tessera_store::{NewUser, PasswordHasher, User};

use super::{NOW, SIGNING_KEY, TestClient, TestDatabase};
use crate::{
    AccountSettings, AuditSettings, BrowserSettings, Tessera, TesseraBuilder, ThrottleSettings,
    install,
};

/// A change to some settings, applied in the order given.
type Change<T> = Box<dyn FnOnce(&mut T) + Send>;

/// An application under test, like what DRF's `APITestCase` sets up: a fresh database, a
/// manual clock, and the finished router, installed with [`install`](crate::install).
///
/// ```
/// use tessera_axum::routes::{account_routes, token_routes};
/// use tessera_axum::testing::TestApp;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = TestApp::builder()
///     .settings(|s| s.rotate_refresh_tokens = true)
///     .nest("/api", token_routes().merge(account_routes()))
///     .build()
///     .await;
/// let ada = app.create_user("ada@example.com", "correct horse battery staple").await;
///
/// let client = app.client();
/// client.force_authenticate(&ada).await;
/// let profile = client.get("/api/auth/profile/").send().await.ok();
/// assert_eq!(profile["email"], "ada@example.com");
///
/// // The clock moves only when told to; the client stays authenticated.
/// app.advance(3_600);
/// client.get("/api/auth/profile/").send().await.assert_status(200);
/// # }
/// ```
#[derive(Debug)]
pub struct TestApp {
    /// Tessera's state: the service ([`Tessera::auth`]), its store and settings.
    pub tessera: Tessera,
    /// The hand of the application's clock.
    pub clock: ManualClock,
    source: Clock,
    router: Router,
    database: Arc<TestDatabase>,
}

impl TestApp {
    /// Starts describing an application: by default the test settings (HS256 with
    /// [`SIGNING_KEY`], simplejwt's defaults otherwise), the library's defaults for
    /// accounts, browsers, throttling and the audit log, two password-hashing threads, a
    /// fresh SQLite database, a manual clock at [`NOW`], and no routes.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// A new client of the application, with no cookies and no credentials.
    pub fn client(&self) -> TestClient {
        TestClient::new(self.router.clone()).with_tessera(self.tessera.clone())
    }

    /// The finished router.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The application's database.
    pub fn database(&self) -> &TestDatabase {
        &self.database
    }

    /// Serves the application on a random port of 127.0.0.1 (see [`serve`](super::serve)),
    /// for what must reach it over a socket; returns the address.
    pub async fn serve(&self) -> SocketAddr {
        super::serve(self.router()).await
    }

    /// Creates an active user with this e-mail address and password (hashed as a
    /// registration would), joined now — Django's `User.objects.create_user`.
    ///
    /// # Panics
    /// When the store refuses the user (an address taken, say).
    pub async fn create_user(&self, email: &str, password: &str) -> User {
        let new = NewUser {
            email: email.into(),
            is_active: true,
            ..NewUser::default()
        };
        self.create_user_with(new, password).await
    }

    /// Creates the user `new` describes with `password` hashed into it; `date_joined` is
    /// now unless `new` sets it.
    ///
    /// # Panics
    /// When the password cannot be hashed or the store refuses the user.
    pub async fn create_user_with(&self, new: NewUser, password: &str) -> User {
        let password = password.to_owned();
        let hash = tokio::task::spawn_blocking(move || PasswordHasher::hash_blocking(&password))
            .await
            .expect("the hashing task")
            .expect("hashing the password");
        let date_joined = if new.date_joined == Timestamp::UNIX_EPOCH {
            self.source.now()
        } else {
            new.date_joined
        };
        let new = NewUser {
            password_hash: hash,
            date_joined,
            ..new
        };
        self.tessera
            .auth()
            .store()
            .create_user(&new)
            .await
            .unwrap_or_else(|e| panic!("creating the user {}: {e}", new.email))
    }

    /// The application's time.
    pub fn now(&self) -> Timestamp {
        self.source.now()
    }

    /// Moves the application's clock by `secs` seconds (back, when negative).
    pub fn advance(&self, secs: i64) {
        self.clock.advance_secs(secs);
    }
}

/// Describes a [`TestApp`]; [`build`](Self::build) makes it. Each setting method may be
/// called several times: the changes apply in order.
#[must_use]
pub struct TestAppBuilder {
    settings: Vec<Change<Settings>>,
    accounts: Vec<Change<AccountSettings>>,
    browser: Vec<Change<BrowserSettings>>,
    throttling: Vec<Change<ThrottleSettings>>,
    audit: Vec<Change<AuditSettings>>,
    mail: Vec<Change<MailSettings>>,
    email_flows: Vec<Change<EmailFlowSettings>>,
    social: Vec<Change<tessera_auth::social::SocialSettings>>,
    passkeys: Vec<Change<tessera_auth::passkeys::PasskeySettings>>,
    mfa: Vec<Change<tessera_auth::mfa::MfaSettings>>,
    public_url: Option<String>,
    hasher: Option<PasswordHasher>,
    clock: Option<(Clock, ManualClock)>,
    start: Timestamp,
    database: Option<Arc<TestDatabase>>,
    router: Router<Tessera>,
    app: Option<Box<dyn FnOnce(Tessera) -> Router + Send>>,
    obtain_hook: Option<Box<dyn FnOnce(TesseraBuilder) -> TesseraBuilder + Send>>,
}

impl Default for TestAppBuilder {
    fn default() -> Self {
        Self {
            settings: Vec::new(),
            accounts: Vec::new(),
            browser: Vec::new(),
            throttling: Vec::new(),
            audit: Vec::new(),
            mail: Vec::new(),
            email_flows: Vec::new(),
            social: Vec::new(),
            passkeys: Vec::new(),
            mfa: Vec::new(),
            public_url: None,
            hasher: None,
            clock: None,
            start: NOW,
            database: None,
            router: Router::new(),
            app: None,
            obtain_hook: None,
        }
    }
}

impl std::fmt::Debug for TestAppBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestAppBuilder")
            .field("settings_changes", &self.settings.len())
            .field("start", &self.start)
            .field("database", &self.database)
            .field("router", &self.router)
            .field("app", &self.app.is_some())
            .finish_non_exhaustive()
    }
}

impl TestAppBuilder {
    /// Changes the token settings (simplejwt's `SIMPLE_JWT`).
    pub fn settings(mut self, change: impl FnOnce(&mut Settings) + Send + 'static) -> Self {
        self.settings.push(Box::new(change));
        self
    }

    /// The obtain routes' code hook ([`TesseraBuilder::obtain_hook`]).
    pub fn obtain_hook(mut self, hook: impl tessera_auth::obtain::ObtainHook) -> Self {
        self.obtain_hook = Some(Box::new(move |builder| builder.obtain_hook(hook)));
        self
    }

    /// Changes the account settings: password rules, custom user fields, page size.
    pub fn accounts(mut self, change: impl FnOnce(&mut AccountSettings) + Send + 'static) -> Self {
        self.accounts.push(Box::new(change));
        self
    }

    /// Changes the browser settings: token cookies, CSRF, CORS.
    pub fn browser(mut self, change: impl FnOnce(&mut BrowserSettings) + Send + 'static) -> Self {
        self.browser.push(Box::new(change));
        self
    }

    /// Changes the throttle, lockout and hashing-queue settings.
    pub fn throttling(
        mut self,
        change: impl FnOnce(&mut ThrottleSettings) + Send + 'static,
    ) -> Self {
        self.throttling.push(Box::new(change));
        self
    }

    /// Changes the audit-log settings.
    pub fn audit(mut self, change: impl FnOnce(&mut AuditSettings) + Send + 'static) -> Self {
        self.audit.push(Box::new(change));
        self
    }

    /// Changes how mail is sent (by default the console backend: each mail is a log event).
    pub fn mail(mut self, change: impl FnOnce(&mut MailSettings) + Send + 'static) -> Self {
        self.mail.push(Box::new(change));
        self
    }

    /// Changes the settings of the account flows by e-mail.
    pub fn email_flows(
        mut self,
        change: impl FnOnce(&mut EmailFlowSettings) + Send + 'static,
    ) -> Self {
        self.email_flows.push(Box::new(change));
        self
    }

    /// Changes the multi-factor settings (`mfa_issuer`, `mfa_token_lifetime`,
    /// `mfa_required_for_staff`).
    pub fn mfa(
        mut self,
        change: impl FnOnce(&mut tessera_auth::mfa::MfaSettings) + Send + 'static,
    ) -> Self {
        self.mfa.push(Box::new(change));
        self
    }

    /// Changes the passkey settings (the WebAuthn relying party, `passkey_login`).
    pub fn passkeys(
        mut self,
        change: impl FnOnce(&mut tessera_auth::passkeys::PasskeySettings) + Send + 'static,
    ) -> Self {
        self.passkeys.push(Box::new(change));
        self
    }

    /// Changes the social login settings (`oidc_providers`, `social_frontend_url` …).
    pub fn social(
        mut self,
        change: impl FnOnce(&mut tessera_auth::social::SocialSettings) + Send + 'static,
    ) -> Self {
        self.social.push(Box::new(change));
        self
    }

    /// The server's public URL, the `{server}` of the links in mails.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// Hashes passwords on `threads` threads (two by default).
    pub fn hashing_threads(mut self, threads: usize) -> Self {
        self.hasher = Some(PasswordHasher::new(threads));
        self
    }

    /// Starts the clock at `at` instead of [`NOW`].
    pub fn start_at(mut self, at: Timestamp) -> Self {
        self.start = at;
        self
    }

    /// Uses `other`'s database instead of a fresh one: another instance of an application
    /// (keys and sessions shared).
    pub fn same_database(mut self, other: &TestApp) -> Self {
        self.database = Some(Arc::clone(&other.database));
        self
    }

    /// Uses `other`'s clock: moving one moves both.
    pub fn same_clock(mut self, other: &TestApp) -> Self {
        self.clock = Some((other.source.clone(), other.clock.clone()));
        self
    }

    /// Uses this database (a PostgreSQL one, say) instead of a fresh SQLite file.
    pub fn database(mut self, database: TestDatabase) -> Self {
        self.database = Some(Arc::new(database));
        self
    }

    /// Mounts `router` under `path` (`"/api"` for Tessera's routers).
    pub fn nest(mut self, path: &str, router: Router<Tessera>) -> Self {
        self.router = self.router.nest(path, router);
        self
    }

    /// Merges `router` at the root.
    pub fn merge(mut self, router: Router<Tessera>) -> Self {
        self.router = self.router.merge(router);
        self
    }

    /// Adds a route: the application's own views, next to Tessera's.
    pub fn route(mut self, path: &str, view: MethodRouter<Tessera>) -> Self {
        self.router = self.router.route(path, view);
        self
    }

    /// The application is what `app` makes from Tessera's state — an application with its
    /// own state, say — already finished with [`install`](crate::install). The routes given
    /// to [`nest`](Self::nest), [`merge`](Self::merge) and [`route`](Self::route) are not
    /// used then.
    pub fn app(mut self, app: impl FnOnce(Tessera) -> Router + Send + 'static) -> Self {
        self.app = Some(Box::new(app));
        self
    }

    /// Opens and migrates the database, builds Tessera's state (starting its keys) and
    /// installs the routes.
    ///
    /// # Panics
    /// When the settings are not valid or the database cannot be opened.
    pub async fn build(self) -> TestApp {
        let database = match self.database {
            Some(database) => database,
            None => Arc::new(TestDatabase::sqlite()),
        };
        let store = database.store().await;
        let mut settings = Settings {
            signing_key: Some(SIGNING_KEY.into()),
            ..Settings::default()
        };
        apply(&mut settings, self.settings);
        let (source, clock) = self.clock.unwrap_or_else(|| Clock::manual(self.start));
        let tessera = Tessera::builder(settings, store)
            .hasher(self.hasher.unwrap_or_else(|| PasswordHasher::new(2)))
            .clock(source.clone())
            .accounts(changed(self.accounts))
            .browser(changed(self.browser))
            .throttling(changed(self.throttling))
            .audit(changed(self.audit))
            .mail(changed(self.mail))
            .email_flows(changed(self.email_flows))
            .social(changed(self.social))
            .passkeys(changed(self.passkeys))
            .mfa(changed(self.mfa));
        let tessera = match self.public_url {
            Some(url) => tessera.public_url(url),
            None => tessera,
        };
        let tessera = match self.obtain_hook {
            Some(hook) => hook(tessera),
            None => tessera,
        };
        let tessera = tessera
            .build()
            .await
            .unwrap_or_else(|e| panic!("the test application's settings: {e}"));
        let router = match self.app {
            Some(app) => app(tessera.clone()),
            None => install(self.router, tessera.clone()),
        };
        TestApp {
            tessera,
            clock,
            source,
            router,
            database,
        }
    }
}

fn apply<T>(value: &mut T, changes: Vec<Change<T>>) {
    for change in changes {
        change(value);
    }
}

fn changed<T: Default>(changes: Vec<Change<T>>) -> T {
    let mut value = T::default();
    apply(&mut value, changes);
    value
}
