//! What makes a configuration unfit for production: the findings `tessera check` prints, and
//! the refusal to start with an error among them when debug mode is off.

use std::time::Duration;

use tessera_core::KeyOrigin;

use super::{Config, ConfigError};

impl Config {
    /// Every problem that makes this configuration unfit for production.
    pub fn findings(&self) -> Vec<Finding> {
        let mut findings = Vec::new();
        let alg = self.jwt.algorithm;
        let key_elsewhere =
            self.jwt.signing_key_file.is_some() || self.jwt.key_source == KeyOrigin::Store;
        match &self.jwt.signing_key {
            // Asymmetric keys: see `key_findings`.
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
        findings.extend(key_findings(self));
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

/// What makes the key settings unfit for production: how keys are kept, fetched and
/// configured for an asymmetric algorithm.
fn key_findings(config: &Config) -> Vec<Finding> {
    let jwt = &config.jwt;
    let mut findings = Vec::new();
    if jwt.key_source == KeyOrigin::Store && jwt.key_encryption_key.is_none() {
        findings.push(Finding::error(
            "key_encryption_key",
            "private keys kept in the store are not encrypted; set TESSERA_KEY_ENCRYPTION_KEY to a \
             random secret of 32 bytes or more, e.g. `openssl rand -base64 32`",
        ));
    }
    if jwt.key_source == KeyOrigin::Settings && jwt.key_encryption_key.is_some() {
        findings.push(Finding::warning(
            "key_encryption_key",
            "is unused: only keys kept in the store (key_source = \"store\") are encrypted with it",
        ));
    }
    if let Some(url) = &jwt.jwk_url
        && let Some(rest) = url.strip_prefix("http://")
    {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        let loopback =
            host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
        let message =
            "is fetched over plain HTTP: anyone on the path can substitute keys; use https://";
        findings.push(if loopback {
            Finding::warning("jwk_url", message)
        } else {
            Finding::error("jwk_url", message)
        });
    }
    if !jwt.algorithm.is_hmac()
        && jwt.key_source == KeyOrigin::Settings
        && jwt.signing_key.is_none()
        && jwt.signing_key_file.is_none()
    {
        findings.push(Finding::error(
            "signing_key",
            format!(
                "no {} private key is configured; set TESSERA_SIGNING_KEY_FILE to a PEM file, or \
                 TESSERA_KEY_SOURCE=store",
                jwt.algorithm
            ),
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use tessera_core::Algorithm;

    use super::*;

    fn severity_of(config: &Config, setting: &str) -> Option<Severity> {
        key_findings(config)
            .into_iter()
            .find(|f| f.setting == setting)
            .map(|f| f.severity)
    }

    #[test]
    fn store_kept_keys_need_a_key_encryption_key() {
        let mut config = Config::default();
        config.jwt.key_source = KeyOrigin::Store;
        assert_eq!(
            severity_of(&config, "key_encryption_key"),
            Some(Severity::Error)
        );
        config.jwt.key_encryption_key = Some("k".repeat(32).into());
        assert_eq!(severity_of(&config, "key_encryption_key"), None);
        config.jwt.key_source = KeyOrigin::Settings;
        assert_eq!(
            severity_of(&config, "key_encryption_key"),
            Some(Severity::Warning)
        );
    }

    #[test]
    fn a_plain_http_jwk_url_is_unsafe_beyond_this_machine() {
        let mut config = Config::default();
        config.jwt.jwk_url = Some("http://issuer.example/jwks.json".into());
        assert_eq!(severity_of(&config, "jwk_url"), Some(Severity::Error));
        config.jwt.jwk_url = Some("http://127.0.0.1:9000/jwks.json".into());
        assert_eq!(severity_of(&config, "jwk_url"), Some(Severity::Warning));
        config.jwt.jwk_url = Some("https://issuer.example/jwks.json".into());
        assert_eq!(severity_of(&config, "jwk_url"), None);
    }

    #[test]
    fn an_asymmetric_algorithm_needs_a_private_key() {
        let mut config = Config::default();
        config.jwt.algorithm = Algorithm::RS256;
        assert_eq!(severity_of(&config, "signing_key"), Some(Severity::Error));
        config.jwt.signing_key_file = Some("key.pem".into());
        assert_eq!(severity_of(&config, "signing_key"), None);
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
}
