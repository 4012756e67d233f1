//! The passkey settings and the WebAuthn relying party they resolve to.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tessera_core::SettingsError;
use webauthn_rs::prelude::{Url, Webauthn, WebauthnBuilder};

use super::CEREMONY_LIFETIME;

/// The passkey settings, next to the others in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PasskeySettings {
    /// The WebAuthn relying party id: the domain passkeys are bound to. Defaults to the host
    /// of `public_url`, or `localhost` when that host is an IP address (development).
    pub webauthn_rp_id: Option<String>,
    /// The origins ceremonies may come from (`https://app.example.com`); each host must be
    /// `webauthn_rp_id` or a subdomain of it, and `https` but for `localhost`. Defaults to
    /// `public_url`'s origin (with `localhost` for an IP address).
    pub webauthn_origins: Vec<String>,
    /// The name authenticators show for this site. Defaults to `"Tessera"`.
    pub webauthn_rp_name: String,
    /// Whether users may sign in with a passkey alone (`passkeys/login/…`). Defaults to
    /// `false`.
    #[serde(with = "tessera_core::boolean")]
    pub passkey_login: bool,
}

impl Default for PasskeySettings {
    fn default() -> Self {
        Self {
            webauthn_rp_id: None,
            webauthn_origins: Vec::new(),
            webauthn_rp_name: "Tessera".into(),
            passkey_login: false,
        }
    }
}

/// The relying party the settings resolve to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    /// The relying party id.
    pub id: String,
    /// The allowed origins.
    pub origins: Vec<Url>,
}

impl PasskeySettings {
    /// The relying party id and origins, the defaults taken from `public_url`; checked:
    /// every origin an `http(s)` URL with no path, `https` unless its host is `localhost`
    /// (or under it), its host the relying party id or a subdomain of it; the id a domain
    /// name (no IP address), with a dot unless it is `localhost`.
    ///
    /// # Errors
    /// The first problem, naming its setting.
    pub fn relying_party(&self, public_url: &str) -> Result<RelyingParty, SettingsError> {
        let fail = |setting: &str, message: String| SettingsError {
            setting: setting.into(),
            message,
        };
        if self.webauthn_rp_name.trim().is_empty() || self.webauthn_rp_name.chars().count() > 64 {
            return Err(fail(
                "webauthn_rp_name",
                "must be 1 to 64 characters".into(),
            ));
        }
        let public = Url::parse(public_url)
            .map_err(|error| fail("public_url", format!("{public_url:?}: {error}")))?;
        let public_host = match public.host() {
            Some(url::Host::Domain(domain)) => domain.to_ascii_lowercase(),
            _ => "localhost".to_owned(),
        };
        let id = self
            .webauthn_rp_id
            .clone()
            .unwrap_or_else(|| public_host.clone())
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if id.parse::<std::net::IpAddr>().is_ok()
            || id.is_empty()
            || !id.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            || (!id.contains('.') && id != "localhost")
        {
            return Err(fail(
                "webauthn_rp_id",
                format!("{id:?} is not a domain name passkeys can be bound to"),
            ));
        }
        let origins: Vec<Url> = if self.webauthn_origins.is_empty() {
            let mut origin = public.clone();
            if !matches!(public.host(), Some(url::Host::Domain(_))) {
                let _ = origin.set_host(Some("localhost"));
            }
            origin.set_path("");
            origin.set_query(None);
            origin.set_fragment(None);
            vec![origin]
        } else {
            let mut parsed = Vec::with_capacity(self.webauthn_origins.len());
            for raw in &self.webauthn_origins {
                let url = Url::parse(raw)
                    .map_err(|error| fail("webauthn_origins", format!("{raw:?}: {error}")))?;
                if !matches!(url.path(), "" | "/") || url.query().is_some() {
                    return Err(fail(
                        "webauthn_origins",
                        format!("{raw:?} is not an origin (scheme, host and port only)"),
                    ));
                }
                parsed.push(url);
            }
            parsed
        };
        for origin in &origins {
            let Some(url::Host::Domain(host)) = origin.host() else {
                return Err(fail(
                    "webauthn_origins",
                    format!("{origin}: the host must be a domain name"),
                ));
            };
            let host = host.to_ascii_lowercase();
            let local = host == "localhost" || host.ends_with(".localhost");
            match origin.scheme() {
                "https" => {}
                "http" if local => {}
                _ => {
                    return Err(fail(
                        "webauthn_origins",
                        format!("{origin}: must be https (http only for localhost)"),
                    ));
                }
            }
            if host != id && !host.ends_with(&format!(".{id}")) {
                return Err(fail(
                    "webauthn_origins",
                    format!("{origin}: its host is not {id} (webauthn_rp_id) nor under it"),
                ));
            }
        }
        Ok(RelyingParty { id, origins })
    }
    /// Whether the relying party is configured rather than derived from `public_url`:
    /// `webauthn_rp_id` or `webauthn_origins` set, or `passkey_login` on (passwordless
    /// sign-in cannot do without passkeys).
    pub fn is_configured(&self) -> bool {
        self.webauthn_rp_id.is_some() || !self.webauthn_origins.is_empty() || self.passkey_login
    }

    /// Checks the settings of a server at `public_url`. Only what is configured is held to
    /// account: when the relying party is derived from `public_url` (see
    /// [`is_configured`](Self::is_configured)) and that gives none passkeys can be bound to
    /// (`http://testserver`, say), passkeys are merely unavailable — their routes answer
    /// that they are not configured — and this is no error.
    ///
    /// # Errors
    /// A configured setting that cannot be served, naming it.
    pub fn validate(&self, public_url: &str) -> Result<(), SettingsError> {
        PasskeyState::new(self.clone(), public_url).map(drop)
    }
}

/// The service's WebAuthn relying party, built once from the settings — or why passkeys
/// are unavailable.
#[derive(Clone)]
pub(crate) struct PasskeyState {
    settings: PasskeySettings,
    served: Result<Served, SettingsError>,
}

/// A relying party passkeys are served for.
#[derive(Clone)]
struct Served {
    webauthn: Arc<Webauthn>,
    relying_party: RelyingParty,
}

impl fmt::Debug for PasskeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyState")
            .field("settings", &self.settings)
            .field("relying_party", &self.relying_party())
            .field("unavailable", &self.unavailable())
            .finish_non_exhaustive()
    }
}

impl PasskeyState {
    /// The relying party of `settings` under `public_url`: passkeys unavailable when the
    /// defaults derived from `public_url` cannot be served.
    ///
    /// # Errors
    /// A configured setting that cannot be served.
    pub(crate) fn new(settings: PasskeySettings, public_url: &str) -> Result<Self, SettingsError> {
        let served = Self::serve(&settings, public_url);
        match served {
            Err(error) if error.setting == "webauthn_rp_name" || settings.is_configured() => {
                Err(error)
            }
            served => Ok(Self { settings, served }),
        }
    }

    fn serve(settings: &PasskeySettings, public_url: &str) -> Result<Served, SettingsError> {
        let relying_party = settings.relying_party(public_url)?;
        let fail = |error: webauthn_rs::prelude::WebauthnError| SettingsError {
            setting: "webauthn_origins".into(),
            message: error.to_string(),
        };
        let mut builder = WebauthnBuilder::new(&relying_party.id, &relying_party.origins[0])
            .map_err(fail)?
            .rp_name(&settings.webauthn_rp_name)
            .timeout(CEREMONY_LIFETIME);
        for origin in &relying_party.origins[1..] {
            builder = builder.append_allowed_origin(origin);
        }
        let webauthn = builder.build().map_err(fail)?;
        Ok(Served {
            webauthn: Arc::new(webauthn),
            relying_party,
        })
    }

    /// The settings.
    pub(crate) fn settings(&self) -> &PasskeySettings {
        &self.settings
    }

    /// The relying party, when passkeys are served.
    pub(crate) fn relying_party(&self) -> Option<&RelyingParty> {
        self.served
            .as_ref()
            .ok()
            .map(|served| &served.relying_party)
    }

    /// The WebAuthn relying party, when passkeys are served.
    pub(crate) fn webauthn(&self) -> Option<&Webauthn> {
        self.served.as_ref().ok().map(|served| &*served.webauthn)
    }

    /// Why passkeys are unavailable, when they are.
    pub(crate) fn unavailable(&self) -> Option<&SettingsError> {
        self.served.as_ref().err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(rp_id: Option<&str>, origins: &[&str]) -> PasskeySettings {
        PasskeySettings {
            webauthn_rp_id: rp_id.map(str::to_owned),
            webauthn_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            ..PasskeySettings::default()
        }
    }

    #[test]
    fn the_relying_party_defaults_to_the_public_urls_host_and_origin() {
        let party = PasskeySettings::default()
            .relying_party("https://auth.example.com/")
            .unwrap();
        assert_eq!(party.id, "auth.example.com");
        assert_eq!(
            party.origins,
            [Url::parse("https://auth.example.com").unwrap()]
        );
    }

    #[test]
    fn an_ip_public_url_is_localhost_in_development() {
        let party = PasskeySettings::default()
            .relying_party("http://127.0.0.1:8000")
            .unwrap();
        assert_eq!(party.id, "localhost");
        assert_eq!(
            party.origins,
            [Url::parse("http://localhost:8000").unwrap()]
        );
        assert!(PasskeyState::new(PasskeySettings::default(), "http://127.0.0.1:8000").is_ok());
    }

    #[test]
    fn a_parent_domain_serves_its_subdomains_origins() {
        let settings = with(
            Some("example.com"),
            &["https://app.example.com", "https://example.com:8443"],
        );
        let party = settings.relying_party("https://auth.example.com").unwrap();
        assert_eq!(party.id, "example.com");
        assert_eq!(party.origins.len(), 2);
    }

    #[test]
    fn unservable_settings_name_their_setting() {
        let cases = [
            (with(None, &["http://app.example.com"]), "webauthn_origins"),
            (
                with(None, &["https://evil.example.net"]),
                "webauthn_origins",
            ),
            (
                with(None, &["https://app.example.com/path"]),
                "webauthn_origins",
            ),
            (with(None, &["https://notexample.com"]), "webauthn_origins"),
            (with(Some("com"), &[]), "webauthn_rp_id"),
            (with(Some("10.0.0.1"), &[]), "webauthn_rp_id"),
            (with(Some("app.example.com"), &[]), "webauthn_origins"),
            (
                PasskeySettings {
                    webauthn_rp_name: " ".into(),
                    ..PasskeySettings::default()
                },
                "webauthn_rp_name",
            ),
        ];
        for (settings, setting) in cases {
            let error = settings
                .relying_party("https://example.com")
                .expect_err("refused");
            assert_eq!(error.setting, setting, "{settings:?}: {error}");
        }
    }

    #[test]
    fn a_derived_relying_party_that_cannot_serve_makes_passkeys_unavailable() {
        // `testserver` is no domain passkeys can be bound to: derived, it is no error.
        let state = PasskeyState::new(PasskeySettings::default(), "http://testserver").unwrap();
        assert!(state.webauthn().is_none() && state.relying_party().is_none());
        assert_eq!(state.unavailable().unwrap().setting, "webauthn_rp_id");
        PasskeySettings::default()
            .validate("http://testserver")
            .unwrap();
        // Served when it can be.
        let state = PasskeyState::new(PasskeySettings::default(), "https://example.com").unwrap();
        assert!(state.webauthn().is_some() && state.unavailable().is_none());
    }

    #[test]
    fn configured_settings_that_cannot_serve_are_refused() {
        let cases = [
            (with(Some("testserver"), &[]), "webauthn_rp_id"),
            (with(None, &["https://app.example.com"]), "webauthn_rp_id"),
            (
                PasskeySettings {
                    passkey_login: true,
                    ..PasskeySettings::default()
                },
                "webauthn_rp_id",
            ),
            (
                PasskeySettings {
                    webauthn_rp_name: String::new(),
                    ..PasskeySettings::default()
                },
                "webauthn_rp_name",
            ),
        ];
        for (settings, setting) in cases {
            let error = settings.validate("http://testserver").expect_err("refused");
            assert_eq!(error.setting, setting, "{settings:?}: {error}");
        }
    }
}
