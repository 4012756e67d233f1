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
    pub csrf_require_token: bool,
    /// Origins allowed to call the API from a browser (django-cors-headers'
    /// `CORS_ALLOWED_ORIGINS`). Defaults to none.
    #[serde(deserialize_with = "tessera_core::list")]
    pub cors_allowed_origins: Vec<String>,
    /// Allow every origin (`*`). Never together with credentials. Defaults to `false`.
    pub cors_allow_all_origins: bool,
    /// Let browsers send cookies cross-origin (`CORS_ALLOW_CREDENTIALS`). Defaults to `false`.
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
        if self.auth_cookie_samesite == CookieSameSite::None
            && self.auth_cookie_secure == Some(false)
        {
            return Err(error(
                "auth_cookie_samesite",
                "None requires secure cookies (auth_cookie_secure)",
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

    /// Whether cookies carry `Secure` (on unless turned off).
    pub fn secure(&self) -> bool {
        self.auth_cookie_secure.unwrap_or(true)
    }
}

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
        ];
        for (name, mutate) in cases {
            let mut s = BrowserSettings::default();
            mutate(&mut s);
            assert_eq!(s.validate().unwrap_err().setting, name);
        }
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
