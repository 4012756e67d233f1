//! Social login: OpenID Connect providers (`[[oidc_providers]]`) and GitHub's OAuth2 (the
//! `kind = "github"` preset), by the authorization code flow with PKCE (S256), `state` and
//! `nonce`.
//!
//! | use case | where |
//! |---|---|
//! | the settings (`oidc_providers`, `social_frontend_url`, `social_signup`) | [`SocialSettings`], [`ProviderConfig`] |
//! | discovery, the ID token, GitHub's user API | `discovery` (cached, bounded, timed out) |
//! | starting and finishing a login, the one-time code | [`Auth::start_social`], [`Auth::finish_social`], [`Auth::exchange_social_code`] |
//! | accounts: sign-up, the pending link, identities | [`Auth::link_social`], [`Auth::social_identities`], [`Auth::unlink_social`] |
//!
//! # The flow
//! [`Auth::start_social`] stores the request (the SHA-256 of a random `state`, the nonce,
//! the mode, ten minutes, single use) and answers the provider's authorization URL and a
//! random browser-binding value, which the HTTP layer sets as a short-lived HttpOnly
//! cookie. The PKCE verifier is derived from the binding value and the state, so nothing
//! secret is stored and a callback replayed in another browser cannot even be redeemed.
//! [`Auth::finish_social`] consumes the state (one `DELETE … RETURNING`), checks the
//! binding, redeems the code at the token endpoint, verifies the ID token (signature with
//! the provider's JWKS — the same fetching and caching as `jwk_url` —, `iss`, `aud`, `exp`,
//! `iat`, `nonce`), then settles the account:
//!
//! * an identity already linked signs its user in (an inactive one is refused);
//! * an address the provider vouches for (`email_verified`) that belongs to an account is
//!   never merged silently: the answer is a pending link, which the account's owner —
//!   signed in the usual way, password and second factor — confirms with
//!   [`Auth::link_social`];
//! * an unverified address never links and never makes an account;
//! * otherwise a new account (the `register` throttle, an unusable password, `social_signup`).

mod accounts;
mod discovery;
mod flow;

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tessera_core::{Secret, SettingsError};

pub use accounts::{LAST_WAY_IN, LINKED_ELSEWHERE, MAX_IDENTITIES};
pub use flow::{
    CallbackParams, INVALID_CODE, INVALID_LINK, INVALID_STATE, LINK_REQUIRED, SocialExchange,
    SocialFailure, SocialFinish, SocialMode, SocialResult, SocialSignIn, SocialStart, state_tag,
};

use discovery::ProviderRuntime;

/// The throttle scope of the social routes (start, callback, exchange, link), by client.
pub const SOCIAL_THROTTLE_SCOPE: &str = "social";
/// The longest provider name.
pub const MAX_PROVIDER_NAME_CHARS: usize = 40;
/// The most providers one server may have.
pub const MAX_PROVIDERS: usize = 20;

/// The audit events of social login (in [`crate::audit::event`]).
pub mod event {
    pub use crate::audit::event::{
        SOCIAL_FAILED, SOCIAL_LINKED, SOCIAL_LOGIN, SOCIAL_SIGNUP, SOCIAL_UNLINKED,
    };
}

/// What a provider speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenID Connect: discovery, an ID token.
    #[default]
    Oidc,
    /// GitHub's OAuth2: no ID token; the user and `/user/emails` APIs (the verified primary
    /// address).
    Github,
}

/// One `[[oidc_providers]]` entry.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The name in URLs (`social/{name}/start/`): 1–40 of `a-z`, `0-9`, `-`.
    pub name: String,
    /// `oidc` (the default) or `github`.
    #[serde(default)]
    pub kind: ProviderKind,
    /// OpenID Connect: the issuer URL; discovery reads
    /// `{issuer}/.well-known/openid-configuration`, whose `issuer` must equal it.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The client id registered with the provider.
    pub client_id: String,
    /// The client secret (never logged).
    pub client_secret: Secret,
    /// The scopes asked for. Defaults to `openid email profile` (GitHub: `read:user
    /// user:email`).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// The button's label. Defaults to the name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// GitHub: the authorization endpoint. Defaults to
    /// `https://github.com/login/oauth/authorize`.
    #[serde(default)]
    pub authorize_url: Option<String>,
    /// GitHub: the token endpoint. Defaults to
    /// `https://github.com/login/oauth/access_token`.
    #[serde(default)]
    pub token_url: Option<String>,
    /// GitHub: the API's base URL (`/user`, `/user/emails`). Defaults to
    /// `https://api.github.com`.
    #[serde(default)]
    pub api_url: Option<String>,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("scopes", &self.scopes)
            .field("display_name", &self.display_name)
            .field("authorize_url", &self.authorize_url)
            .field("token_url", &self.token_url)
            .field("api_url", &self.api_url)
            .finish()
    }
}

impl ProviderConfig {
    /// The scopes asked for.
    pub fn scopes(&self) -> Vec<String> {
        match (&self.scopes, self.kind) {
            (Some(scopes), _) => scopes.clone(),
            (None, ProviderKind::Oidc) => ["openid", "email", "profile"].map(String::from).into(),
            (None, ProviderKind::Github) => ["read:user", "user:email"].map(String::from).into(),
        }
    }

    /// The button's label.
    pub fn display_name(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.name)
    }

    /// Every URL the provider is reached at, with its setting's name (for `check --deploy`).
    pub fn urls(&self) -> Vec<(&'static str, String)> {
        let mut urls = Vec::new();
        match self.kind {
            ProviderKind::Oidc => {
                if let Some(issuer) = &self.issuer {
                    urls.push(("issuer", issuer.clone()));
                }
            }
            ProviderKind::Github => {
                urls.push(("authorize_url", self.github_authorize_url()));
                urls.push(("token_url", self.github_token_url()));
                urls.push(("api_url", self.github_api_url()));
            }
        }
        urls
    }

    pub(crate) fn github_authorize_url(&self) -> String {
        self.authorize_url
            .clone()
            .unwrap_or_else(|| "https://github.com/login/oauth/authorize".into())
    }

    pub(crate) fn github_token_url(&self) -> String {
        self.token_url
            .clone()
            .unwrap_or_else(|| "https://github.com/login/oauth/access_token".into())
    }

    pub(crate) fn github_api_url(&self) -> String {
        self.api_url
            .clone()
            .unwrap_or_else(|| "https://api.github.com".into())
            .trim_end_matches('/')
            .to_owned()
    }
}

/// Social login settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SocialSettings {
    /// The providers (`[[oidc_providers]]`). None by default: social login is off.
    pub oidc_providers: Vec<ProviderConfig>,
    /// Where a single-page application receives the one-time code of a login in `token`
    /// mode (`?code=…`, or `?link=…`, `?mfa_token=…`, `?error=…`). Unset, only `cookie`
    /// mode (the account page) is served.
    pub social_frontend_url: Option<String>,
    /// Whether a provider's identity that matches no account makes a new one. Defaults to
    /// `true`.
    #[serde(with = "tessera_core::boolean")]
    pub social_signup: bool,
}

impl Default for SocialSettings {
    fn default() -> Self {
        Self {
            oidc_providers: Vec::new(),
            social_frontend_url: None,
            social_signup: true,
        }
    }
}

/// Whether `url` is an absolute `http(s)` URL without credentials or fragment.
fn check_url(url: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!("{url:?} is not an http(s) URL"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() || parsed.fragment().is_some() {
        return Err(format!("{url:?} may not hold credentials or a fragment"));
    }
    Ok(parsed)
}

/// Whether `name` is a provider name: 1–40 of `a-z`, `0-9`, `-`.
pub fn is_valid_provider_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_PROVIDER_NAME_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl SocialSettings {
    /// Checks every provider: a valid, unique name; an issuer URL (OpenID Connect) or valid
    /// endpoint overrides (GitHub); a client id and secret; `openid` among an OpenID
    /// provider's scopes; and `social_frontend_url`.
    ///
    /// # Errors
    /// The first problem, naming the setting (`oidc_providers[0].issuer` …).
    pub fn validate(&self) -> Result<(), SettingsError> {
        if let Some(url) = &self.social_frontend_url {
            check_url(url).map_err(|message| SettingsError {
                setting: "social_frontend_url".into(),
                message,
            })?;
        }
        if self.oidc_providers.len() > MAX_PROVIDERS {
            return Err(SettingsError {
                setting: "oidc_providers".into(),
                message: format!("at most {MAX_PROVIDERS} providers"),
            });
        }
        let mut seen = HashMap::new();
        for (i, provider) in self.oidc_providers.iter().enumerate() {
            let fail = |field: &str, message: String| SettingsError {
                setting: format!("oidc_providers[{i}].{field}"),
                message,
            };
            if !is_valid_provider_name(&provider.name) {
                return Err(fail(
                    "name",
                    format!(
                        "{:?}: 1–{MAX_PROVIDER_NAME_CHARS} characters of a-z, 0-9 and -",
                        provider.name
                    ),
                ));
            }
            if let Some(other) = seen.insert(provider.name.as_str(), i) {
                return Err(fail(
                    "name",
                    format!("{:?} is already oidc_providers[{other}]'s", provider.name),
                ));
            }
            if provider.client_id.trim().is_empty() || provider.client_id.len() > 512 {
                return Err(fail(
                    "client_id",
                    "is required (at most 512 characters)".into(),
                ));
            }
            if provider.client_secret.expose().is_empty()
                || provider.client_secret.expose().len() > 1024
            {
                return Err(fail(
                    "client_secret",
                    "is required (at most 1024 characters)".into(),
                ));
            }
            if provider
                .display_name
                .as_ref()
                .is_some_and(|d| d.chars().count() > 100)
            {
                return Err(fail("display_name", "at most 100 characters".into()));
            }
            let scopes = provider.scopes();
            if scopes.len() > 20
                || scopes.iter().any(|s| {
                    s.is_empty()
                        || s.len() > 100
                        || !s
                            .bytes()
                            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
                })
            {
                return Err(fail(
                    "scopes",
                    "at most 20 scopes of printable ASCII".into(),
                ));
            }
            match provider.kind {
                ProviderKind::Oidc => {
                    let Some(issuer) = &provider.issuer else {
                        return Err(fail("issuer", "is required for an OpenID provider".into()));
                    };
                    let parsed = check_url(issuer).map_err(|m| fail("issuer", m))?;
                    if parsed.query().is_some() {
                        return Err(fail("issuer", "may not have a query".into()));
                    }
                    if !scopes.iter().any(|s| s == "openid") {
                        return Err(fail("scopes", "must include `openid`".into()));
                    }
                    for (field, value) in [
                        ("authorize_url", &provider.authorize_url),
                        ("token_url", &provider.token_url),
                        ("api_url", &provider.api_url),
                    ] {
                        if value.is_some() {
                            return Err(fail(
                                field,
                                "is GitHub's; an OpenID provider's endpoints come from discovery"
                                    .into(),
                            ));
                        }
                    }
                }
                ProviderKind::Github => {
                    if provider.issuer.is_some() {
                        return Err(fail("issuer", "GitHub has no OpenID issuer".into()));
                    }
                    for (field, url) in provider.urls() {
                        check_url(&url).map_err(|m| fail(field, m))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The provider named `name`.
    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.oidc_providers.iter().find(|p| p.name == name)
    }
}

/// The social login state of a service: the settings, and each provider's cached
/// discovery document and key set.
#[derive(Debug, Default)]
pub(crate) struct Social {
    settings: SocialSettings,
    providers: HashMap<String, Arc<ProviderRuntime>>,
}

impl Social {
    pub(crate) fn new(settings: SocialSettings) -> Self {
        let providers = settings
            .oidc_providers
            .iter()
            .map(|config| {
                (
                    config.name.clone(),
                    Arc::new(ProviderRuntime::new(config.clone())),
                )
            })
            .collect();
        Self {
            settings,
            providers,
        }
    }

    pub(crate) fn settings(&self) -> &SocialSettings {
        &self.settings
    }

    pub(crate) fn provider(&self, name: &str) -> Option<&Arc<ProviderRuntime>> {
        self.providers.get(name)
    }
}

/// A provider as the account page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderInfo {
    /// The name in URLs.
    pub name: String,
    /// The button's label.
    pub display_name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oidc(name: &str) -> ProviderConfig {
        ProviderConfig {
            name: name.into(),
            kind: ProviderKind::Oidc,
            issuer: Some("https://idp.example.com".into()),
            client_id: "client".into(),
            client_secret: "a-client-secret".into(),
            scopes: None,
            display_name: None,
            authorize_url: None,
            token_url: None,
            api_url: None,
        }
    }

    fn refused(settings: &SocialSettings) -> String {
        settings.validate().expect_err("refused").setting
    }

    #[test]
    fn providers_are_checked_at_load() {
        let mut settings = SocialSettings {
            oidc_providers: vec![oidc("idp"), oidc("other-1")],
            ..SocialSettings::default()
        };
        settings.validate().expect("valid");
        settings.oidc_providers[1].name = "idp".into();
        assert_eq!(refused(&settings), "oidc_providers[1].name");
        settings.oidc_providers[1].name = "Not_A_Slug".into();
        assert_eq!(refused(&settings), "oidc_providers[1].name");
        settings.oidc_providers[1] = oidc("b");
        settings.oidc_providers[1].issuer = None;
        assert_eq!(refused(&settings), "oidc_providers[1].issuer");
        settings.oidc_providers[1].issuer = Some("ftp://idp.example.com".into());
        assert_eq!(refused(&settings), "oidc_providers[1].issuer");
        settings.oidc_providers[1] = oidc("b");
        settings.oidc_providers[1].scopes = Some(vec!["email".into()]);
        assert_eq!(refused(&settings), "oidc_providers[1].scopes");
        settings.oidc_providers[1] = oidc("b");
        settings.oidc_providers[1].client_secret = "".into();
        assert_eq!(refused(&settings), "oidc_providers[1].client_secret");
        settings.oidc_providers[1] = oidc("b");
        settings.social_frontend_url = Some("not a url".into());
        assert_eq!(refused(&settings), "social_frontend_url");
    }

    #[test]
    fn the_github_preset_has_github_endpoints_unless_overridden() {
        let mut github = oidc("github");
        github.kind = ProviderKind::Github;
        github.issuer = None;
        assert_eq!(
            github.urls(),
            vec![
                (
                    "authorize_url",
                    "https://github.com/login/oauth/authorize".into()
                ),
                (
                    "token_url",
                    "https://github.com/login/oauth/access_token".into()
                ),
                ("api_url", "https://api.github.com".into()),
            ]
        );
        assert_eq!(github.scopes(), ["read:user", "user:email"]);
        let settings = SocialSettings {
            oidc_providers: vec![github],
            ..SocialSettings::default()
        };
        settings.validate().expect("valid");
    }

    #[test]
    fn a_states_tag_names_its_cookie_and_refusals_their_reason() {
        let tag = state_tag("a-state");
        assert_eq!(tag, state_tag("a-state"));
        assert_ne!(tag, state_tag("another-state"));
        assert!(tag.len() == 16 && tag.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            SocialFailure::TooManyIdentities.as_str(),
            "too_many_identities"
        );
        assert_eq!(SocialFailure::AlreadyLinked.as_str(), "already_linked");
    }

    #[test]
    fn the_client_secret_is_never_printed() {
        let printed = format!("{:?}", oidc("idp"));
        assert!(!printed.contains("a-client-secret"), "{printed}");
    }

    #[test]
    fn providers_are_read_with_defaults_and_unknown_keys_refused() {
        let settings: SocialSettings = serde_json::from_value(serde_json::json!({
            "social_frontend_url": "https://spa.example.com/",
            "oidc_providers": [{"name": "idp", "issuer": "https://idp.example.com",
                                "client_id": "c", "client_secret": "s"}],
        }))
        .expect("parsed");
        assert_eq!(
            settings.oidc_providers[0].scopes(),
            ["openid", "email", "profile"]
        );
        assert!(settings.social_signup);
        let misspelt = serde_json::json!({"oidc_providers": [{"name": "idp",
            "issuerr": "https://idp.example.com", "client_id": "c", "client_secret": "s"}]});
        assert!(serde_json::from_value::<SocialSettings>(misspelt).is_err());
    }
}
