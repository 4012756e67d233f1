//! Where settings come from: a `.env` file, `tessera.toml` (or `--config`/`TESSERA_CONFIG`),
//! and `TESSERA_*` environment variables, over the defaults. An unknown setting is an error,
//! and a bad value's error names the setting and the file or variable it came from.
//!
//! Figment merges the values and deserializes them, but its `Toml` and `Env` providers are
//! bypassed: the sources are read here, value by value, because
//! - an unknown key must be refused, and serde cannot do that for [`Config`]: its settings
//!   are `#[serde(flatten)]`ed, which `deny_unknown_fields` does not support, so figment
//!   would silently drop a misspelt setting;
//! - figment loses the path of an error inside a flattened struct, so every supplied value is
//!   kept with its source, and on failure tried alone ([`describe_error`]) to name both;
//! - `Env` turns every value that looks like a number, boolean or list into one, while a text
//!   setting must stay the text it was given — a numeric secret is still a secret
//!   ([`env_value`]);
//! - `TESSERA_CONFIG`, `TESSERA_LOG`, `TESSERA_SUPERUSER_PASSWORD`, the test suite's
//!   `TESSERA_TEST_*` and `TESSERA_REQUIRE_POSTGRES` share the prefix but are not settings
//!   ([`is_setting_var`]).

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::Serialized;

use super::{Config, ConfigError};

/// Environment variables with the `TESSERA_` prefix that are not settings (lowercase, without
/// the prefix).
const NON_SETTING_VARS: &[&str] = &["config", "superuser_password", "log", "require_postgres"];

/// Whether `key` (a variable's name without `TESSERA_`, lowercase) names a setting rather than
/// one of the variables of [`NON_SETTING_VARS`] or the test suite's `TESSERA_TEST_*`, which
/// may be exported in the shell that runs the server.
fn is_setting_var(key: &str) -> bool {
    !NON_SETTING_VARS.contains(&key) && !key.starts_with("test_")
}

/// The default configuration file, read from the working directory when present.
pub const DEFAULT_CONFIG_FILE: &str = "tessera.toml";

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
            let table: toml::Table =
                toml::from_str(&text).map_err(|e| syntax_error(&path, &text, &e))?;
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
            if !is_setting_var(&key) {
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
    } else if default.is_string() || (textual && !text.trim_start().starts_with('[')) {
        // A text setting takes `[Example] ` as it is; only an optional one may be a list.
        figment::value::Value::from(text.to_owned())
    } else if text.contains('\\') && !text.is_ascii() {
        // figment 0.10 unescapes quoted text by character index used as a byte index, and
        // panics on non-ASCII text before a backslash; such a value is text to the setting
        // (whose type then refuses it with a clear error).
        figment::value::Value::from(text.to_owned())
    } else {
        text.parse()
            .unwrap_or_else(|never: std::convert::Infallible| match never {})
    }
}

/// A TOML syntax error by line and column, without the line itself: toml's own text quotes
/// it, and the line may hold a secret (`signing_key = "…`).
fn syntax_error(path: &Path, text: &str, error: &toml::de::Error) -> ConfigError {
    let at = error
        .span()
        .and_then(|span| text.get(..span.start))
        .map(|before| {
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            format!(", line {line}, column {column}")
        })
        .unwrap_or_default();
    let message: Vec<&str> = error
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    ConfigError(format!("{}{at}: {}", path.display(), message.join(", ")))
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tessera_core::Secret;

    use super::*;
    use crate::config::tests::{load, vars};

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
    fn a_text_setting_that_looks_like_a_list_stays_text() {
        // Django's EMAIL_SUBJECT_PREFIX is "[Django] ".
        let config = load(&[
            ("TESSERA_EMAIL_SUBJECT_PREFIX", "[Example] "),
            ("TESSERA_PUBLIC_URL", "https://auth.example.com"),
        ])
        .unwrap();
        assert_eq!(config.mail.email_subject_prefix, "[Example] ");
        assert_eq!(config.public_url(), "https://auth.example.com");
        let error = load(&[("TESSERA_PUBLIC_URL", "https://auth.example.com/app/")]).unwrap_err();
        assert!(error.to_string().contains("`public_url`"), "{error}");
    }

    /// The settings that are switches: those whose value, set to `true`, reads back as a
    /// boolean (found from the settings themselves, so a new one cannot be missed).
    fn boolean_settings() -> Vec<String> {
        default_values()
            .into_iter()
            .filter(|(_, default)| default.is_boolean() || default.is_null())
            .map(|(key, _)| key)
            .filter(|key| {
                let name = format!("TESSERA_{}", key.to_uppercase());
                load(&[(name.as_str(), "true")]).is_ok_and(|config| {
                    serde_json::to_value(config).unwrap()[key.as_str()] == serde_json::json!(true)
                })
            })
            .collect()
    }

    #[test]
    fn every_boolean_setting_takes_djangos_spellings_from_the_environment() {
        let switches = boolean_settings();
        for known in [
            "debug",
            "rotate_refresh_tokens",
            "blacklist_after_rotation",
            "update_last_login",
            "check_user_is_active",
            "password_reject_common",
            "password_reject_numeric",
            "auth_cookie_secure",
            "csrf_require_token",
            "cors_allow_all_origins",
            "use_x_forwarded_host",
            "secure_ssl_redirect",
            "secure_hsts_include_subdomains",
            "secure_hsts_preload",
            "session_cookie_secure",
            "csrf_cookie_secure",
            "csrf_cookie_httponly",
        ] {
            assert!(switches.iter().any(|s| s == known), "{known}: {switches:?}");
        }
        let spellings = [
            ("true", true),
            ("True", true),
            ("TRUE", true),
            ("1", true),
            ("yes", true),
            ("Yes", true),
            ("on", true),
            ("ON", true),
            ("false", false),
            ("False", false),
            ("0", false),
            ("no", false),
            ("NO", false),
            ("off", false),
            ("Off", false),
        ];
        for key in &switches {
            let name = format!("TESSERA_{}", key.to_uppercase());
            for (text, expected) in spellings {
                // Each spelling reads as the canonical `true`/`false` does: the same value,
                // or the same refusal when validation refuses that value for the setting.
                let canonical = if expected { "true" } else { "false" };
                match (
                    load(&[(name.as_str(), text)]),
                    load(&[(name.as_str(), canonical)]),
                ) {
                    (Ok(config), Ok(_)) => assert_eq!(
                        serde_json::to_value(config).unwrap()[key.as_str()],
                        serde_json::json!(expected),
                        "{name}={text}"
                    ),
                    (Err(spelt), Err(canonical)) => {
                        assert_eq!(spelt.to_string(), canonical.to_string(), "{name}={text}");
                    }
                    (spelt, _) => panic!("{name}={text} reads unlike {canonical}: {spelt:?}"),
                }
            }
            let err = load(&[(name.as_str(), "maybe")]).unwrap_err().to_string();
            assert!(
                err.contains(&format!("`{key}`")) && err.contains(&name),
                "{name}=maybe: {err}"
            );
        }
    }

    #[test]
    fn toml_booleans_are_real_booleans_or_djangos_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tessera.toml");
        std::fs::write(
            &path,
            "debug = false\nallowed_hosts = [\"api.example.com\"]\nrotate_refresh_tokens = \"False\"\n\
             secure_ssl_redirect = \"yes\"\nsecure_hsts_preload = true\n",
        )
        .unwrap();
        let config = Config::load_from(Some(&path), &[]).unwrap();
        assert!(!config.debug && !config.jwt.rotate_refresh_tokens);
        assert!(config.browser.secure_ssl_redirect && config.browser.secure_hsts_preload);
        std::fs::write(&path, "secure_hsts_preload = \"sometimes\"\n").unwrap();
        let err = Config::load_from(Some(&path), &[]).unwrap_err().to_string();
        assert!(
            err.contains("`secure_hsts_preload`") && err.contains("tessera.toml"),
            "{err}"
        );
    }

    #[test]
    fn djangos_deployment_settings_come_from_a_dotenv_style_environment() {
        let config = load(&[
            ("TESSERA_DEBUG", "False"),
            ("TESSERA_SIGNING_KEY", "k"),
            ("TESSERA_ALLOWED_HOSTS", "api.example.com,.example.org"),
            ("TESSERA_USE_X_FORWARDED_HOST", "True"),
            (
                "TESSERA_SECURE_PROXY_SSL_HEADER",
                "HTTP_X_FORWARDED_PROTO,https",
            ),
            ("TESSERA_SECURE_SSL_REDIRECT", "True"),
            ("TESSERA_SECURE_HSTS_SECONDS", "31536000"),
            ("TESSERA_SECURE_HSTS_INCLUDE_SUBDOMAINS", "True"),
            ("TESSERA_SECURE_HSTS_PRELOAD", "on"),
            ("TESSERA_SESSION_COOKIE_SECURE", "True"),
            ("TESSERA_CSRF_COOKIE_SECURE", "1"),
            ("TESSERA_CSRF_COOKIE_HTTPONLY", "yes"),
            ("TESSERA_SESSION_COOKIE_SAMESITE", "Strict"),
            ("TESSERA_CSRF_COOKIE_SAMESITE", "Strict"),
        ])
        .unwrap();
        let browser = &config.browser;
        assert!(!config.debug);
        assert_eq!(browser.allowed_hosts, ["api.example.com", ".example.org"]);
        assert!(browser.use_x_forwarded_host && browser.secure_ssl_redirect);
        assert_eq!(
            browser.secure_proxy_ssl_header,
            Some(("x-forwarded-proto".to_owned(), "https".to_owned()))
        );
        assert_eq!(browser.secure_hsts_seconds, 31_536_000);
        assert!(browser.secure_hsts_include_subdomains && browser.secure_hsts_preload);
        assert_eq!(browser.session_cookie_secure, Some(true));
        assert_eq!(browser.csrf_cookie_secure, Some(true));
        assert!(browser.csrf_cookie_httponly);
        assert_eq!(
            browser.session_cookie_samesite,
            Some(tessera_axum::CookieSameSite::Strict)
        );
        let list = load(&[(
            "TESSERA_SECURE_PROXY_SSL_HEADER",
            "[\"X-Forwarded-Proto\", \"https\"]",
        )])
        .unwrap();
        assert_eq!(
            list.browser.secure_proxy_ssl_header,
            Some(("x-forwarded-proto".to_owned(), "https".to_owned()))
        );
        for (name, value) in [
            ("TESSERA_SECURE_PROXY_SSL_HEADER", "HTTP_X_FORWARDED_PROTO"),
            ("TESSERA_ALLOWED_HOSTS", "api.example.com/path"),
            ("TESSERA_SECURE_HSTS_SECONDS", "a year"),
        ] {
            let err = load(&[(name, value)]).unwrap_err().to_string();
            assert!(
                err.contains(&name["TESSERA_".len()..].to_lowercase()),
                "{name}={value}: {err}"
            );
        }
    }

    #[test]
    fn debug_mode_serves_djangos_debug_hosts_and_production_only_the_configured_ones() {
        let debug = Config::default().browser_settings();
        assert_eq!(debug.allowed_hosts, [".localhost", "127.0.0.1", "[::1]"]);
        assert!(debug.explain_disallowed_host);
        let mut production = Config {
            debug: false,
            ..Config::default()
        };
        assert!(production.browser_settings().allowed_hosts.is_empty());
        production.browser.allowed_hosts = vec!["api.example.com".into()];
        let settings = production.browser_settings();
        assert_eq!(settings.allowed_hosts, ["api.example.com"]);
        assert!(!settings.explain_disallowed_host);
    }

    #[test]
    fn browser_lists_take_comma_separated_text_from_the_environment() {
        let config = load(&[
            (
                "TESSERA_CSRF_TRUSTED_ORIGINS",
                "https://a.example.com,https://b.example.com",
            ),
            ("TESSERA_CORS_ALLOWED_ORIGINS", "https://app.example.com"),
            ("TESSERA_CORS_ALLOW_METHODS", "GET, POST"),
            ("TESSERA_CORS_ALLOW_HEADERS", "authorization,x-csrftoken"),
            ("TESSERA_CORS_EXPOSE_HEADERS", "[x-request-id]"),
        ])
        .unwrap();
        assert_eq!(
            config.browser.csrf_trusted_origins,
            ["https://a.example.com", "https://b.example.com"]
        );
        assert_eq!(
            config.browser.cors_allowed_origins,
            ["https://app.example.com"]
        );
        assert_eq!(config.browser.cors_allow_methods, ["GET", "POST"]);
        assert_eq!(
            config.browser.cors_allow_headers,
            ["authorization", "x-csrftoken"]
        );
        assert_eq!(config.browser.cors_expose_headers, ["x-request-id"]);
        // Still checked at load: a bad item names its setting.
        let err = load(&[(
            "TESSERA_CSRF_TRUSTED_ORIGINS",
            "https://a.example.com,b.example.com",
        )])
        .unwrap_err()
        .to_string();
        assert!(err.contains("csrf_trusted_origins"), "{err}");
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
    fn a_value_that_trips_figments_unescaping_is_refused_not_a_panic() {
        for text in ["\"é\\n\"", "[\"é\\t\"]", "\"𑍗hJ*7꒳𖩩𑎋`$p'\\Ὕ\""] {
            let err = load(&[("TESSERA_LEEWAY", text)]).unwrap_err().to_string();
            assert!(err.contains("leeway"), "{err}");
        }
    }

    #[test]
    fn a_toml_syntax_error_names_its_place_but_not_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tessera.toml");
        for text in [
            "leeway = 1\nkey_encryption_key = \"secret-kek-0123456789abcdef-0123456789\"\nkey_encryption_key = \"secret-kek-0123456789abcdef-0123456789\"\n",
            "signing_key = \"secret-kek-0123456789abcdef-0123456789\n",
            "signing_key = secret-kek-0123456789abcdef-0123456789\n",
        ] {
            std::fs::write(&path, text).unwrap();
            let err = Config::load_from(Some(&path), &[]).unwrap_err().to_string();
            assert!(!err.contains("secret-kek"), "{err}");
            assert!(err.contains("tessera.toml, line "), "{err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }

    #[test]
    fn the_test_suites_variables_are_not_settings_but_a_misspelt_setting_still_fails() {
        assert!(
            default_values().keys().all(|key| is_setting_var(key)),
            "a setting's name collides with a variable that is not one"
        );
        let config = load(&[
            (
                "TESSERA_TEST_POSTGRES_URL",
                "postgres://postgres@127.0.0.1/test",
            ),
            ("TESSERA_TEST_ANYTHING", "1"),
            ("TESSERA_REQUIRE_POSTGRES", "1"),
            ("TESSERA_LEEWAY", "3"),
        ])
        .unwrap();
        assert_eq!(config.jwt.leeway, Duration::from_secs(3));
        assert_eq!(config.database_url, None);
        let err = load(&[("TESSERA_TEST_POSTGRES_URL", "x"), ("TESSERA_TESTS", "1")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown setting in environment variable TESSERA_TESTS"),
            "{err}"
        );
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
}
