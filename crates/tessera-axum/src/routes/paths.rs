//! Where the API is served: the prefix every API route nests under, and simplejwt's six
//! token views each at a path of its own — what a DRF project writes in its `urls.py`
//! (`path('api/v1/token/', …)`, `path('gettoken/', …)`).

use axum::Router;
use axum::extract::FromRef;
use axum::routing::post;
use serde::{Deserialize, Serialize};
use tessera_core::SettingsError;

use super::token;
use crate::state::Tessera;

/// The longest path a route may be given.
const MAX_PATH_CHARS: usize = 200;

/// The API's paths (`[routes]` in the server's configuration):
///
/// ```toml
/// [routes]
/// prefix = "/api/v1"          # every API route: /api/v1/auth/login/, /api/v1/token/ …
/// token_obtain = "/gettoken/"  # absolute: from the site's root
/// token_refresh = "refresh/"   # relative: under the prefix (/api/v1/refresh/)
/// token_sliding = ""           # empty: not served
/// ```
///
/// A token path starting with `/` is absolute; any other is relative to `prefix`; an empty
/// one is not served. The defaults are simplejwt's usual `urls.py`: `/api/token/`,
/// `/api/token/refresh/` and so on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutePaths {
    /// Where every API route nests (`auth/…`, `admin/…` and the relative token paths).
    /// Defaults to `/api`; `/` or empty serves them from the root.
    pub prefix: String,
    /// `TokenObtainPairView`. Defaults to `token/`.
    pub token_obtain: String,
    /// `TokenRefreshView`. Defaults to `token/refresh/`.
    pub token_refresh: String,
    /// `TokenVerifyView`. Defaults to `token/verify/`.
    pub token_verify: String,
    /// `TokenBlacklistView`. Defaults to `token/blacklist/`.
    pub token_blacklist: String,
    /// `TokenObtainSlidingView`. Defaults to `token/sliding/`.
    pub token_sliding: String,
    /// `TokenRefreshSlidingView`. Defaults to `token/sliding/refresh/`.
    pub token_sliding_refresh: String,
}

impl Default for RoutePaths {
    fn default() -> Self {
        Self {
            prefix: "/api".into(),
            token_obtain: "token/".into(),
            token_refresh: "token/refresh/".into(),
            token_verify: "token/verify/".into(),
            token_blacklist: "token/blacklist/".into(),
            token_sliding: "token/sliding/".into(),
            token_sliding_refresh: "token/sliding/refresh/".into(),
        }
    }
}

impl RoutePaths {
    /// The prefix as a path that nests: `/api/v1` (no trailing slash), or `` for the root.
    pub fn api_prefix(&self) -> String {
        let trimmed = self.prefix.trim_matches('/');
        if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        }
    }

    /// A path under the prefix: `api_path("auth/login/")` is `/api/auth/login/` by default.
    pub fn api_path(&self, relative: &str) -> String {
        format!("{}/{}", self.api_prefix(), relative.trim_start_matches('/'))
    }

    /// Each token view's name and absolute path, in the order above; `None` when not served.
    pub fn token_paths(&self) -> [(&'static str, Option<String>); 6] {
        let resolve = |path: &str| match path {
            "" => None,
            absolute if absolute.starts_with('/') => Some(absolute.to_owned()),
            relative => Some(self.api_path(relative)),
        };
        [
            ("token_obtain", resolve(&self.token_obtain)),
            ("token_refresh", resolve(&self.token_refresh)),
            ("token_verify", resolve(&self.token_verify)),
            ("token_blacklist", resolve(&self.token_blacklist)),
            ("token_sliding", resolve(&self.token_sliding)),
            (
                "token_sliding_refresh",
                resolve(&self.token_sliding_refresh),
            ),
        ]
    }

    /// Checks every path: plain segments of letters, digits and `-._~` (no `{`, `*`, `..`,
    /// `//`, query or fragment), at most 200 characters, no two views at one path, none at
    /// the site's root nor under the prefix's `auth/` and `admin/`, which the other API
    /// routes hold.
    ///
    /// # Errors
    /// The first problem, naming the setting (`routes.token_obtain` …).
    pub fn validate(&self) -> Result<(), SettingsError> {
        let fail = |setting: &str, message: String| SettingsError {
            setting: format!("routes.{setting}"),
            message,
        };
        check_path("prefix", &self.prefix).map_err(|m| fail("prefix", m))?;
        let paths = self.token_paths();
        let given = [
            &self.token_obtain,
            &self.token_refresh,
            &self.token_verify,
            &self.token_blacklist,
            &self.token_sliding,
            &self.token_sliding_refresh,
        ];
        for (i, ((name, path), raw)) in paths.iter().zip(given).enumerate() {
            check_path(name, raw).map_err(|m| fail(name, m))?;
            let Some(path) = path else { continue };
            if path == "/" {
                return Err(fail(name, "cannot be the site's root".into()));
            }
            // The account, session, cookie and admin routes live there.
            for taken in [self.api_path("auth/"), self.api_path("admin/")] {
                if path.starts_with(&taken) {
                    return Err(fail(
                        name,
                        format!("{path} is under {taken}, where Tessera's other routes are"),
                    ));
                }
            }
            if let Some((other, _)) = paths[..i].iter().find(|(_, p)| p.as_ref() == Some(path)) {
                return Err(fail(
                    name,
                    format!("{path} is already `routes.{other}`'s path"),
                ));
            }
        }
        Ok(())
    }
}

/// What is wrong with a configured path, if anything.
fn check_path(name: &str, path: &str) -> Result<(), String> {
    if path.chars().count() > MAX_PATH_CHARS {
        return Err(format!("is longer than {MAX_PATH_CHARS} characters"));
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._~/".contains(c);
    if let Some(c) = path.chars().find(|c| !plain(*c)) {
        return Err(format!(
            "{path:?}: {c:?} cannot appear in a path (letters, digits, `-._~` and `/` only)"
        ));
    }
    if path.contains("//") || path.split('/').any(|s| s == "." || s == "..") {
        return Err(format!("{path:?} has an empty, `.` or `..` segment"));
    }
    let _ = name;
    Ok(())
}

/// simplejwt's six token views at `paths` — absolute paths, to merge at the site's root
/// (not to nest). Views whose path is empty are left out.
///
/// ```
/// use axum::Router;
/// use tessera_axum::Tessera;
/// use tessera_axum::routes::{RoutePaths, token_routes_at};
///
/// // A seed-style urls.py: path('gettoken/', …), path('refreshtoken/', …), path('verifytoken/', …).
/// let paths = RoutePaths {
///     token_obtain: "/gettoken/".into(),
///     token_refresh: "/refreshtoken/".into(),
///     token_verify: "/verifytoken/".into(),
///     ..RoutePaths::default()
/// };
/// let app: Router<Tessera> = Router::new().merge(token_routes_at(&paths));
/// ```
pub fn token_routes_at<S>(paths: &RoutePaths) -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    let [obtain, refresh, verify, blacklist, sliding, sliding_refresh] = paths.token_paths();
    let mut router = Router::new();
    let mut add = |path: Option<String>, route: axum::routing::MethodRouter<S>| {
        if let Some(path) = path {
            router = std::mem::take(&mut router).route(&path, route);
        }
    };
    add(obtain.1, post(token::obtain_pair));
    add(refresh.1, post(token::refresh));
    add(verify.1, post(token::verify));
    add(blacklist.1, post(token::blacklist));
    add(sliding.1, post(token::obtain_sliding));
    add(sliding_refresh.1, post(token::refresh_sliding));
    router
}

/// Every API router at `paths` — the token views where [`RoutePaths`] puts them, the
/// account, session, cookie, admin, audit and key routes under its prefix — to merge at the
/// site's root. With the default paths it serves what `nest("/api", api_routes())` serves.
pub fn api_routes_at<S>(paths: &RoutePaths) -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    let rest = super::account_routes()
        .merge(super::session_routes())
        .merge(super::cookie_routes())
        .merge(super::admin_routes())
        .merge(super::audit_routes())
        .merge(super::key_routes())
        .merge(super::api_key_routes())
        .merge(super::passkey_routes())
        .merge(super::mfa_routes())
        .merge(super::social_routes());
    let prefix = paths.api_prefix();
    let rest = if prefix.is_empty() {
        rest
    } else {
        Router::new().nest(&prefix, rest)
    };
    token_routes_at(paths).merge(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(paths: &RoutePaths) -> Vec<Option<String>> {
        paths.token_paths().into_iter().map(|(_, p)| p).collect()
    }

    #[test]
    fn the_defaults_are_simplejwts_usual_paths() {
        let paths = RoutePaths::default();
        assert_eq!(paths.validate(), Ok(()));
        assert_eq!(
            resolved(&paths),
            [
                "/api/token/",
                "/api/token/refresh/",
                "/api/token/verify/",
                "/api/token/blacklist/",
                "/api/token/sliding/",
                "/api/token/sliding/refresh/"
            ]
            .map(|p| Some(p.to_owned()))
        );
        assert_eq!(paths.api_path("auth/login/"), "/api/auth/login/");
    }

    #[test]
    fn prefixes_are_normalised_and_paths_absolute_relative_or_off() {
        for prefix in ["/api/v1", "api/v1/", "/api/v1/"] {
            let paths = RoutePaths {
                prefix: prefix.into(),
                token_obtain: "/gettoken/".into(),
                token_sliding: String::new(),
                ..RoutePaths::default()
            };
            assert_eq!(paths.validate(), Ok(()));
            let got = resolved(&paths);
            assert_eq!(got[0].as_deref(), Some("/gettoken/"));
            assert_eq!(got[1].as_deref(), Some("/api/v1/token/refresh/"));
            assert_eq!(got[4], None);
        }
        let root = RoutePaths {
            prefix: "/".into(),
            ..RoutePaths::default()
        };
        assert_eq!(root.api_path("auth/login/"), "/auth/login/");
        assert_eq!(resolved(&root)[0].as_deref(), Some("/token/"));
    }

    #[test]
    fn bad_paths_name_their_setting() {
        let cases = [
            ("prefix", "/api/{x}"),
            ("prefix", "/api/../admin"),
            ("token_obtain", "token//"),
            ("token_obtain", "/a?b"),
            ("token_refresh", "/*rest"),
            ("token_verify", "/"),
            ("token_verify", "auth/login/"),
            ("token_refresh", "/api/admin/x/"),
        ];
        for (setting, value) in cases {
            let mut paths = RoutePaths::default();
            match setting {
                "prefix" => paths.prefix = value.into(),
                "token_obtain" => paths.token_obtain = value.into(),
                "token_refresh" => paths.token_refresh = value.into(),
                _ => paths.token_verify = value.into(),
            }
            let error = paths.validate().unwrap_err();
            assert_eq!(error.setting, format!("routes.{setting}"), "{value}");
        }
        let long = RoutePaths {
            token_obtain: "a".repeat(201),
            ..RoutePaths::default()
        };
        assert!(long.validate().unwrap_err().message.contains("longer"));
    }

    #[test]
    fn two_views_at_one_path_are_refused() {
        // The sliding views at simplejwt's pair paths: allowed once the pair views move.
        let mut paths = RoutePaths {
            token_sliding: "token/".into(),
            ..RoutePaths::default()
        };
        let error = paths.validate().unwrap_err();
        assert_eq!(error.setting, "routes.token_sliding");
        assert!(error.message.contains("routes.token_obtain"), "{error:?}");
        paths.token_obtain = String::new();
        assert_eq!(paths.validate(), Ok(()));
    }
}
