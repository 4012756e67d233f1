//! Reading and writing the token and CSRF cookies.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use cookie::{Cookie, SameSite};

use crate::browser::{BrowserSettings, CookieSameSite};

/// The value of cookie `name` in the request, if it has one.
pub fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|value| !value.is_empty())
}

fn same_site(value: CookieSameSite) -> SameSite {
    match value {
        CookieSameSite::Lax => SameSite::Lax,
        CookieSameSite::Strict => SameSite::Strict,
        CookieSameSite::None => SameSite::None,
    }
}

fn header_value(cookie: &Cookie<'_>) -> HeaderValue {
    HeaderValue::from_str(&cookie.to_string()).expect("cookie names and values are header-safe")
}

/// When a cookie living `lifetime` from now expires, for its `Expires` attribute (written
/// next to `Max-Age`, as Django's `set_cookie` writes both).
fn expires_after(lifetime: cookie::time::Duration) -> cookie::time::OffsetDateTime {
    cookie::time::OffsetDateTime::now_utc()
        .checked_add(lifetime)
        .unwrap_or(
            cookie::time::OffsetDateTime::UNIX_EPOCH + cookie::time::Duration::days(365 * 8000),
        )
}

/// `Set-Cookie` for a token cookie: HttpOnly, with the configured path, domain, SameSite and
/// Secure, living as long as the token (`Max-Age` and `Expires`).
pub fn token_cookie(
    settings: &BrowserSettings,
    name: &str,
    path: &str,
    value: &str,
    lifetime: Duration,
) -> HeaderValue {
    let max_age =
        cookie::time::Duration::seconds(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX));
    let mut cookie = Cookie::build((name.to_owned(), value.to_owned()))
        .path(path.to_owned())
        .http_only(true)
        .secure(settings.secure())
        .same_site(same_site(settings.token_same_site()))
        .max_age(max_age)
        .expires(expires_after(max_age))
        .build();
    if let Some(domain) = &settings.auth_cookie_domain {
        cookie.set_domain(domain.clone());
    }
    header_value(&cookie)
}

/// `Set-Cookie` that deletes a cookie set with this name and path.
pub fn expired_cookie(settings: &BrowserSettings, name: &str, path: &str) -> HeaderValue {
    let mut cookie = Cookie::build((name.to_owned(), String::new()))
        .path(path.to_owned())
        .http_only(true)
        .secure(settings.secure())
        .same_site(same_site(settings.token_same_site()))
        .max_age(cookie::time::Duration::ZERO)
        .expires(cookie::time::OffsetDateTime::UNIX_EPOCH)
        .build();
    if let Some(domain) = &settings.auth_cookie_domain {
        cookie.set_domain(domain.clone());
    }
    header_value(&cookie)
}

/// A fresh random CSRF token: 32 bytes, base64url.
pub fn new_csrf_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// `Set-Cookie` for the CSRF cookie: a year long, as Django sets `csrftoken`; readable by the
/// page's script unless `csrf_cookie_httponly`, with `csrf_cookie_secure` and
/// `csrf_cookie_samesite`.
pub fn csrf_cookie(settings: &BrowserSettings, token: &str) -> HeaderValue {
    let max_age = cookie::time::Duration::days(365);
    let cookie = Cookie::build((settings.csrf_cookie_name.clone(), token.to_owned()))
        .path("/")
        .http_only(settings.csrf_cookie_httponly)
        .secure(settings.csrf_secure())
        .same_site(same_site(settings.csrf_cookie_samesite))
        .max_age(max_age)
        .expires(expires_after(max_age))
        .build();
    header_value(&cookie)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_from_every_cookie_header() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; access_token=tok.en.x"),
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("csrftoken=\"abc\"; empty="),
        );
        assert_eq!(read_cookie(&headers, "access_token"), Some("tok.en.x"));
        assert_eq!(read_cookie(&headers, "csrftoken"), Some("abc"));
        assert_eq!(read_cookie(&headers, "empty"), None);
        assert_eq!(read_cookie(&headers, "missing"), None);
    }

    #[test]
    fn token_cookies_are_httponly_with_the_configured_attributes() {
        let settings = BrowserSettings::default();
        let text = token_cookie(
            &settings,
            "refresh_token",
            "/api/auth/",
            "r.t.s",
            Duration::from_secs(604_800),
        );
        let text = text.to_str().unwrap();
        for part in [
            "refresh_token=r.t.s",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/api/auth/",
            "Max-Age=604800",
        ] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        let insecure = BrowserSettings {
            auth_cookie_secure: Some(false),
            ..BrowserSettings::default()
        };
        let text = token_cookie(
            &insecure,
            "access_token",
            "/",
            "a",
            Duration::from_secs(900),
        );
        assert!(!text.to_str().unwrap().contains("Secure"));
        let gone = expired_cookie(&settings, "access_token", "/");
        assert!(gone.to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn csrf_tokens_are_random_and_script_readable() {
        let (a, b) = (new_csrf_token(), new_csrf_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        let text = csrf_cookie(&BrowserSettings::default(), &a);
        assert!(!text.to_str().unwrap().contains("HttpOnly"));
    }
}
