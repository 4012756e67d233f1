//! Settings for browsers: the HttpOnly token cookies, CSRF protection and CORS.

use serde::{Deserialize, Serialize};
use tessera_core::SettingsError;

/// The `SameSite` attribute of the token cookies, as Django's `SESSION_COOKIE_SAMESITE`
/// names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CookieSameSite {
    /// Sent on top-level navigations from other sites, not on their subrequests (the
    /// default).
    #[default]
    Lax,
    /// Sent only on requests from the site itself.
    Strict,
    /// Sent on every request; requires `Secure`.
    None,
}

/// Cookie-mode, CSRF and CORS settings (names as Django and django-cors-headers use them).
/// Every list takes a list or comma-separated text (`"https://a.example.com,https://b.example.com"`),
/// as environment variables give it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BrowserSettings {
    /// Name of the access-token cookie. Defaults to `access_token`.
    pub auth_cookie_access_name: String,
    /// Name of the refresh-token cookie. Defaults to `refresh_token`.
    pub auth_cookie_refresh_name: String,
    /// Path of the access-token cookie. Defaults to `/`.
    pub auth_cookie_access_path: String,
    /// Path of the refresh-token cookie: only the auth routes need it. Defaults to `/api/auth/`;
    /// with the routers nested elsewhere (`/api/v1`), set it to match (`/api/v1/auth/`).
    pub auth_cookie_refresh_path: String,
    /// Domain of the token cookies. Defaults to none (the host that set them).
    pub auth_cookie_domain: Option<String>,
    /// `SameSite` of the token cookies: `Lax`, `Strict` or `None`. Defaults to `Lax`.
    pub auth_cookie_samesite: CookieSameSite,
    /// `Secure` on every cookie. Defaults to on; the server turns it off in debug mode unless set.
    #[serde(default, with = "tessera_core::boolean::option")]
    pub auth_cookie_secure: Option<bool>,
    /// Name of the CSRF cookie. Defaults to `csrftoken` (Django's `CSRF_COOKIE_NAME`).
    pub csrf_cookie_name: String,
    /// Header carrying the CSRF token. Defaults to `X-CSRFToken` (Django's `CSRF_HEADER_NAME`).
    pub csrf_header_name: String,
    /// Origins besides the server's own allowed to send cookie-authenticated unsafe requests
    /// (Django's `CSRF_TRUSTED_ORIGINS`), e.g. `https://app.example.com`. Defaults to none.
    #[serde(deserialize_with = "tessera_core::list")]
    pub csrf_trusted_origins: Vec<String>,
    /// Require the double-submit CSRF token on every cookie-authenticated unsafe request.
    /// Defaults to `false` (the Fetch-metadata and Origin checks always apply).
    #[serde(with = "tessera_core::boolean")]
    pub csrf_require_token: bool,
    /// Origins allowed to call the API from a browser (django-cors-headers'
    /// `CORS_ALLOWED_ORIGINS`). Defaults to none.
    #[serde(deserialize_with = "tessera_core::list")]
    pub cors_allowed_origins: Vec<String>,
    /// Allow every origin (`*`). Never together with credentials. Defaults to `false`.
    #[serde(with = "tessera_core::boolean")]
    pub cors_allow_all_origins: bool,
    /// Let browsers send cookies cross-origin (`CORS_ALLOW_CREDENTIALS`). Defaults to `false`.
    #[serde(with = "tessera_core::boolean")]
    pub cors_allow_credentials: bool,
    /// Request headers allowed (`CORS_ALLOW_HEADERS`).
    #[serde(deserialize_with = "tessera_core::list")]
    pub cors_allow_headers: Vec<String>,
    /// Methods allowed (`CORS_ALLOW_METHODS`).
    #[serde(deserialize_with = "tessera_core::list")]
    pub cors_allow_methods: Vec<String>,
    /// Response headers exposed to scripts (`CORS_EXPOSE_HEADERS`). Defaults to none.
    #[serde(deserialize_with = "tessera_core::list")]
    pub cors_expose_headers: Vec<String>,
    /// Seconds a preflight answer may be cached (`CORS_PREFLIGHT_MAX_AGE`). Defaults to 86400.
    pub cors_preflight_max_age: u64,
    /// The host names this site serves (Django's `ALLOWED_HOSTS`): `example.com` exactly (any
    /// case), `.example.com` for the domain and its subdomains, `*` for any. A request naming
    /// another host gets 400. Empty (the default) checks nothing — absolute links in
    /// answers (pagination) then name whatever host the request names, and
    /// `secure_ssl_redirect` is refused; the server fills in Django's debug list in debug
    /// mode and refuses to start without one in production.
    /// `/healthz` and `/readyz` are not checked (see [`HEALTH_CHECK_PATHS`]). Tests through
    /// `testing::TestClient` (which names `Host: testserver`) list `testserver`, as Django's
    /// test runner adds it.
    #[serde(deserialize_with = "tessera_core::list")]
    pub allowed_hosts: Vec<String>,
    /// Take the host from `X-Forwarded-Host` rather than `Host` (Django's
    /// `USE_X_FORWARDED_HOST`); only behind a proxy that sets it. Defaults to `false`.
    #[serde(with = "tessera_core::boolean")]
    pub use_x_forwarded_host: bool,
    /// The header, and its value, by which the proxy in front says the client's request came
    /// over HTTPS (Django's `SECURE_PROXY_SSL_HEADER`): `["X-Forwarded-Proto", "https"]`, or
    /// Django's text form `"HTTP_X_FORWARDED_PROTO,https"`. Only behind a proxy that sets
    /// or strips that header on every request. Defaults to none (requests are plain HTTP).
    #[serde(default, with = "proxy_ssl_header")]
    pub secure_proxy_ssl_header: Option<(String, String)>,
    /// Redirect every plain-HTTP request (301) to the same host and path over HTTPS
    /// (Django's `SECURE_SSL_REDIRECT`), except the health checks. Requires
    /// `allowed_hosts` (refused by [`validate`](Self::validate) without it), since the
    /// redirect names the request's host. Only `secure_proxy_ssl_header` makes a request
    /// count as HTTPS: without it every request is redirected. Defaults to `false`.
    #[serde(with = "tessera_core::boolean")]
    pub secure_ssl_redirect: bool,
    /// `max-age` of the `Strict-Transport-Security` header sent on HTTPS responses
    /// (Django's `SECURE_HSTS_SECONDS`); `0` sends none. Defaults to 0.
    pub secure_hsts_seconds: u64,
    /// Add `includeSubDomains` to it (`SECURE_HSTS_INCLUDE_SUBDOMAINS`). Defaults to `false`.
    #[serde(with = "tessera_core::boolean")]
    pub secure_hsts_include_subdomains: bool,
    /// Add `preload` to it (`SECURE_HSTS_PRELOAD`). Defaults to `false`.
    #[serde(with = "tessera_core::boolean")]
    pub secure_hsts_preload: bool,
    /// Django's `SESSION_COOKIE_SECURE`, for the token cookies (Tessera's session cookies):
    /// when set, it wins over `auth_cookie_secure`. Defaults to unset.
    #[serde(default, with = "tessera_core::boolean::option")]
    pub session_cookie_secure: Option<bool>,
    /// Django's `SESSION_COOKIE_SAMESITE`, for the token cookies: when set, it wins over
    /// `auth_cookie_samesite`. Defaults to unset.
    pub session_cookie_samesite: Option<CookieSameSite>,
    /// `Secure` on the CSRF cookie (Django's `CSRF_COOKIE_SECURE`). Defaults to unset: as
    /// the token cookies.
    #[serde(default, with = "tessera_core::boolean::option")]
    pub csrf_cookie_secure: Option<bool>,
    /// `HttpOnly` on the CSRF cookie (Django's `CSRF_COOKIE_HTTPONLY`): scripts then cannot
    /// read it. Defaults to `false`.
    #[serde(with = "tessera_core::boolean")]
    pub csrf_cookie_httponly: bool,
    /// `SameSite` of the CSRF cookie (Django's `CSRF_COOKIE_SAMESITE`). Defaults to `Lax`.
    pub csrf_cookie_samesite: CookieSameSite,
    /// Not a setting: whether a refused host is named in the 400 body, as Django's debug
    /// page names it. The server turns it on in debug mode. Defaults to `false`.
    #[serde(skip)]
    pub explain_disallowed_host: bool,
}

/// The paths of the health checks, which neither the host check nor the HTTPS redirect
/// touch: a load balancer or orchestrator probes them by IP address over plain HTTP, and
/// their answers name no host.
pub const HEALTH_CHECK_PATHS: &[&str] = &["/healthz", "/readyz"];

/// `secure_proxy_ssl_header`: a `[header, value]` list, or Django's `"HTTP_HEADER,value"`
/// text; the header is kept as its HTTP name (`x-forwarded-proto`).
mod proxy_ssl_header {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[allow(clippy::ref_option)] // serde's `with` passes a reference
    pub(super) fn serialize<S: Serializer>(
        value: &Option<(String, String)>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value
            .as_ref()
            .map(|(header, value)| [header.as_str(), value.as_str()])
            .serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<(String, String)>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            List(Vec<String>),
            Text(String),
        }
        let parts: Vec<String> = match Option::<Raw>::deserialize(deserializer)? {
            None => return Ok(None),
            Some(Raw::Text(text)) if text.trim().is_empty() => return Ok(None),
            Some(Raw::List(list)) if list.is_empty() => return Ok(None),
            Some(Raw::List(list)) => list,
            Some(Raw::Text(text)) => text
                .trim()
                .trim_start_matches(['(', '['])
                .trim_end_matches([')', ']'])
                .split(',')
                .map(|part| part.trim().trim_matches(['"', '\'']).to_owned())
                .collect(),
        };
        match parts.as_slice() {
            [header, value] if !header.is_empty() && !value.is_empty() => {
                Ok(Some((header_name(header), value.clone())))
            }
            _ => Err(serde::de::Error::custom(
                "must be a header and its value, e.g. [\"X-Forwarded-Proto\", \"https\"] or \
                 \"HTTP_X_FORWARDED_PROTO,https\"",
            )),
        }
    }

    /// `HTTP_X_FORWARDED_PROTO` (Django's `META` key) or `X-Forwarded-Proto` as the header's
    /// name, `x-forwarded-proto`.
    pub(crate) fn header_name(text: &str) -> String {
        let text = text.trim();
        let bare = match text.get(..5) {
            Some(prefix) if prefix.eq_ignore_ascii_case("HTTP_") => &text[5..],
            _ => text,
        };
        bare.replace('_', "-").to_ascii_lowercase()
    }
}

impl Default for BrowserSettings {
    fn default() -> Self {
        let words = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
        Self {
            auth_cookie_access_name: "access_token".into(),
            auth_cookie_refresh_name: "refresh_token".into(),
            auth_cookie_access_path: "/".into(),
            auth_cookie_refresh_path: "/api/auth/".into(),
            auth_cookie_domain: None,
            auth_cookie_samesite: CookieSameSite::Lax,
            auth_cookie_secure: None,
            csrf_cookie_name: "csrftoken".into(),
            csrf_header_name: "X-CSRFToken".into(),
            csrf_trusted_origins: Vec::new(),
            csrf_require_token: false,
            cors_allowed_origins: Vec::new(),
            cors_allow_all_origins: false,
            cors_allow_credentials: false,
            cors_allow_headers: words(&[
                "accept",
                "authorization",
                "content-type",
                "user-agent",
                "x-csrftoken",
                "x-requested-with",
            ]),
            cors_allow_methods: words(&["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"]),
            cors_expose_headers: Vec::new(),
            cors_preflight_max_age: 86_400,
            allowed_hosts: Vec::new(),
            use_x_forwarded_host: false,
            secure_proxy_ssl_header: None,
            secure_ssl_redirect: false,
            secure_hsts_seconds: 0,
            secure_hsts_include_subdomains: false,
            secure_hsts_preload: false,
            session_cookie_secure: None,
            session_cookie_samesite: None,
            csrf_cookie_secure: None,
            csrf_cookie_httponly: false,
            csrf_cookie_samesite: CookieSameSite::Lax,
            explain_disallowed_host: false,
        }
    }
}

/// An origin as browsers send it: `scheme://host[:port]`, nothing more.
pub(crate) fn is_origin(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && !rest.contains(['/', '?', '#', '@', ' '])
        && rest.parse::<axum::http::uri::Authority>().is_ok()
}

fn error(setting: &str, message: impl Into<String>) -> SettingsError {
    SettingsError {
        setting: setting.into(),
        message: message.into(),
    }
}

impl BrowserSettings {
    /// Checks every value; the first problem names its setting.
    pub fn validate(&self) -> Result<(), SettingsError> {
        for (name, value) in [
            ("auth_cookie_access_name", &self.auth_cookie_access_name),
            ("auth_cookie_refresh_name", &self.auth_cookie_refresh_name),
            ("csrf_cookie_name", &self.csrf_cookie_name),
        ] {
            let token = !value.is_empty()
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !token {
                return Err(error(
                    name,
                    format!("{value:?} is not a cookie name (letters, digits, - _ .)"),
                ));
            }
        }
        for (name, value) in [
            ("auth_cookie_access_path", &self.auth_cookie_access_path),
            ("auth_cookie_refresh_path", &self.auth_cookie_refresh_path),
        ] {
            if !value.starts_with('/') || value.contains([';', ' ', ',']) {
                return Err(error(
                    name,
                    format!("{value:?} is not a path starting with /"),
                ));
            }
        }
        if self.token_same_site() == CookieSameSite::None && !self.secure() {
            let name = if self.session_cookie_samesite.is_some() {
                "session_cookie_samesite"
            } else {
                "auth_cookie_samesite"
            };
            return Err(error(
                name,
                "None requires secure cookies (session_cookie_secure / auth_cookie_secure)",
            ));
        }
        if self.csrf_cookie_samesite == CookieSameSite::None && !self.csrf_secure() {
            return Err(error(
                "csrf_cookie_samesite",
                "None requires a secure CSRF cookie (csrf_cookie_secure)",
            ));
        }
        if let Some(bad) = self.allowed_hosts.iter().find(|h| !is_host_pattern(h)) {
            return Err(error(
                "allowed_hosts",
                format!("{bad:?} is not a host name, `.domain` or `*`"),
            ));
        }
        if self.secure_ssl_redirect && self.allowed_hosts.is_empty() {
            // The redirect names the request's host: unchecked, any client could have it
            // point to a host of its choosing (`Location: https://evil.example/…`).
            return Err(error(
                "secure_ssl_redirect",
                "requires allowed_hosts: the redirect goes to the host the request names, \
                 which only allowed_hosts checks",
            ));
        }
        if let Some((header, _)) = &self.secure_proxy_ssl_header
            && axum::http::HeaderName::from_bytes(header.as_bytes()).is_err()
        {
            return Err(error(
                "secure_proxy_ssl_header",
                format!("{header:?} is not a header name"),
            ));
        }
        if axum::http::HeaderName::from_bytes(self.csrf_header_name.as_bytes()).is_err() {
            return Err(error(
                "csrf_header_name",
                format!("{:?} is not a header name", self.csrf_header_name),
            ));
        }
        for (name, list) in [
            ("csrf_trusted_origins", &self.csrf_trusted_origins),
            ("cors_allowed_origins", &self.cors_allowed_origins),
        ] {
            if let Some(bad) = list.iter().find(|o| !is_origin(o)) {
                return Err(error(
                    name,
                    format!("{bad:?} is not an origin such as https://app.example.com"),
                ));
            }
        }
        if self.cors_allow_all_origins && self.cors_allow_credentials {
            return Err(error(
                "cors_allow_all_origins",
                "cannot be combined with cors_allow_credentials: list the origins in cors_allowed_origins",
            ));
        }
        if let Some(bad) = self
            .cors_allow_headers
            .iter()
            .find(|h| axum::http::HeaderName::from_bytes(h.as_bytes()).is_err())
        {
            return Err(error(
                "cors_allow_headers",
                format!("{bad:?} is not a header name"),
            ));
        }
        if let Some(bad) = self
            .cors_expose_headers
            .iter()
            .find(|h| axum::http::HeaderName::from_bytes(h.as_bytes()).is_err())
        {
            return Err(error(
                "cors_expose_headers",
                format!("{bad:?} is not a header name"),
            ));
        }
        if let Some(bad) = self
            .cors_allow_methods
            .iter()
            .find(|m| axum::http::Method::from_bytes(m.as_bytes()).is_err())
        {
            return Err(error(
                "cors_allow_methods",
                format!("{bad:?} is not a method"),
            ));
        }
        Ok(())
    }

    /// Whether the token cookies carry `Secure`: `session_cookie_secure` when set (Django's
    /// name wins), else `auth_cookie_secure`, else on.
    pub fn secure(&self) -> bool {
        self.session_cookie_secure
            .or(self.auth_cookie_secure)
            .unwrap_or(true)
    }

    /// The setting [`secure`](Self::secure) follows: `session_cookie_secure` when set,
    /// else `auth_cookie_secure` — the one to name when reporting insecure token cookies.
    pub fn secure_setting(&self) -> &'static str {
        if self.session_cookie_secure.is_some() {
            "session_cookie_secure"
        } else {
            "auth_cookie_secure"
        }
    }

    /// Whether the CSRF cookie carries `Secure`: `csrf_cookie_secure` when set, else as the
    /// token cookies.
    pub fn csrf_secure(&self) -> bool {
        self.csrf_cookie_secure.unwrap_or_else(|| self.secure())
    }

    /// The token cookies' `SameSite`: `session_cookie_samesite` when set, else
    /// `auth_cookie_samesite`.
    pub fn token_same_site(&self) -> CookieSameSite {
        self.session_cookie_samesite
            .unwrap_or(self.auth_cookie_samesite)
    }
}

/// An `allowed_hosts` entry: `*`, or a host name or IP literal (`[::1]`), optionally with a
/// leading `.` — lower-case letters, digits, `.`, `-`, as Django's host validation reads
/// hosts (upper case is accepted: matching ignores case).
fn is_host_pattern(text: &str) -> bool {
    if text == "*" {
        return true;
    }
    let bare = text.strip_prefix('.').unwrap_or(text);
    if let Some(inner) = bare.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !bare.is_empty()
        && bare
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

pub(crate) use proxy_ssl_header::header_name as proxy_header_name;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seed_services_and_validate() {
        let s = BrowserSettings::default();
        assert_eq!(
            (
                s.auth_cookie_access_path.as_str(),
                s.auth_cookie_refresh_path.as_str()
            ),
            ("/", "/api/auth/")
        );
        assert!(s.cors_allow_headers.contains(&"authorization".to_owned()));
        assert!(s.secure());
        assert!(s.validate().is_ok());
    }

    #[test]
    fn unsafe_or_malformed_values_name_their_setting() {
        type Mutation = Box<dyn Fn(&mut BrowserSettings)>;
        let cases: Vec<(&str, Mutation)> = vec![
            (
                "auth_cookie_access_name",
                Box::new(|s| s.auth_cookie_access_name = "a b".into()),
            ),
            (
                "auth_cookie_refresh_path",
                Box::new(|s| s.auth_cookie_refresh_path = "api".into()),
            ),
            (
                "auth_cookie_samesite",
                Box::new(|s| {
                    s.auth_cookie_samesite = CookieSameSite::None;
                    s.auth_cookie_secure = Some(false);
                }),
            ),
            (
                "csrf_trusted_origins",
                Box::new(|s| s.csrf_trusted_origins = vec!["https://x.com/path".into()]),
            ),
            (
                "cors_allowed_origins",
                Box::new(|s| s.cors_allowed_origins = vec!["app.example.com".into()]),
            ),
            (
                "cors_allow_all_origins",
                Box::new(|s| {
                    s.cors_allow_all_origins = true;
                    s.cors_allow_credentials = true;
                }),
            ),
            (
                "cors_allow_methods",
                Box::new(|s| s.cors_allow_methods = vec!["GE T".into()]),
            ),
            (
                "allowed_hosts",
                Box::new(|s| s.allowed_hosts = vec!["https://api.example.com".into()]),
            ),
            (
                "session_cookie_samesite",
                Box::new(|s| {
                    s.session_cookie_samesite = Some(CookieSameSite::None);
                    s.session_cookie_secure = Some(false);
                }),
            ),
            (
                "csrf_cookie_samesite",
                Box::new(|s| {
                    s.csrf_cookie_samesite = CookieSameSite::None;
                    s.csrf_cookie_secure = Some(false);
                }),
            ),
            (
                "secure_proxy_ssl_header",
                Box::new(|s| {
                    s.secure_proxy_ssl_header = Some(("x forwarded".into(), "https".into()));
                }),
            ),
            (
                "secure_ssl_redirect",
                Box::new(|s| s.secure_ssl_redirect = true),
            ),
        ];
        for (name, mutate) in cases {
            let mut s = BrowserSettings::default();
            mutate(&mut s);
            assert_eq!(s.validate().unwrap_err().setting, name);
        }
    }

    #[test]
    fn the_https_redirect_needs_the_hosts_it_may_name() {
        let mut s = BrowserSettings {
            secure_ssl_redirect: true,
            ..BrowserSettings::default()
        };
        let err = s.validate().unwrap_err();
        assert_eq!(err.setting, "secure_ssl_redirect");
        assert!(err.message.contains("allowed_hosts"), "{}", err.message);
        s.allowed_hosts = vec!["api.example.com".into()];
        assert!(s.validate().is_ok());
    }

    #[test]
    fn every_list_takes_a_list_or_comma_separated_text() {
        let text: BrowserSettings = serde_json::from_value(serde_json::json!({
            "csrf_trusted_origins": "https://a.example.com, https://b.example.com",
            "cors_allowed_origins": "https://a.example.com,http://localhost:5173",
            "cors_allow_headers": "authorization, x-csrftoken",
            "cors_allow_methods": "GET,POST",
            "cors_expose_headers": "x-request-id",
        }))
        .expect("comma-separated text");
        assert_eq!(
            text.csrf_trusted_origins,
            ["https://a.example.com", "https://b.example.com"]
        );
        assert_eq!(
            text.cors_allowed_origins,
            ["https://a.example.com", "http://localhost:5173"]
        );
        assert_eq!(text.cors_allow_headers, ["authorization", "x-csrftoken"]);
        assert_eq!(text.cors_allow_methods, ["GET", "POST"]);
        assert_eq!(text.cors_expose_headers, ["x-request-id"]);
        assert!(text.validate().is_ok());

        let lists: BrowserSettings = serde_json::from_value(serde_json::json!({
            "csrf_trusted_origins": ["https://a.example.com"],
            "cors_allow_methods": [],
        }))
        .expect("lists");
        assert_eq!(lists.csrf_trusted_origins, ["https://a.example.com"]);
        assert!(lists.cors_allow_methods.is_empty());
        // Empty text is an empty list.
        let empty: BrowserSettings =
            serde_json::from_value(serde_json::json!({"cors_allowed_origins": ""}))
                .expect("empty text");
        assert!(empty.cors_allowed_origins.is_empty());
    }

    #[test]
    fn the_proxy_ssl_header_takes_djangos_text_or_a_pair() {
        let read = |value: serde_json::Value| {
            serde_json::from_value::<BrowserSettings>(
                serde_json::json!({"secure_proxy_ssl_header": value}),
            )
            .map(|s| s.secure_proxy_ssl_header)
            .map_err(|e| e.to_string())
        };
        let expected = Some(("x-forwarded-proto".to_owned(), "https".to_owned()));
        for value in [
            serde_json::json!("HTTP_X_FORWARDED_PROTO,https"),
            serde_json::json!("('HTTP_X_FORWARDED_PROTO', 'https')"),
            serde_json::json!(["X-Forwarded-Proto", "https"]),
            serde_json::json!(["HTTP_X_FORWARDED_PROTO", "https"]),
        ] {
            assert_eq!(read(value.clone()), Ok(expected.clone()), "{value}");
        }
        assert_eq!(read(serde_json::json!(null)), Ok(None));
        assert_eq!(read(serde_json::json!("")), Ok(None));
        for bad in [
            serde_json::json!("HTTP_X_FORWARDED_PROTO"),
            serde_json::json!(["a", "b", "c"]),
            serde_json::json!(",https"),
        ] {
            assert!(read(bad.clone()).is_err(), "{bad}");
        }
        let hosts = BrowserSettings {
            allowed_hosts: vec![
                "*".into(),
                ".example.com".into(),
                "API.example.com".into(),
                "[::1]".into(),
                "127.0.0.1".into(),
            ],
            ..BrowserSettings::default()
        };
        assert!(hosts.validate().is_ok());
    }

    #[test]
    fn django_cookie_names_win_over_tesseras() {
        let mut s = BrowserSettings {
            auth_cookie_secure: Some(false),
            ..BrowserSettings::default()
        };
        assert!(!s.secure() && !s.csrf_secure());
        s.session_cookie_secure = Some(true);
        assert!(s.secure() && s.csrf_secure());
        s.csrf_cookie_secure = Some(false);
        assert!(s.secure() && !s.csrf_secure());
        s.session_cookie_samesite = Some(CookieSameSite::Strict);
        assert_eq!(s.token_same_site(), CookieSameSite::Strict);
    }

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for ok in [
            "https://app.example.com",
            "http://127.0.0.1:5173",
            "http://[::1]:8000",
        ] {
            assert!(is_origin(ok), "{ok}");
        }
        for bad in [
            "app.example.com",
            "https://",
            "https://a.com/",
            "ftp://a.com",
            "https://u@a.com",
            "null",
        ] {
            assert!(!is_origin(bad), "{bad}");
        }
    }
}
