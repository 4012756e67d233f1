//! The server's configuration: defaults, then `tessera.toml`, then `.env`, then `TESSERA_*`
//! environment variables; validated before anything starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::Serialized;
use serde::{Deserialize, Serialize};
use tessera_auth::accounts::AccountSettings;
use tessera_auth::audit::AuditSettings;
use tessera_auth::guard::ThrottleSettings;
use tessera_axum::BrowserSettings;
use tessera_core::{Secret, Settings};

/// Environment variables with the `TESSERA_` prefix that are not settings.
const NON_SETTING_VARS: &[&str] = &["config", "superuser_password", "log"];

/// The default configuration file, read from the working directory when present.
pub const DEFAULT_CONFIG_FILE: &str = "tessera.toml";

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
    /// Bearer token that `/metrics` requires; unset, only local clients may read it.
    pub metrics_token: Option<Secret>,
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
            throttling: ThrottleSettings {
                // seeds/004's django-ratelimit on login: 5 per minute per client address.
                throttle_rates: [("login".to_owned(), "5/min".to_owned())].into(),
                ..ThrottleSettings::default()
            },
            audit: AuditSettings::default(),
            metrics_token: None,
        }
    }
}

/// A configuration that cannot be used; the message names the setting or file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Loads the configuration. `file` is an explicit `--config` path (it must exist);
    /// without it `tessera.toml` is read if present. A `.env` file in the working directory
    /// is loaded into the environment first (variables already set win).
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        // A missing .env is normal; a broken one is worth stopping for.
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(ConfigError(format!(".env: {e}"))),
        }
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &vars)
    }

    /// [`Config::load`] with an explicit environment (for tests).
    pub fn load_from(file: Option<&Path>, vars: &[(String, String)]) -> Result<Self, ConfigError> {
        let env_file = vars
            .iter()
            .find(|(k, _)| k == "TESSERA_CONFIG")
            .map(|(_, v)| PathBuf::from(v));
        let (path, required) = match file.map(Path::to_path_buf).or(env_file) {
            Some(path) => (path, true),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        // Every value supplied, with where it came from, so an error can name its source.
        let mut supplied: Vec<(String, figment::value::Value, String)> = Vec::new();
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
            let table: toml::Table = toml::from_str(&text)
                .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
            let defaults = default_values();
            for (key, value) in table {
                if !defaults.contains_key(&key) {
                    return Err(ConfigError(format!(
                        "{}: unknown setting `{key}`",
                        path.display()
                    )));
                }
                let value = figment::value::Value::serialize(&value)
                    .map_err(|e| ConfigError(format!("{}: `{key}`: {e}", path.display())))?;
                supplied.push((key, value, path.display().to_string()));
            }
        } else if required {
            return Err(ConfigError(format!(
                "configuration file {} does not exist",
                path.display()
            )));
        }
        let defaults = default_values();
        for (name, value) in vars {
            let Some(key) = name.strip_prefix("TESSERA_") else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            if NON_SETTING_VARS.contains(&key.as_str()) {
                continue;
            }
            let Some(default) = defaults.get(&key) else {
                return Err(ConfigError(format!(
                    "unknown setting in environment variable {name}"
                )));
            };
            supplied.push((
                key,
                env_value(default, value),
                format!("environment variable {name}"),
            ));
        }
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        for (key, value, _) in &supplied {
            figment = figment.merge(Serialized::default(key, value));
        }
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError(describe_error(e, &supplied)))?;
        config.validate()?;
        Ok(config)
    }

    /// Values that can never work, in any mode.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.bind_addr()?;
        if let Some(url) = &self.database_url
            && tessera_store::Engine::from_url(url).is_none()
        {
            return Err(ConfigError(format!(
                "invalid setting `database_url`: {url:?} is neither a SQLite URL \
                 (sqlite://path/to/file.db) nor a PostgreSQL one (postgres://user@host/database)"
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
        self.jwt
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        self.accounts
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        self.throttling
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        self.audit
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        self.browser_settings()
            .validate()
            .map_err(|e| ConfigError(e.to_string()))
    }

    /// The browser settings in force: cookies are `Secure` unless debug mode is on or
    /// `auth_cookie_secure` says otherwise.
    pub fn browser_settings(&self) -> BrowserSettings {
        BrowserSettings {
            auth_cookie_secure: Some(self.browser.auth_cookie_secure.unwrap_or(!self.debug)),
            ..self.browser.clone()
        }
    }

    /// The address to bind.
    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.bind.parse().map_err(|_| {
            ConfigError(format!(
                "invalid setting `bind`: {:?} is not an address such as 127.0.0.1:8000",
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

    /// The database pool's size and time limits.
    pub fn store_options(&self) -> tessera_store::StoreOptions {
        tessera_store::StoreOptions {
            max_connections: self.database_max_connections,
            connect_timeout: self.database_connect_timeout,
            statement_timeout: Some(self.database_statement_timeout)
                .filter(|timeout| !timeout.is_zero()),
        }
    }

    /// Where a generated signing key is kept: `signing_key` (an HMAC secret), or
    /// `signing_key.<ALG>.pem` for an asymmetric algorithm.
    pub fn signing_key_file(&self) -> PathBuf {
        let alg = self.jwt.algorithm;
        if alg.is_hmac() {
            self.data_dir.join("signing_key")
        } else {
            self.data_dir.join(format!("signing_key.{alg}.pem"))
        }
    }

    /// Every problem that makes this configuration unfit for production.
    pub fn findings(&self) -> Vec<Finding> {
        let mut findings = Vec::new();
        let alg = self.jwt.algorithm;
        let key_elsewhere = self.jwt.signing_key_file.is_some()
            || self.jwt.key_source == tessera_core::KeyOrigin::Store;
        match &self.jwt.signing_key {
            // Asymmetric keys: see `commands::keys::findings`.
            _ if key_elsewhere || !alg.is_hmac() => {}
            None => findings.push(Finding::error(
                "signing_key",
                "no signing key is configured; set TESSERA_SIGNING_KEY to a random secret, e.g. \
                 `openssl rand -base64 64`",
            )),
            Some(key) if key.expose().len() < alg.min_secret_len() => {
                findings.push(Finding::error(
                    "signing_key",
                    format!(
                        "is shorter than the {} bytes {alg} needs to be secure",
                        alg.min_secret_len()
                    ),
                ))
            }
            Some(_) => {}
        }
        findings.extend(crate::commands::keys::findings(self));
        if self.debug {
            findings.push(Finding::error(
                "debug",
                "debug mode is on; set TESSERA_DEBUG=false in production",
            ));
        }
        if self.jwt.rotate_refresh_tokens && !self.jwt.blacklist_after_rotation {
            findings.push(Finding::warning(
                "blacklist_after_rotation",
                "rotation without blacklisting leaves every rotated refresh token usable",
            ));
        }
        if self.jwt.access_token_lifetime > Duration::from_secs(3600) {
            findings.push(Finding::warning(
                "access_token_lifetime",
                "access tokens living over an hour cannot be revoked quickly by stateless services",
            ));
        }
        if self.browser.auth_cookie_secure == Some(false) {
            findings.push(Finding::error(
                "auth_cookie_secure",
                "token cookies without Secure travel over plain HTTP; leave it unset (Secure unless debug)",
            ));
        }
        if let Some(origin) = self
            .browser
            .csrf_trusted_origins
            .iter()
            .chain(&self.browser.cors_allowed_origins)
            .find(|o| o.starts_with("http://"))
        {
            findings.push(Finding::warning(
                "csrf_trusted_origins",
                format!("{origin} is a plain-HTTP origin"),
            ));
        }
        if self.browser.cors_allow_all_origins {
            findings.push(Finding::warning(
                "cors_allow_all_origins",
                "every website may call the API from a browser",
            ));
        }
        if self.jwt.leeway > Duration::from_secs(60) {
            findings.push(Finding::warning(
                "leeway",
                "more than a minute of leeway keeps expired tokens alive",
            ));
        }
        if let Ok(addr) = self.bind_addr()
            && !addr.ip().is_loopback()
            && self.debug
        {
            findings.push(Finding::warning(
                "bind",
                "a debug server is listening beyond this machine",
            ));
        }
        findings
    }

    /// Refuses to run with a configuration unfit for production when debug is off.
    pub fn check_production(&self) -> Result<(), ConfigError> {
        if self.debug {
            return Ok(());
        }
        let errors: Vec<String> = self
            .findings()
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.to_string())
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(format!(
                "refusing to start in production mode (debug = false):\n  {}",
                errors.join("\n  ")
            )))
        }
    }

    /// Uses the configured signing key, or (in debug mode only) one generated once and kept
    /// in the data directory. Returns whether a generated key is in use.
    pub fn ensure_signing_key(&mut self) -> Result<bool, ConfigError> {
        if self.jwt.signing_key.is_some()
            || self.jwt.signing_key_file.is_some()
            || self.jwt.key_source == tessera_core::KeyOrigin::Store
        {
            return Ok(false);
        }
        if !self.debug {
            return Err(ConfigError(
                "refusing to start in production mode (debug = false): no signing key is configured; \
                 set TESSERA_SIGNING_KEY to a random secret, e.g. `openssl rand -base64 64`"
                    .into(),
            ));
        }
        let path = self.signing_key_file();
        let key = match std::fs::read_to_string(&path) {
            Ok(key) if !key.trim().is_empty() => key.trim().to_owned(),
            Ok(_) => {
                return Err(ConfigError(format!(
                    "{} is empty; delete it to generate a new key",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                write_new_key(&path, self.jwt.algorithm)?
            }
            Err(e) => return Err(ConfigError(format!("{}: {e}", path.display()))),
        };
        self.jwt.signing_key = Some(Secret::from(key));
        Ok(true)
    }
}

fn write_new_key(path: &Path, algorithm: tessera_core::Algorithm) -> Result<String, ConfigError> {
    use base64::Engine as _;
    let key = if algorithm.is_hmac() {
        let bytes: [u8; 64] = rand::random();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    } else {
        let pem = tessera_core::generate_private_key(algorithm)
            .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        pem.expose().to_owned()
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| ConfigError(format!("{}: {e}", dir.display())))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
    std::io::Write::write_all(&mut file, key.as_bytes())
        .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
    Ok(key)
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Production refuses to start.
    Error,
    /// Worth fixing; does not stop the server.
    Warning,
}

/// One problem with a configuration, and the setting it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// The setting concerned.
    pub setting: &'static str,
    /// What is wrong.
    pub message: String,
}

impl Finding {
    pub(crate) fn error(setting: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            setting,
            message: message.into(),
        }
    }

    pub(crate) fn warning(setting: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            setting,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: `{}` {}", self.setting, self.message)
    }
}

/// Every setting's name and default value.
fn default_values() -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(Config::default()) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}

/// An environment variable's text as a setting value: text settings stay text (a numeric
/// secret is still a secret), others are parsed as figment parses environment values
/// (booleans, numbers, `[lists]`).
fn env_value(default: &serde_json::Value, text: &str) -> figment::value::Value {
    let textual = matches!(
        default,
        serde_json::Value::String(_) | serde_json::Value::Null
    );
    // An optional setting with no default may be a switch (`auth_cookie_secure`).
    if default.is_null() && matches!(text.trim(), "true" | "false") {
        figment::value::Value::from(text.trim() == "true")
    } else if textual && !text.trim_start().starts_with('[') {
        figment::value::Value::from(text.to_owned())
    } else {
        text.parse()
            .unwrap_or_else(|never: std::convert::Infallible| match never {})
    }
}

/// Names the setting behind an extraction error: the first supplied value that fails on
/// its own (figment loses the path of errors inside flattened settings).
fn describe_error(
    error: figment::Error,
    supplied: &[(String, figment::value::Value, String)],
) -> String {
    for (key, value, source) in supplied {
        let alone = Figment::from(Serialized::defaults(Config::default()))
            .merge(Serialized::default(key, value));
        if let Err(e) = alone.extract::<Config>() {
            return format!("invalid setting `{key}` ({source}): {}", e.kind);
        }
    }
    format!("invalid configuration: {error}")
}

/// A database URL without its password, fit for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://[redacted]@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::load_from(Some(Path::new("/nonexistent/tessera.toml")), &vars(pairs))
            .or_else(|_| Config::load_from(None, &vars(pairs)))
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
        assert_eq!(config.jwt.username_field, "email");
        assert_eq!(config.database_url(), "sqlite://./tessera-data/tessera.db");
    }

    #[test]
    fn every_setting_can_be_set_from_the_environment() {
        let config = Config::load_from(
            None,
            &vars(&[
                ("TESSERA_BIND", "0.0.0.0:9000"),
                ("TESSERA_DEBUG", "false"),
                ("TESSERA_ACCESS_TOKEN_LIFETIME", "10m"),
                ("TESSERA_REFRESH_TOKEN_LIFETIME", "3600"),
                ("TESSERA_AUTH_HEADER_TYPES", "Bearer,JWT"),
                ("TESSERA_SIGNING_KEY", "k"),
                ("TESSERA_ROTATE_REFRESH_TOKENS", "false"),
                ("TESSERA_SUPERUSER_PASSWORD", "not a setting"),
                ("PATH", "/usr/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(config.bind, "0.0.0.0:9000");
        assert!(!config.debug);
        assert_eq!(config.jwt.access_token_lifetime, Duration::from_secs(600));
        assert_eq!(config.jwt.refresh_token_lifetime, Duration::from_secs(3600));
        assert_eq!(config.jwt.auth_header_types, ["Bearer", "JWT"]);
        assert_eq!(
            config.jwt.signing_key.as_ref().map(Secret::expose),
            Some("k")
        );
        assert!(!config.jwt.rotate_refresh_tokens);
        let cookies =
            Config::load_from(None, &vars(&[("TESSERA_AUTH_COOKIE_SECURE", "false")])).unwrap();
        assert_eq!(cookies.browser.auth_cookie_secure, Some(false));
    }

    #[test]
    fn bad_values_name_the_setting() {
        let err = Config::load_from(None, &vars(&[("TESSERA_DEBUG", "maybe")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`debug`") && err.contains("TESSERA_DEBUG"),
            "{err}"
        );
        let err = Config::load_from(None, &vars(&[("TESSERA_ACCESS_TOKEN_LIFETIME", "0")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("access_token_lifetime"), "{err}");
        let err = Config::load_from(None, &vars(&[("TESSERA_REFRESH_TOKEN_LIFETIME", "soon")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "`refresh_token_lifetime` (environment variable TESSERA_REFRESH_TOKEN_LIFETIME)"
            ),
            "{err}"
        );
        let err = Config::load_from(None, &vars(&[("TESSERA_BIND", "localhost")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`bind`"), "{err}");
        let err = Config::load_from(None, &vars(&[("TESSERA_ACCES_TOKEN_LIFETIME", "5m")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("TESSERA_ACCES_TOKEN_LIFETIME"), "{err}");
        let err = Config::load_from(None, &vars(&[("TESSERA_DATABASE_URL", "mysql://x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("database_url"), "{err}");
        assert!(load(&[]).is_ok());
    }

    #[test]
    fn the_file_is_read_and_the_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tessera.toml");
        std::fs::write(
            &path,
            "access_token_lifetime = \"20m\"\nleeway = 2\nbind = \"127.0.0.1:9999\"\n",
        )
        .unwrap();
        let config =
            Config::load_from(Some(&path), &vars(&[("TESSERA_BIND", "127.0.0.1:7777")])).unwrap();
        assert_eq!(config.jwt.access_token_lifetime, Duration::from_secs(1200));
        assert_eq!(config.jwt.leeway, Duration::from_secs(2));
        assert_eq!(config.bind, "127.0.0.1:7777");
        std::fs::write(&path, "leeway = \"a while\"\n").unwrap();
        let err = Config::load_from(Some(&path), &[]).unwrap_err().to_string();
        assert!(
            err.contains("`leeway`") && err.contains("tessera.toml"),
            "{err}"
        );
        std::fs::write(&path, "acess_token_lifetime = 5\n").unwrap();
        let err = Config::load_from(Some(&path), &[]).unwrap_err().to_string();
        assert!(
            err.contains("unknown setting `acess_token_lifetime`"),
            "{err}"
        );
        let err = Config::load_from(Some(&dir.path().join("missing.toml")), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn production_refuses_a_missing_or_weak_key_and_debug() {
        let mut config = Config {
            debug: false,
            ..Config::default()
        };
        assert!(
            config
                .ensure_signing_key()
                .unwrap_err()
                .to_string()
                .contains("TESSERA_SIGNING_KEY")
        );
        config.jwt.signing_key = Some("short".into());
        let err = config.check_production().unwrap_err().to_string();
        assert!(
            err.contains("signing_key") && err.contains("32 bytes"),
            "{err}"
        );
        config.jwt.signing_key = Some("x".repeat(32).into());
        assert!(config.check_production().is_ok());
        assert!(
            Config::default()
                .findings()
                .iter()
                .any(|f| f.setting == "debug")
        );
    }

    #[test]
    fn debug_mode_generates_a_key_once_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        assert!(first.ensure_signing_key().unwrap());
        let mut second = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        second.ensure_signing_key().unwrap();
        let key = first.jwt.signing_key.clone().unwrap();
        assert_eq!(Some(key.clone()), second.jwt.signing_key);
        assert!(key.expose().len() >= 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(first.signing_key_file())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn audit_retention_is_a_duration_of_a_day_or_more_or_zero() {
        assert_eq!(
            Config::default().audit.audit_retention,
            Duration::from_secs(90 * 86_400)
        );
        let month = load(&[("TESSERA_AUDIT_RETENTION", "30d")]).unwrap();
        assert_eq!(
            month.audit.audit_retention,
            Duration::from_secs(30 * 86_400)
        );
        let forever = load(&[("TESSERA_AUDIT_RETENTION", "0")]).unwrap();
        assert!(forever.audit.audit_retention.is_zero());
        for bad in ["1h", "soon"] {
            let err = load(&[("TESSERA_AUDIT_RETENTION", bad)])
                .unwrap_err()
                .to_string();
            assert!(err.contains("audit_retention"), "{bad}: {err}");
        }
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
}
