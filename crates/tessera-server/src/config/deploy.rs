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
            Some(key) if unique_chars(key.expose()) < MIN_UNIQUE_KEY_CHARS => {
                findings.push(Finding::error(
                    "signing_key",
                    format!(
                        "has fewer than {MIN_UNIQUE_KEY_CHARS} different characters: it is not random; \
                         use e.g. `openssl rand -base64 64`"
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
        if self.metrics_token.is_none() {
            findings.push(Finding::warning(
                "metrics_token",
                "is unset: outside debug mode `/metrics` answers 403; set it to a random secret \
                 for Prometheus to scrape with `Authorization: Bearer <token>`",
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
        && !url
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("https://")
    {
        let message =
            "is fetched over plain HTTP: anyone on the path can substitute keys; use https://";
        findings.push(if is_loopback_http(url) {
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

/// Django's rule for a secret key: fewer different characters than this is no secret.
const MIN_UNIQUE_KEY_CHARS: usize = 5;

/// How many different characters `text` has.
fn unique_chars(text: &str) -> usize {
    text.chars()
        .collect::<std::collections::HashSet<char>>()
        .len()
}

/// Whether `url` is a plain-HTTP URL to this machine: host `localhost` exactly, or a
/// loopback IP literal — parsed as the JWKS client parses it, so that
/// `http://localhost.attacker.example/` or `http://127.0.0.1.nip.io/` are not.
fn is_loopback_http(url: &str) -> bool {
    let Ok(url) = url::Url::parse(url) else {
        return false;
    };
    if url.scheme() != "http" {
        return false;
    }
    match url.host() {
        Some(url::Host::Domain(host)) => host == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
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
    fn only_localhost_or_a_loopback_ip_may_serve_the_jwks_over_plain_http() {
        let mut config = Config::default();
        for url in [
            "http://localhost/jwks.json",
            "http://LOCALHOST:9000/jwks.json",
            "http://127.0.0.1:9000/jwks.json",
            "http://127.1.2.3/jwks.json",
            "http://[::1]:9000/jwks.json",
            "http://user@localhost/jwks.json",
        ] {
            config.jwt.jwk_url = Some(url.into());
            assert_eq!(
                severity_of(&config, "jwk_url"),
                Some(Severity::Warning),
                "{url}"
            );
        }
        for url in [
            "http://localhost.attacker.example/jwks.json",
            "http://127.attacker.example/jwks.json",
            "http://127.0.0.1.nip.io/jwks.json",
            "http://localhost@attacker.example/jwks.json",
            "http://attacker.example\\@localhost/jwks.json",
            "http://[::1].attacker.example/jwks.json",
            "http://10.0.0.1/jwks.json",
            "ftp://localhost/jwks.json",
            "not a url",
        ] {
            config.jwt.jwk_url = Some(url.into());
            assert_eq!(
                severity_of(&config, "jwk_url"),
                Some(Severity::Error),
                "{url}"
            );
        }
    }

    #[test]
    fn an_hmac_key_with_fewer_than_five_different_characters_is_refused() {
        let mut config = Config {
            debug: false,
            metrics_token: Some("a-metrics-token".into()),
            ..Config::default()
        };
        for weak in ["a".repeat(40), "abcd".repeat(16)] {
            config.jwt.signing_key = Some(weak.clone().into());
            let err = config.check_production().unwrap_err().to_string();
            assert!(
                err.contains("signing_key") && err.contains("different characters"),
                "{weak}: {err}"
            );
        }
        config.jwt.signing_key = Some("abcde".repeat(8).into());
        assert!(config.check_production().is_ok());
    }

    #[test]
    fn production_without_a_metrics_token_is_warned_that_metrics_are_refused() {
        let mut config = Config::default();
        let warned = |config: &Config| {
            config
                .findings()
                .into_iter()
                .find(|f| f.setting == "metrics_token")
                .map(|f| f.severity)
        };
        assert_eq!(warned(&config), Some(Severity::Warning));
        config.metrics_token = Some("a-metrics-token".into());
        assert_eq!(warned(&config), None);
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
        config.jwt.signing_key = Some("0123456789".repeat(4).into());
        assert!(config.check_production().is_ok());
        assert!(
            Config::default()
                .findings()
                .iter()
                .any(|f| f.setting == "debug")
        );
    }
}
