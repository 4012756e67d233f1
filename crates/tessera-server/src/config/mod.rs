//! The server's configuration: defaults, then `tessera.toml`, then `.env`, then `TESSERA_*`
//! environment variables; validated before anything starts.
//!
//! | concern | where |
//! |---|---|
//! | the settings, their defaults, what can never work, values derived from them | here |
//! | reading `.env`, `tessera.toml` and `TESSERA_*`, naming the source of a bad value | `load` ([`Config::load`]) |
//! | what makes a configuration unfit for production | `deploy` ([`Config::findings`], [`Config::check_production`]) |
//! | the signing key generated in debug mode | `signing_key` ([`Config::ensure_signing_key`]) |

mod deploy;
mod load;
mod signing_key;

pub use deploy::{Finding, Severity};
pub use load::DEFAULT_CONFIG_FILE;
pub(crate) use signing_key::{create_private_dir, create_private_file};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tessera_auth::accounts::AccountSettings;
use tessera_auth::api_keys::ApiKeySettings;
use tessera_auth::audit::AuditSettings;
use tessera_auth::email_flows::EmailFlowSettings;
use tessera_auth::guard::ThrottleSettings;
use tessera_auth::mail::MailSettings;
use tessera_auth::mfa::MfaSettings;
use tessera_auth::passkeys::PasskeySettings;
use tessera_auth::revocation::RevocationSettings;
use tessera_auth::social::SocialSettings;
use tessera_axum::BrowserSettings;
use tessera_axum::routes::RoutePaths;
use tessera_core::{Secret, Settings};

/// Everything the server is configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address and port to serve on. Defaults to `127.0.0.1:8000`.
    pub bind: String,
    /// Directory for the SQLite database and the generated signing key. Defaults to `./tessera-data`.
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://path/to/file.db`, or `postgres://user:password@host/db` for
    /// several servers sharing one database. Defaults to a SQLite file in `data_dir`.
    pub database_url: Option<String>,
    /// Most database connections this server opens. Defaults to 10.
    pub database_max_connections: u32,
    /// How long a request waits for a database connection (opening one included) before it
    /// gets a 503 with `Retry-After`. Defaults to 5 seconds.
    #[serde(with = "tessera_core::duration")]
    pub database_connect_timeout: Duration,
    /// PostgreSQL: statements running longer are cancelled and the request gets a 503;
    /// `0` turns the limit off. Defaults to 10 seconds.
    #[serde(with = "tessera_core::duration")]
    pub database_statement_timeout: Duration,
    /// Development mode: a generated signing key is allowed and logs are human-readable.
    /// Production deployments set it to `false`, and then unsafe settings stop the server.
    /// Defaults to `true`, like a new Django project.
    #[serde(with = "tessera_core::boolean")]
    pub debug: bool,
    /// Seconds to let in-flight requests finish after SIGINT/SIGTERM. Defaults to 10.
    #[serde(with = "tessera_core::duration")]
    pub shutdown_grace: Duration,
    /// simplejwt's settings, at the top level (`access_token_lifetime`, `signing_key`, …).
    #[serde(flatten)]
    pub jwt: Settings,
    /// Account settings, at the top level (`password_min_length`, `user_fields`, …).
    #[serde(flatten)]
    pub accounts: AccountSettings,
    /// Cookie mode, CSRF and CORS, at the top level (`auth_cookie_samesite`, `cors_allowed_origins`, …).
    #[serde(flatten)]
    pub browser: BrowserSettings,
    /// Throttles, login lockout and the hashing queue (`throttle_rates`, `num_proxies`, …).
    #[serde(flatten)]
    pub throttling: ThrottleSettings,
    /// The audit log's retention (`audit_retention`).
    #[serde(flatten)]
    pub audit: AuditSettings,
    /// The address users reach this server at (`https://auth.example.com`), without a path:
    /// the `{server}` of the links in mails. Production needs an `https` one. Defaults to
    /// `http://` followed by `bind`.
    pub public_url: Option<String>,
    /// How mail is sent (`email_backend`, `smtp_url`, `email_from`, …).
    #[serde(flatten)]
    pub mail: MailSettings,
    /// The account flows by e-mail (`password_reset_timeout`, `require_verified_email`,
    /// `login_by_code`, …).
    #[serde(flatten)]
    pub email_flows: EmailFlowSettings,
    /// API keys (`api_key_secret`, `api_key_max_per_user`, `api_key_retention`).
    #[serde(flatten)]
    pub api_keys: ApiKeySettings,
    /// Multi-factor authentication (`mfa_issuer`, `mfa_token_lifetime`,
    /// `mfa_required_for_staff`).
    #[serde(flatten)]
    pub mfa: MfaSettings,
    /// Passkeys (`webauthn_rp_id`, `webauthn_origins`, `webauthn_rp_name`,
    /// `passkey_login`).
    #[serde(flatten)]
    pub passkeys: PasskeySettings,
    /// Social login (`[[oidc_providers]]`, `social_frontend_url`, `social_signup`).
    #[serde(flatten)]
    pub social: SocialSettings,
    /// Revocation in memory (`revocation_max_staleness`, `revocation_poll_interval`,
    /// `revocation_cache_capacity`, `revocation_window_capacity`).
    #[serde(flatten)]
    pub revocation: RevocationSettings,
    /// Where the API is served (`[routes]`): the prefix (`/api`) and each token view's path.
    pub routes: RoutePaths,
    /// Bearer token that `/metrics` requires. Unset, only local clients that came through
    /// no proxy may read it, and only in debug mode: outside debug `/metrics` needs it.
    pub metrics_token: Option<Secret>,
    /// How long a client has to send a request's line and headers — and how long an idle
    /// keep-alive connection stays open — before the connection is closed. Defaults to 10
    /// seconds.
    #[serde(with = "tessera_core::duration")]
    pub header_read_timeout: Duration,
    /// How long reading a request's body may take; a body that stalls gets 408 and the
    /// connection is closed. Defaults to 30 seconds.
    #[serde(with = "tessera_core::duration")]
    pub request_body_timeout: Duration,
    /// Connections served at once. Beyond them a small reserve of connections answers only
    /// `/healthz` and `/readyz` (503 for the rest), and further ones are closed at once.
    /// Defaults to 10000.
    pub max_connections: usize,
}

impl Default for Config {
    /// The production values of a DRF + simplejwt service: 15-minute access tokens, 7-day
    /// refresh tokens, rotation with blacklisting, login by e-mail.
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8000".into(),
            data_dir: PathBuf::from("./tessera-data"),
            database_url: None,
            database_max_connections: 10,
            database_connect_timeout: Duration::from_secs(5),
            database_statement_timeout: Duration::from_secs(10),
            debug: true,
            shutdown_grace: Duration::from_secs(10),
            jwt: Settings {
                access_token_lifetime: Duration::from_secs(15 * 60),
                refresh_token_lifetime: Duration::from_secs(7 * 24 * 3600),
                rotate_refresh_tokens: true,
                blacklist_after_rotation: true,
                update_last_login: true,
                ..Settings::default()
            },
            accounts: AccountSettings::default(),
            browser: BrowserSettings::default(),
            throttling: {
                // The library's rates (`register`, `password_change`), and, as django-ratelimit
                // is usually set on a Django login view, 5 logins per minute per client address.
                let mut throttling = ThrottleSettings::default();
                throttling
                    .throttle_rates
                    .insert("login".to_owned(), "5/min".to_owned());
                // The second step of a login, as the first.
                throttling
                    .throttle_rates
                    .insert("mfa".to_owned(), "5/min".to_owned());
                throttling
            },
            audit: AuditSettings::default(),
            public_url: None,
            mail: MailSettings::default(),
            email_flows: EmailFlowSettings::default(),
            api_keys: ApiKeySettings::default(),
            mfa: MfaSettings::default(),
            passkeys: PasskeySettings::default(),
            social: SocialSettings::default(),
            revocation: RevocationSettings::default(),
            routes: RoutePaths::default(),
            metrics_token: None,
            header_read_timeout: Duration::from_secs(10),
            request_body_timeout: Duration::from_secs(30),
            max_connections: 10_000,
        }
    }
}

/// The hosts served in debug mode when `allowed_hosts` is empty, as Django's: `localhost`
/// and its subdomains, and the loopback addresses.
pub const DEBUG_ALLOWED_HOSTS: &[&str] = &[".localhost", "127.0.0.1", "[::1]"];

/// The paths the server serves besides the API (a trailing `*`: everything under it). The
/// token views cannot be configured onto them; a test requests each one.
pub const SERVER_PATHS: &[&str] = &[
    "/healthz",
    "/readyz",
    "/metrics",
    "/account",
    "/account/*",
    "/admin",
    "/admin/",
    "/admin/app.js",
    "/admin/app.css",
    "/.well-known/*",
];

/// A configuration that cannot be used; the message names the setting or file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Values that can never work, in any mode.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.bind_addr()?;
        if let Some(url) = &self.database_url
            && tessera_store::Engine::from_url(url).is_none()
        {
            // The URL may hold a password: never echo it.
            return Err(ConfigError(format!(
                "invalid setting `database_url`: {:?} is neither a SQLite URL \
                 (sqlite://path/to/file.db) nor a PostgreSQL one (postgres://user@host/database)",
                redact_url(url)
            )));
        }
        if self.database_max_connections == 0 {
            return Err(ConfigError(
                "invalid setting `database_max_connections`: at least 1".into(),
            ));
        }
        if self.database_connect_timeout.is_zero() {
            return Err(ConfigError(
                "invalid setting `database_connect_timeout`: must be more than 0".into(),
            ));
        }
        self.validate_connection_limits()?;
        self.jwt
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        self.accounts
            .validate_with(&self.jwt)
            .map_err(|e| ConfigError(e.to_string()))?;
        self.throttling
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        self.audit
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        self.mail
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        let email_optional = self.jwt.username_field == tessera_core::UsernameField::Username
            && !self.accounts.registration_email_required;
        self.email_flows
            .validate_with(&self.mail, email_optional)
            .map_err(|e| ConfigError(e.to_string()))?;
        self.api_keys
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        self.mfa
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        self.social
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        self.revocation
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        self.validate_public_url()?;
        self.passkeys
            .validate(&self.public_url())
            .map_err(|e| ConfigError(e.to_string()))?;
        self.validate_routes()?;
        self.browser_settings()
            .validate()
            .map_err(|e| ConfigError(e.to_string()))
    }

    /// The API's paths: valid, and none where the server serves something else (its index,
    /// health, metrics, the account page, the admin console, the JWKS).
    fn validate_routes(&self) -> Result<(), ConfigError> {
        self.routes
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        for (name, path) in self.routes.token_paths() {
            let Some(path) = path else { continue };
            let taken = SERVER_PATHS.iter().any(|own| match own.strip_suffix('*') {
                Some(under) => path.starts_with(under),
                None => path == *own,
            });
            if taken {
                return Err(ConfigError(format!(
                    "invalid setting `routes.{name}`: the server serves {path} itself"
                )));
            }
        }
        Ok(())
    }

    /// `public_url`: an `http` or `https` URL with a host and nothing after it but `/`.
    fn validate_public_url(&self) -> Result<(), ConfigError> {
        let Some(text) = &self.public_url else {
            return Ok(());
        };
        let fail = |why: &str| {
            Err(ConfigError(format!(
                "invalid setting `public_url`: {text:?} {why}, e.g. \"https://auth.example.com\""
            )))
        };
        let Ok(url) = url::Url::parse(text) else {
            return fail("is not a URL");
        };
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return fail("is not an http or https URL with a host");
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return fail("has a path, query or fragment");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return fail("holds credentials");
        }
        Ok(())
    }

    /// The public URL in force, without a trailing `/`: `public_url`, or `http://` and the
    /// bound address (the loopback address for a server bound to every interface).
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let mut addr = self
                    .bind_addr()
                    .unwrap_or_else(|_| SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 8000)));
                if addr.ip().is_unspecified() {
                    addr.set_ip(match addr.ip() {
                        std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                        std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                    });
                }
                format!("http://{addr}")
            }
        }
    }

    /// The limits that keep slow or idle clients from holding connections: both timeouts
    /// between 1 ms and an hour, at least one connection.
    fn validate_connection_limits(&self) -> Result<(), ConfigError> {
        for (name, value) in [
            ("header_read_timeout", self.header_read_timeout),
            ("request_body_timeout", self.request_body_timeout),
        ] {
            if value < Duration::from_millis(1) || value > Duration::from_secs(3600) {
                return Err(ConfigError(format!(
                    "invalid setting `{name}`: must be more than 0 and at most an hour, e.g. \"10s\""
                )));
            }
        }
        if self.max_connections == 0 {
            return Err(ConfigError(
                "invalid setting `max_connections`: at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The multi-factor settings in force: outside debug mode TOTP setup is refused without a
    /// `key_encryption_key` ([`MfaSettings::require_sealed_secrets`]), since the server would
    /// refuse to start while an unencrypted secret is stored.
    pub fn mfa_settings(&self) -> MfaSettings {
        MfaSettings {
            require_sealed_secrets: !self.debug,
            ..self.mfa.clone()
        }
    }

    /// The browser settings in force: cookies are `Secure` unless debug mode is on or
    /// `session_cookie_secure` / `auth_cookie_secure` say otherwise; the refresh cookie's path
    /// follows `routes.prefix` unless `auth_cookie_refresh_path` is set; in debug mode an
    /// empty `allowed_hosts` is Django's debug list ([`DEBUG_ALLOWED_HOSTS`]) and a refused
    /// host is named in the 400 body.
    pub fn browser_settings(&self) -> BrowserSettings {
        let mut browser = BrowserSettings {
            auth_cookie_secure: Some(self.browser.auth_cookie_secure.unwrap_or(!self.debug)),
            explain_disallowed_host: self.debug,
            ..self.browser.clone()
        };
        if self.debug && browser.allowed_hosts.is_empty() {
            browser.allowed_hosts = DEBUG_ALLOWED_HOSTS
                .iter()
                .map(|h| (*h).to_owned())
                .collect();
        }
        // The refresh cookie goes where the auth routes are, under the configured prefix,
        // unless its path was set.
        if browser.auth_cookie_refresh_path == BrowserSettings::default().auth_cookie_refresh_path {
            browser.auth_cookie_refresh_path = self.routes.api_path("auth/");
        }
        browser
    }

    /// The address to bind: `bind` as an address (`0.0.0.0:8000`, `[::1]:8000`), a bare port
    /// (`8000`, meaning `127.0.0.1:8000`) or a host name and port (`localhost:8000`; a name is
    /// resolved and its first address used, `localhost` being `127.0.0.1`).
    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        parse_bind(&self.bind).ok_or_else(|| {
            ConfigError(format!(
                "invalid setting `bind`: {:?} is not an address such as 127.0.0.1:8000, \
                 localhost:8000, [::1]:8000 or a port such as 8000",
                self.bind
            ))
        })
    }

    /// The database, as messages name it (no password): the answer to "which database?".
    pub fn database_description(&self) -> String {
        redact_url(&self.database_url())
    }

    /// The database URL in force: the configured one, or a SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("tessera.db").display()))
    }

    /// The file of a SQLite database in force (`None` for PostgreSQL and in-memory SQLite).
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        let url = self.database_url();
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() || path == ":memory:" || query.split('&').any(|p| p == "mode=memory") {
            return None;
        }
        Some(PathBuf::from(path))
    }

    /// The database pool's size and time limits.
    pub fn store_options(&self) -> tessera_store::StoreOptions {
        tessera_store::StoreOptions {
            max_connections: self.database_max_connections,
            connect_timeout: self.database_connect_timeout,
            statement_timeout: Some(self.database_statement_timeout)
                .filter(|timeout| !timeout.is_zero()),
        }
    }
}

/// [`Config::bind_addr`]'s parsing: an address, a bare port on `127.0.0.1`, or a host name
/// and port resolved to its first address (IPv4 first for `localhost`).
fn parse_bind(bind: &str) -> Option<SocketAddr> {
    let bind = bind.trim();
    if let Ok(addr) = bind.parse::<SocketAddr>() {
        return Some(addr);
    }
    if !bind.is_empty() && bind.bytes().all(|b| b.is_ascii_digit()) {
        let port = bind.parse::<u16>().ok()?;
        return Some(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    let (host, port) = bind.rsplit_once(':')?;
    let port = port.parse::<u16>().ok()?;
    if host.is_empty() || host.len() > 253 || host.contains(['[', ']', ':', '/', ' ']) {
        return None;
    }
    if host.eq_ignore_ascii_case("localhost") {
        return Some(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .ok()?
        .next()
}

/// A database URL without its password, fit for messages: the user information before the
/// last `@` and any `password=` parameter are replaced, even in a URL that is not valid.
pub fn redact_url(url: &str) -> String {
    let redacted = match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://[redacted]@{}", &url[..scheme], &url[at + 1..])
        }
        (_, Some(at)) => format!("[redacted]@{}", &url[at + 1..]),
        _ => url.to_owned(),
    };
    match redacted.split_once('?') {
        Some((base, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                        format!("{name}=[redacted]")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{base}?{}", query.join("&"))
        }
        None => redacted,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// An environment of `pairs`.
    pub(super) fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The configuration from the environment `pairs` alone.
    pub(super) fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::load_from(Some(Path::new("/nonexistent/tessera.toml")), &vars(pairs))
            .or_else(|_| Config::load_from(None, &vars(pairs)))
    }

    #[test]
    fn routes_and_obtain_shapes_come_from_their_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tessera.toml");
        let toml = r#"
[routes]
prefix = "api/v1/"
token_obtain = "/gettoken/"
token_sliding = ""

[token_obtain]
claims = ["email", "full_name"]
response_user = ["id", "email"]

[token_obtain_sliding]
claims = ["username"]
"#;
        std::fs::write(&path, toml).unwrap();
        let config = Config::load_from(Some(&path), &[]).unwrap();
        assert_eq!(config.routes.token_obtain, "/gettoken/");
        assert_eq!(config.routes.api_path("auth/"), "/api/v1/auth/");
        assert_eq!(config.accounts.token_obtain.claims, ["email", "full_name"]);
        assert_eq!(config.accounts.token_obtain.response_user, ["id", "email"]);
        assert_eq!(config.accounts.token_obtain_sliding.claims, ["username"]);
        // The refresh cookie follows the auth routes, unless its path is set.
        assert_eq!(
            config.browser_settings().auth_cookie_refresh_path,
            "/api/v1/auth/"
        );
        assert_eq!(
            Config::default()
                .browser_settings()
                .auth_cookie_refresh_path,
            "/api/auth/"
        );

        let refused = [
            ("[routes]\ntoken_obtian = \"x/\"\n", "token_obtian"),
            (
                "[routes]\ntoken_verify = \"/healthz\"\n",
                "routes.token_verify",
            ),
            (
                "[routes]\ntoken_obtain = \"/account/x/\"\n",
                "routes.token_obtain",
            ),
            ("[token_obtain]\nclaims = [\"password\"]\n", "token_obtain"),
            ("[token_obtain]\nclaims = [\"exp\"]\n", "token_obtain"),
            ("[token_obtain]\nfields = []\n", "fields"),
        ];
        for (text, named) in refused {
            std::fs::write(&path, text).unwrap();
            let err = Config::load_from(Some(&path), &[]).unwrap_err().to_string();
            assert!(err.contains(named), "{text}: {err}");
        }
    }

    #[test]
    fn bind_is_an_address_a_bare_port_or_a_host_name_and_port() {
        let addr = |bind: &str| {
            Config {
                bind: bind.into(),
                ..Config::default()
            }
            .bind_addr()
        };
        for (bind, expected) in [
            ("127.0.0.1:8000", "127.0.0.1:8000"),
            ("0.0.0.0:8000", "0.0.0.0:8000"),
            ("[::1]:8000", "[::1]:8000"),
            ("8000", "127.0.0.1:8000"),
            ("0", "127.0.0.1:0"),
            ("localhost:8000", "127.0.0.1:8000"),
            ("LocalHost:8001", "127.0.0.1:8001"),
            (" 8002 ", "127.0.0.1:8002"),
        ] {
            assert_eq!(addr(bind).unwrap().to_string(), expected, "{bind}");
        }
        for bad in [
            "",
            ":",
            "localhost",
            "localhost:",
            "localhost:99999",
            "65536",
            "-1",
            "::1:8000",
            "[::1]",
            "a b:80",
            "http://localhost:8000",
        ] {
            let err = addr(bad).unwrap_err().to_string();
            assert!(err.contains("invalid setting `bind`"), "{bad}: {err}");
        }
    }

    #[test]
    fn defaults_are_the_production_values_of_the_seed_service() {
        let config = Config::default();
        assert_eq!(config.bind, "127.0.0.1:8000");
        assert_eq!(config.jwt.access_token_lifetime, Duration::from_secs(900));
        assert_eq!(
            config.jwt.refresh_token_lifetime,
            Duration::from_secs(7 * 86_400)
        );
        assert!(config.jwt.rotate_refresh_tokens && config.jwt.blacklist_after_rotation);
        assert_eq!(
            config.jwt.username_field,
            tessera_core::UsernameField::Email
        );
        assert_eq!(config.database_url(), "sqlite://./tessera-data/tessera.db");
    }

    #[test]
    fn database_settings_choose_the_engine_and_the_pool_limits() {
        let defaults = Config::default().store_options();
        assert_eq!(defaults, tessera_store::StoreOptions::default());

        let config = load(&[
            (
                "TESSERA_DATABASE_URL",
                "postgres://tessera@db.internal:5432/tessera",
            ),
            ("TESSERA_DATABASE_MAX_CONNECTIONS", "25"),
            ("TESSERA_DATABASE_CONNECT_TIMEOUT", "2s"),
            ("TESSERA_DATABASE_STATEMENT_TIMEOUT", "500ms"),
        ])
        .unwrap();
        assert_eq!(
            config.database_url(),
            "postgres://tessera@db.internal:5432/tessera"
        );
        let options = config.store_options();
        assert_eq!(options.max_connections, 25);
        assert_eq!(options.connect_timeout, Duration::from_secs(2));
        assert_eq!(options.statement_timeout, Some(Duration::from_millis(500)));

        let off = load(&[("TESSERA_DATABASE_STATEMENT_TIMEOUT", "0")]).unwrap();
        assert_eq!(off.store_options().statement_timeout, None);
        assert!(load(&[("TESSERA_DATABASE_URL", "postgresql://h/db")]).is_ok());
        for (name, value) in [
            ("TESSERA_DATABASE_MAX_CONNECTIONS", "0"),
            ("TESSERA_DATABASE_CONNECT_TIMEOUT", "0"),
            ("TESSERA_DATABASE_URL", "mysql://h/db"),
        ] {
            let err = load(&[(name, value)]).unwrap_err().to_string();
            assert!(
                err.contains(&name["TESSERA_".len()..].to_lowercase()),
                "{err}"
            );
        }
    }

    #[test]
    fn database_passwords_never_reach_messages() {
        assert_eq!(
            redact_url("postgres://u:secret@db:5432/x"),
            "postgres://[redacted]@db:5432/x"
        );
        assert_eq!(
            redact_url("sqlite://./tessera-data/tessera.db"),
            "sqlite://./tessera-data/tessera.db"
        );
        assert_eq!(redact_url("app:secret@db/x"), "[redacted]@db/x");
        assert_eq!(
            redact_url("postgres://db/x?user=app&password=secret"),
            "postgres://db/x?user=app&password=[redacted]"
        );
    }

    #[test]
    fn a_mistyped_database_url_is_named_without_its_password() {
        for url in [
            "postgresql+psycopg://app:Sup3rS3cretDBpass@db:5432/x",
            "app:Sup3rS3cretDBpass@db:5432/x",
            "mysql://db/x?password=Sup3rS3cretDBpass",
        ] {
            let err = load(&[("TESSERA_DATABASE_URL", url)])
                .unwrap_err()
                .to_string();
            assert!(err.contains("database_url"), "{err}");
            assert!(
                !err.contains("Sup3rS3cret"),
                "the password is echoed: {err}"
            );
        }
    }

    #[test]
    fn connection_limits_have_safe_defaults_and_are_validated() {
        let config = Config::default();
        assert_eq!(config.header_read_timeout, Duration::from_secs(10));
        assert_eq!(config.request_body_timeout, Duration::from_secs(30));
        assert_eq!(config.max_connections, 10_000);
        let set = load(&[
            ("TESSERA_HEADER_READ_TIMEOUT", "2s"),
            ("TESSERA_REQUEST_BODY_TIMEOUT", "500ms"),
            ("TESSERA_MAX_CONNECTIONS", "64"),
        ])
        .unwrap();
        assert_eq!(set.header_read_timeout, Duration::from_secs(2));
        assert_eq!(set.request_body_timeout, Duration::from_millis(500));
        assert_eq!(set.max_connections, 64);
        for (name, value) in [
            ("TESSERA_HEADER_READ_TIMEOUT", "0"),
            ("TESSERA_REQUEST_BODY_TIMEOUT", "2h"),
            ("TESSERA_MAX_CONNECTIONS", "0"),
            ("TESSERA_MAX_CONNECTIONS", "lots"),
        ] {
            let err = load(&[(name, value)]).unwrap_err().to_string();
            assert!(
                err.contains(&name["TESSERA_".len()..].to_lowercase()),
                "{name}={value}: {err}"
            );
        }
    }
}
