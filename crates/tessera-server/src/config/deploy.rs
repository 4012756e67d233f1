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
        findings.extend(api_key_findings(self));
        findings.extend(mail_findings(self));
        findings.extend(passkey_findings(self));
        findings.extend(social_findings(self));
        if self.debug {
            findings.push(
                Finding::error("debug", W018)
                    .django("security.W018")
                    .hint("debug mode is on; set TESSERA_DEBUG=false in production"),
            );
        }
        findings.extend(deployment_findings(self));
        if self.jwt.rotate_refresh_tokens && !self.jwt.blacklist_after_rotation {
            findings.push(Finding::warning(
                "blacklist_after_rotation",
                "rotation without blacklisting leaves every rotated refresh token usable",
            ));
        }
        if self.jwt.simplejwt_cutover {
            findings.push(Finding::warning(
                "simplejwt_cutover",
                "is on: imported simplejwt refresh tokens are still adopted into sessions; turn \
                 it off once the refresh token lifetime has passed since the cut-over",
            ));
        }
        if self.jwt.access_token_lifetime > Duration::from_secs(3600) {
            findings.push(Finding::warning(
                "access_token_lifetime",
                "access tokens living over an hour cannot be revoked quickly by stateless services",
            ));
        }
        // The configured settings, not `browser_settings()`: debug mode's insecure cookies
        // are the mode's, not a setting to report.
        if !self.browser.secure() {
            findings.push(
                Finding::error(self.browser.secure_setting(), W012)
                    .django("security.W012")
                    .hint(
                        "token cookies without Secure travel over plain HTTP; leave it unset \
                         (Secure unless debug)",
                    ),
            );
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

/// Django's `security.W004`.
const W004: &str = "You have not set a value for the SECURE_HSTS_SECONDS setting. If your entire \
    site is served only over SSL, you may want to consider setting a value and enabling HTTP \
    Strict Transport Security. Be sure to read the documentation first; enabling HSTS \
    carelessly can cause serious, irreversible problems.";
/// Django's `security.W005`.
const W005: &str = "You have not set the SECURE_HSTS_INCLUDE_SUBDOMAINS setting to True. Without \
    this, your site is potentially vulnerable to attack via an insecure connection to a \
    subdomain. Only set this to True if you are certain that all subdomains of your domain \
    should be served exclusively via SSL.";
/// Django's `security.W008`.
const W008: &str = "Your SECURE_SSL_REDIRECT setting is not set to True. Unless your site should \
    be available over both SSL and non-SSL connections, you may want to either set this \
    setting True or configure a load balancer or reverse-proxy server to redirect all \
    connections to HTTPS.";
/// Django's `security.W012`.
const W012: &str = "SESSION_COOKIE_SECURE is not set to True. Using a secure-only session cookie \
    makes it more difficult for network traffic sniffers to hijack user sessions.";
/// Django's `security.W016`.
const W016: &str = "You have 'django.middleware.csrf.CsrfViewMiddleware' in your MIDDLEWARE, but \
    you have not set CSRF_COOKIE_SECURE to True. Using a secure-only CSRF cookie makes it more \
    difficult for network traffic sniffers to steal the CSRF token.";
/// Django's `security.W018`.
const W018: &str = "You should not have DEBUG set to True in deployment.";
/// Django's `security.W020`.
const W020: &str = "ALLOWED_HOSTS must not be empty in deployment.";
/// Django's `security.W021`.
const W021: &str = "You have not set the SECURE_HSTS_PRELOAD setting to True. Without this, your \
    site cannot be submitted to the browser preload list.";

/// The findings of Django's `check --deploy` that Tessera's settings share: hosts, the HTTPS
/// redirect, HSTS and the CSRF cookie (the debug and session-cookie ones are with the other
/// findings).
fn deployment_findings(config: &Config) -> Vec<Finding> {
    let browser = &config.browser;
    let mut findings = Vec::new();
    if browser.allowed_hosts.is_empty() {
        findings.push(
            Finding::error("allowed_hosts", W020)
                .django("security.W020")
                .hint(
                    "set TESSERA_ALLOWED_HOSTS to the host names clients use, e.g. \
                     api.example.com (and a load balancer's IP address if its requests name it)",
                ),
        );
    }
    if browser.secure_hsts_seconds == 0 {
        findings.push(Finding::warning("secure_hsts_seconds", W004).django("security.W004"));
    } else {
        if !browser.secure_hsts_include_subdomains {
            findings.push(
                Finding::warning("secure_hsts_include_subdomains", W005).django("security.W005"),
            );
        }
        if !browser.secure_hsts_preload {
            findings.push(Finding::warning("secure_hsts_preload", W021).django("security.W021"));
        }
    }
    if !browser.secure_ssl_redirect {
        findings.push(Finding::warning("secure_ssl_redirect", W008).django("security.W008"));
    }
    if (browser.secure_ssl_redirect || browser.secure_hsts_seconds > 0)
        && browser.secure_proxy_ssl_header.is_none()
    {
        findings.push(Finding::warning(
            "secure_proxy_ssl_header",
            "is unset: tessera serves plain HTTP, so without it no request counts as HTTPS \
             (secure_ssl_redirect redirects every request, Strict-Transport-Security is never \
             sent); behind a TLS proxy set it to the proxy's header, e.g. \
             [\"X-Forwarded-Proto\", \"https\"]",
        ));
    }
    if !browser.csrf_secure() {
        findings.push(Finding::warning("csrf_cookie_secure", W016).django("security.W016"));
    }
    findings
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
    /// Django's check id when Django's `check --deploy` reports the same problem
    /// (`security.W018` …); the message is then Django's text.
    pub id: Option<&'static str>,
    /// The setting concerned.
    pub setting: &'static str,
    /// What is wrong.
    pub message: String,
    /// What to do about it, when the message does not say.
    pub hint: Option<String>,
}

impl Finding {
    pub(crate) fn error(setting: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            id: None,
            setting,
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn warning(setting: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            id: None,
            setting,
            message: message.into(),
            hint: None,
        }
    }

    /// The same finding, as Django's check `id` reports it.
    pub(crate) fn django(self, id: &'static str) -> Self {
        Self {
            id: Some(id),
            ..self
        }
    }

    /// The same finding, with a hint.
    pub(crate) fn hint(self, hint: impl Into<String>) -> Self {
        Self {
            hint: Some(hint.into()),
            ..self
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: ")?;
        if let Some(id) = self.id {
            write!(f, "({id}) ")?;
        }
        write!(f, "`{}` {}", self.setting, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " HINT: {hint}")?;
        }
        Ok(())
    }
}

/// API keys hashed under a secret that is not their own: without `api_key_secret` and
/// `key_encryption_key` the HMAC key (of API keys and of the codes in account mails) is
/// derived from the signing key, so replacing the signing key — or setting either of those
/// later — invalidates every API key and every pending mail code. (With `key_source = "store"` and no
/// key-encryption key there is no secret at all, and API keys cannot be used; that
/// configuration is an error already.)
fn api_key_findings(config: &Config) -> Vec<Finding> {
    if config.api_keys.api_key_secret.is_some() || config.jwt.key_encryption_key.is_some() {
        return Vec::new();
    }
    vec![Finding::warning(
        "api_key_secret",
        "is not set, nor is `key_encryption_key`: API keys and the codes in account mails are \
         hashed under a key derived from the signing key. Setting `api_key_secret` or \
         `key_encryption_key` later, or replacing the signing key, invalidates every API key \
         and every pending mail code. Set TESSERA_API_KEY_SECRET now, before any key is \
         issued, to a random secret of 32 bytes or more, e.g. `openssl rand -base64 32` \
         (changing it later invalidates them all too)",
    )]
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
    if jwt.key_encryption_key.is_none() {
        findings.push(Finding::warning(
            "key_encryption_key",
            "is not set: users cannot set two-factor authentication (TOTP) up, since its secrets \
             are encrypted with it and a production server refuses to store them unencrypted \
             (or to start while it holds any); set TESSERA_KEY_ENCRYPTION_KEY to a random \
             secret of 32 bytes or more, e.g. `openssl rand -base64 32`",
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

/// How to fix a mail finding: send mail properly, or switch the e-mail flows off.
const MAIL_HINT: &str = "set email_backend = \"smtp\" with an smtp_url that uses TLS \
    (smtps:// or ?tls=starttls) and an https public_url, or set email_backend = \"off\" to \
    switch password reset, verification and the other e-mail flows off";

/// What makes the social login settings unfit for production: an OpenID issuer, a GitHub
/// endpoint or `social_frontend_url` that is not `https` (the authorization code, the
/// tokens and the one-time code would travel readable), or — with a provider configured —
/// a `public_url` unset or not `https` (the `redirect_uri` sent to providers is built from
/// it). Errors, except loopback `http` URLs in debug mode (a provider on the developer's
/// machine), which are warnings.
fn social_findings(config: &Config) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut check = |setting: &'static str, url: &str| {
        if url.trim().to_ascii_lowercase().starts_with("https://") {
            return;
        }
        let message = format!(
            "{url} is not https: authorization codes, tokens and one-time codes would travel \
             readable; use https://"
        );
        findings.push(if config.debug && is_loopback_http(url) {
            Finding::warning(setting, message)
        } else {
            Finding::error(setting, message)
        });
    };
    for provider in &config.social.oidc_providers {
        for (_, url) in provider.urls() {
            check("oidc_providers", &url);
        }
    }
    if let Some(url) = &config.social.social_frontend_url {
        check("social_frontend_url", url);
    }
    if !config.social.oidc_providers.is_empty() {
        match &config.public_url {
            Some(url) => check("public_url", url),
            None => findings.push(Finding::error(
                "public_url",
                "is not set: social login sends providers a redirect_uri built from it \
                 (http://localhost:8000 … otherwise); set it to the server's https:// URL"
                    .to_owned(),
            )),
        }
    }
    findings
}

/// What makes the passkey settings unfit for production: an origin that is not `https`
/// (only `localhost` may be `http`, and production serves no `localhost`), a relying party
/// that is `localhost`, or settings that do not resolve at all. Errors with
/// `passkey_login` on (users would sign in with them), warnings otherwise — and a warning
/// when the relying party derived from `public_url` cannot be served (passkeys are then
/// unavailable: their routes answer that they are not configured). Passkeys are
/// bound to the relying party id for good: changing it later orphans every registered
/// passkey.
fn passkey_findings(config: &Config) -> Vec<Finding> {
    let mut findings = Vec::new();
    let finding = |setting: &'static str, message: String| {
        if config.passkeys.passkey_login {
            Finding::error(setting, message)
        } else {
            Finding::warning(setting, message)
        }
    };
    match config.passkeys.relying_party(&config.public_url()) {
        Err(error) if config.passkeys.is_configured() => findings.push(finding(
            "webauthn_origins",
            format!("passkeys cannot be served: {error}"),
        )),
        // Derived from `public_url` and unusable: passkeys are off, their routes say so.
        Err(error) => findings.push(Finding::warning(
            "webauthn_rp_id",
            format!(
                "passkeys are unavailable: {error}; set TESSERA_PUBLIC_URL (or \
                 webauthn_rp_id) to the domain users reach this server at"
            ),
        )),
        Ok(party) => {
            if party.id == "localhost" || party.id.ends_with(".localhost") {
                findings.push(finding(
                    "webauthn_rp_id",
                    format!(
                        "is {}: passkeys would be bound to a development host; set \
                         TESSERA_PUBLIC_URL (or webauthn_rp_id) to the domain users reach \
                         this server at",
                        party.id
                    ),
                ));
            }
            for origin in &party.origins {
                if origin.scheme() != "https" {
                    findings.push(finding(
                        "webauthn_origins",
                        format!("{origin} is not https: browsers refuse passkeys there"),
                    ));
                }
            }
        }
    }
    findings
}

/// What makes the mail settings unfit for production, each an error (so a production
/// server refuses to start): a `public_url` that is unset or not `https` (links in mails
/// point elsewhere or carry their tokens readable), a development backend (console, file:
/// mail is never sent), SMTP in plain text beyond this machine. None with
/// `email_backend = "off"`: no mail, no links.
fn mail_findings(config: &Config) -> Vec<Finding> {
    let mut findings = Vec::new();
    if config.mail.email_backend == tessera_auth::mail::EmailBackend::Off {
        return findings;
    }
    match &config.public_url {
        None => findings.push(
            Finding::error(
                "public_url",
                format!(
                    "is unset: links in mails point at {}; set TESSERA_PUBLIC_URL to the https \
                 address users reach this server at, e.g. https://auth.example.com",
                    config.public_url()
                ),
            )
            .hint(MAIL_HINT),
        ),
        Some(url) if !url.trim().to_ascii_lowercase().starts_with("https://") => {
            findings.push(
                Finding::error(
                    "public_url",
                    format!(
                        "{url} is not https: links in mails (password reset, verification) would \
                     carry their tokens in plain text"
                    ),
                )
                .hint(MAIL_HINT),
            );
        }
        Some(_) => {}
    }
    let smtp = config.mail.email_backend == tessera_auth::mail::EmailBackend::Smtp;
    let setting = if smtp { "smtp_url" } else { "email_backend" };
    for problem in config.mail.deploy_problems() {
        // "email_backend is …" reads "`email_backend` is …" after the setting's name.
        let message = match problem.strip_prefix(&format!("{setting} ")) {
            Some(rest) => rest.to_owned(),
            None => problem,
        };
        findings.push(Finding::error(setting, message).hint(MAIL_HINT));
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

    fn mail_severities(config: &Config) -> Vec<(&'static str, Severity)> {
        mail_findings(config)
            .into_iter()
            .map(|f| (f.setting, f.severity))
            .collect()
    }

    #[test]
    fn links_in_mails_need_an_https_public_url_and_mail_a_real_backend() {
        let mut config = Config::default();
        let findings = mail_severities(&config);
        assert!(
            findings.contains(&("public_url", Severity::Error)),
            "{findings:?}"
        );
        assert!(
            findings.contains(&("email_backend", Severity::Error)),
            "the console backend: {findings:?}"
        );
        assert!(
            config
                .findings()
                .iter()
                .any(|f| f.setting == "email_backend" && f.severity == Severity::Error),
            "a production server refuses mail that is never sent"
        );
        config.public_url = Some("http://auth.example.com".into());
        assert!(mail_severities(&config).contains(&("public_url", Severity::Error)));
        config.public_url = Some("https://auth.example.com".into());
        assert!(
            !mail_severities(&config)
                .iter()
                .any(|(setting, _)| *setting == "public_url")
        );
        config.mail.email_backend = tessera_auth::mail::EmailBackend::Smtp;
        config.mail.smtp_url = Some(tessera_core::Secret::from(
            "smtp://user:pass@mail.example.com:25?tls=none".to_owned(),
        ));
        assert!(
            mail_severities(&config).contains(&("smtp_url", Severity::Error)),
            "plain-text SMTP beyond this machine"
        );
        config.mail.smtp_url = Some(tessera_core::Secret::from(
            "smtps://user:pass@mail.example.com:465".to_owned(),
        ));
        assert_eq!(mail_severities(&config), []);
    }

    #[test]
    fn production_refuses_unsafe_mail_unless_mail_is_off() {
        let mut config = Config {
            debug: false,
            ..Config::default()
        };
        config.jwt.signing_key = Some(tessera_core::Secret::from(
            "k7Qp2vX9mR4tL8wZ3nB6yH1cF5jD0sGa".repeat(2),
        ));
        config.browser.allowed_hosts = vec!["auth.example.com".into()];
        let refusal = config.check_production().unwrap_err().to_string();
        assert!(refusal.contains("`email_backend`"), "{refusal}");
        assert!(refusal.contains("`public_url`"), "{refusal}");
        assert!(refusal.contains("email_backend = \"off\""), "{refusal}");

        config.mail.email_backend = tessera_auth::mail::EmailBackend::Off;
        config.check_production().unwrap();

        config.mail.email_backend = tessera_auth::mail::EmailBackend::Smtp;
        config.mail.smtp_url = Some(tessera_core::Secret::from(
            "smtp://mail.example.com?tls=starttls".to_owned(),
        ));
        assert!(config.check_production().is_err(), "an http public_url");
        config.public_url = Some("https://auth.example.com".into());
        config.check_production().unwrap();
    }

    #[test]
    fn passkeys_want_an_https_relying_party_and_refuse_localhost_with_passkey_login() {
        let mut config = Config::default();
        let found = |config: &Config| {
            passkey_findings(config)
                .into_iter()
                .map(|f| (f.setting, f.severity))
                .collect::<Vec<_>>()
        };
        // Development defaults: localhost over http, warned about only.
        assert_eq!(
            found(&config),
            [
                ("webauthn_rp_id", Severity::Warning),
                ("webauthn_origins", Severity::Warning)
            ]
        );
        config.passkeys.passkey_login = true;
        assert!(found(&config).iter().all(|(_, s)| *s == Severity::Error));
        config.public_url = Some("https://auth.example.com".into());
        assert_eq!(found(&config), []);
        config.passkeys.webauthn_origins = vec!["https://evil.example.net".into()];
        assert_eq!(found(&config), [("webauthn_origins", Severity::Error)]);
    }

    #[test]
    fn a_public_url_passkeys_cannot_use_says_they_are_unavailable() {
        let mut config = Config {
            public_url: Some("http://testserver".into()),
            ..Config::default()
        };
        let findings = passkey_findings(&config);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].setting, "webauthn_rp_id");
        assert_eq!(findings[0].severity, Severity::Warning);
        assert!(
            findings[0].message.contains("passkeys are unavailable"),
            "{findings:?}"
        );
        // Once configured, the same host is refused outright.
        config.passkeys.webauthn_rp_id = Some("testserver".into());
        assert!(config.validate().is_err());
        config.passkeys.webauthn_rp_id = None;
        config.validate().unwrap();
    }

    #[test]
    fn api_keys_want_a_secret_of_their_own() {
        let mut config = Config::default();
        let severity = |config: &Config| {
            api_key_findings(config)
                .into_iter()
                .find(|f| f.setting == "api_key_secret")
                .map(|f| f.severity)
        };
        assert_eq!(severity(&config), Some(Severity::Warning));
        let warning = api_key_findings(&config).remove(0).to_string();
        for plainly in [
            "Setting `api_key_secret` or `key_encryption_key` later",
            "replacing the signing key",
            "invalidates every API key and every pending mail code",
        ] {
            assert!(warning.contains(plainly), "{warning}");
        }
        config.jwt.key_encryption_key = Some("k".repeat(32).into());
        assert_eq!(severity(&config), None);
        config.jwt.key_encryption_key = None;
        config.api_keys.api_key_secret = Some("s".repeat(32).into());
        assert_eq!(severity(&config), None);
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
        // With keys from the settings it still seals the TOTP secrets: not "unused".
        config.jwt.key_source = KeyOrigin::Settings;
        assert_eq!(severity_of(&config, "key_encryption_key"), None);
        // Without it, TOTP cannot be set up in production: said so.
        config.jwt.key_encryption_key = None;
        assert_eq!(
            severity_of(&config, "key_encryption_key"),
            Some(Severity::Warning)
        );
        let said = key_findings(&config)
            .into_iter()
            .find(|f| f.setting == "key_encryption_key")
            .expect("finding");
        assert!(said.message.contains("two-factor"), "{}", said.message);
    }

    #[test]
    fn the_simplejwt_cutover_is_a_warning_while_it_is_on() {
        let mut config = Config::default();
        let cutover = |config: &Config| {
            config
                .findings()
                .into_iter()
                .find(|f| f.setting == "simplejwt_cutover")
                .map(|f| f.severity)
        };
        assert_eq!(cutover(&config), None);
        config.jwt.simplejwt_cutover = true;
        assert_eq!(cutover(&config), Some(Severity::Warning));
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
        config.browser.allowed_hosts = vec!["api.example.com".into()];
        config.mail.email_backend = tessera_auth::mail::EmailBackend::Off;
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
        let err = config.check_production().unwrap_err().to_string();
        assert!(
            err.contains("(security.W020) `allowed_hosts` ALLOWED_HOSTS must not be empty"),
            "{err}"
        );
        config.browser.allowed_hosts = vec!["api.example.com".into()];
        config.mail.email_backend = tessera_auth::mail::EmailBackend::Off;
        assert!(config.check_production().is_ok());
        assert!(
            Config::default()
                .findings()
                .iter()
                .any(|f| f.setting == "debug" && f.id == Some("security.W018"))
        );
    }

    /// The ids of the findings about `config`.
    fn django_ids(config: &Config) -> Vec<&'static str> {
        config.findings().iter().filter_map(|f| f.id).collect()
    }

    #[test]
    fn djangos_deployment_checks_are_reported_with_their_ids_and_texts() {
        let config = Config::default();
        let ids = django_ids(&config);
        for id in [
            "security.W004",
            "security.W008",
            "security.W018",
            "security.W020",
        ] {
            assert!(ids.contains(&id), "{id} missing from {ids:?}");
        }
        // W005 and W021 only once HSTS is on; no cookie warnings with the secure defaults.
        for id in [
            "security.W005",
            "security.W021",
            "security.W012",
            "security.W016",
        ] {
            assert!(!ids.contains(&id), "{id} in {ids:?}");
        }
        let text: Vec<String> = config.findings().iter().map(ToString::to_string).collect();
        assert!(
            text.contains(
                &"warning: (security.W004) `secure_hsts_seconds` You have not set a value for the \
              SECURE_HSTS_SECONDS setting. If your entire site is served only over SSL, you may \
              want to consider setting a value and enabling HTTP Strict Transport Security. Be \
              sure to read the documentation first; enabling HSTS carelessly can cause serious, \
              irreversible problems."
                    .to_owned()
            )
        );

        let mut hardened = Config {
            debug: false,
            ..Config::default()
        };
        hardened.browser.allowed_hosts = vec!["api.example.com".into()];
        hardened.browser.secure_hsts_seconds = 3600;
        let ids = django_ids(&hardened);
        assert!(ids.contains(&"security.W005") && ids.contains(&"security.W021"));
        assert!(!ids.contains(&"security.W004"));
        hardened.browser.secure_hsts_include_subdomains = true;
        hardened.browser.secure_hsts_preload = true;
        hardened.browser.secure_ssl_redirect = true;
        // Without the proxy's header nothing counts as HTTPS: Tessera says so.
        assert!(
            hardened
                .findings()
                .iter()
                .any(|f| f.setting == "secure_proxy_ssl_header")
        );
        hardened.browser.secure_proxy_ssl_header =
            Some(("x-forwarded-proto".into(), "https".into()));
        assert!(
            django_ids(&hardened).is_empty(),
            "{:?}",
            django_ids(&hardened)
        );
    }

    #[test]
    fn w012_and_w016_follow_the_browser_settings_own_secure_rules() {
        let choices = [None, Some(true), Some(false)];
        for session in choices {
            for auth in choices {
                for csrf in choices {
                    let mut config = Config::default();
                    config.browser.session_cookie_secure = session;
                    config.browser.auth_cookie_secure = auth;
                    config.browser.csrf_cookie_secure = csrf;
                    let findings = config.findings();
                    let w012 = findings.iter().find(|f| f.id == Some("security.W012"));
                    let w016 = findings.iter().any(|f| f.id == Some("security.W016"));
                    let case = format!("{session:?} {auth:?} {csrf:?}");
                    assert_eq!(w012.is_some(), !config.browser.secure(), "{case}");
                    if let Some(w012) = w012 {
                        assert_eq!(w012.setting, config.browser.secure_setting(), "{case}");
                    }
                    assert_eq!(w016, !config.browser.csrf_secure(), "{case}");
                }
            }
        }
    }

    #[test]
    fn insecure_cookies_are_djangos_w012_and_w016_and_the_django_name_wins() {
        let mut config = Config::default();
        config.browser.csrf_cookie_secure = Some(false);
        assert!(django_ids(&config).contains(&"security.W016"));
        config.browser.csrf_cookie_secure = None;
        config.browser.auth_cookie_secure = Some(false);
        let w012 = |config: &Config| {
            config
                .findings()
                .into_iter()
                .find(|f| f.id == Some("security.W012"))
        };
        let finding = w012(&config).expect("W012");
        assert_eq!(
            (finding.severity, finding.setting),
            (Severity::Error, "auth_cookie_secure")
        );
        // The CSRF cookie follows the token cookies unless set.
        assert!(django_ids(&config).contains(&"security.W016"));
        config.browser.session_cookie_secure = Some(true);
        assert!(w012(&config).is_none(), "session_cookie_secure wins");
        config.browser.session_cookie_secure = Some(false);
        config.browser.auth_cookie_secure = Some(true);
        assert_eq!(w012(&config).unwrap().setting, "session_cookie_secure");
    }

    #[test]
    fn social_login_needs_https_issuers_and_frontend_except_loopback_in_debug() {
        use tessera_auth::social::{ProviderConfig, ProviderKind};
        let provider = |issuer: &str| ProviderConfig {
            name: "idp".into(),
            kind: ProviderKind::Oidc,
            issuer: Some(issuer.into()),
            client_id: "client".into(),
            client_secret: "secret".into(),
            scopes: None,
            display_name: None,
            authorize_url: None,
            token_url: None,
            api_url: None,
        };
        let severity = |config: &Config, setting: &str| {
            config
                .findings()
                .into_iter()
                .find(|f| f.setting == setting)
                .map(|f| f.severity)
        };
        let mut config = Config::default();
        config.social.oidc_providers = vec![provider("http://idp.example.com")];
        config.social.social_frontend_url = Some("http://spa.example.com/".into());
        assert_eq!(severity(&config, "oidc_providers"), Some(Severity::Error));
        assert_eq!(
            severity(&config, "social_frontend_url"),
            Some(Severity::Error)
        );
        // A provider on the developer's machine, in debug mode: a warning.
        config.social.oidc_providers = vec![provider("http://127.0.0.1:9000")];
        config.social.social_frontend_url = Some("http://localhost:3000/".into());
        assert_eq!(severity(&config, "oidc_providers"), Some(Severity::Warning));
        assert_eq!(
            severity(&config, "social_frontend_url"),
            Some(Severity::Warning)
        );
        config.debug = false;
        assert_eq!(severity(&config, "oidc_providers"), Some(Severity::Error));
        config.social.oidc_providers = vec![provider("https://idp.example.com")];
        config.social.social_frontend_url = Some("https://spa.example.com/".into());
        assert_eq!(severity(&config, "oidc_providers"), None);
        assert_eq!(severity(&config, "social_frontend_url"), None);
        // GitHub's default endpoints are https.
        let mut github = provider("https://unused");
        github.kind = ProviderKind::Github;
        github.issuer = None;
        config.social.oidc_providers = vec![github];
        assert_eq!(severity(&config, "oidc_providers"), None);
    }

    #[test]
    fn social_login_needs_an_https_public_url_even_with_mail_off() {
        use tessera_auth::social::{ProviderConfig, ProviderKind};
        let social = |config: &Config| {
            social_findings(config)
                .into_iter()
                .find(|f| f.setting == "public_url")
                .map(|f| f.severity)
        };
        let mut config = Config {
            debug: false,
            ..Config::default()
        };
        config.mail.email_backend = tessera_auth::mail::EmailBackend::Off;
        assert_eq!(social(&config), None, "no provider, no finding");
        config.social.oidc_providers = vec![ProviderConfig {
            name: "idp".into(),
            kind: ProviderKind::Oidc,
            issuer: Some("https://idp.example.com".into()),
            client_id: "client".into(),
            client_secret: "secret".into(),
            scopes: None,
            display_name: None,
            authorize_url: None,
            token_url: None,
            api_url: None,
        }];
        assert_eq!(social(&config), Some(Severity::Error), "unset");
        assert!(
            config
                .findings()
                .iter()
                .any(|f| f.setting == "public_url" && f.severity == Severity::Error)
        );
        config.public_url = Some("http://auth.example.com".into());
        assert_eq!(social(&config), Some(Severity::Error), "http");
        config.public_url = Some("https://auth.example.com".into());
        assert_eq!(social(&config), None);
    }
}
