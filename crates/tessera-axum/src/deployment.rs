//! Django's request checks for deployment (its `SecurityMiddleware` and host validation),
//! as [`crate::install`]'s middleware applies them:
//! the host check (`ALLOWED_HOSTS`, `USE_X_FORWARDED_HOST`), the HTTPS redirect
//! (`SECURE_SSL_REDIRECT`), whether a request came over HTTPS (`SECURE_PROXY_SSL_HEADER`), and
//! `Strict-Transport-Security` (`SECURE_HSTS_*`).
//!
//! The host is checked as Django's `HttpRequest.get_host` checks it: lower-cased, its port
//! and a trailing dot dropped, then `example.com` matches itself, `.example.com` the domain
//! and every subdomain, `*` anything. A refused request gets 400 before anything else runs:
//! in debug mode `{"detail":"Invalid HTTP_HOST header: 'evil.com'. You may need to add
//! 'evil.com' to ALLOWED_HOSTS."}` (Django's message), otherwise `{"detail":"Bad Request
//! (400)"}` — Django's production answer, which does not echo the host.

use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::browser::{BrowserSettings, HEALTH_CHECK_PATHS, proxy_header_name};
use crate::error::ApiError;

/// What the middleware learnt about a request before its handler: whether it came over
/// HTTPS (for `Strict-Transport-Security` on the answer).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Transport {
    secure: bool,
}

/// The host check and the HTTPS redirect, in Django's order (the redirect names the checked
/// host); the refusal or redirect, if any, and how the request came.
pub(crate) fn check_request(
    settings: &BrowserSettings,
    parts: &Parts,
) -> (Transport, Option<Response>) {
    let transport = Transport {
        secure: is_secure(settings, parts),
    };
    let health_check = HEALTH_CHECK_PATHS.contains(&parts.uri.path());
    let checking_hosts = !settings.allowed_hosts.is_empty();
    if health_check || (!checking_hosts && !settings.secure_ssl_redirect) {
        return (transport, None);
    }
    let host = request_host(settings, parts);
    let (domain, _port) = split_domain_port(&host);
    let allowed =
        !domain.is_empty() && (!checking_hosts || validate_host(&domain, &settings.allowed_hosts));
    if !allowed {
        return (transport, Some(disallowed_host(settings, &host, &domain)));
    }
    if settings.secure_ssl_redirect && !transport.secure {
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", axum::http::uri::PathAndQuery::as_str);
        // The host passed Django's host syntax, and the path is a URI's: the value is valid.
        let location = HeaderValue::from_str(&format!("https://{host}{path}"));
        if let Ok(location) = location {
            let mut response = StatusCode::MOVED_PERMANENTLY.into_response();
            response.headers_mut().insert(header::LOCATION, location);
            return (transport, Some(response));
        }
    }
    (transport, None)
}

/// The scheme and host a request was made to, as Django's `build_absolute_uri` sees them
/// (`https://api.example.com:8443`): for absolute links in answers. The middleware puts it
/// in the request's extensions when the host is well-formed.
#[derive(Debug, Clone)]
pub(crate) struct RequestOrigin(pub(crate) String);

/// The request's [`RequestOrigin`], when its host is well-formed.
pub(crate) fn request_origin(
    settings: &BrowserSettings,
    parts: &Parts,
    transport: Transport,
) -> Option<RequestOrigin> {
    let host = request_host(settings, parts);
    let (domain, _) = split_domain_port(&host);
    if domain.is_empty() {
        return None;
    }
    let scheme = if transport.secure { "https" } else { "http" };
    Some(RequestOrigin(format!("{scheme}://{host}")))
}

/// Adds `Strict-Transport-Security` to the answer to a request that came over HTTPS, as
/// Django's `SecurityMiddleware` does (never over plain HTTP, never replacing one).
pub(crate) fn add_hsts(settings: &BrowserSettings, transport: Transport, response: &mut Response) {
    if settings.secure_hsts_seconds == 0
        || !transport.secure
        || response
            .headers()
            .contains_key(header::STRICT_TRANSPORT_SECURITY)
    {
        return;
    }
    let mut value = format!("max-age={}", settings.secure_hsts_seconds);
    if settings.secure_hsts_include_subdomains {
        value.push_str("; includeSubDomains");
    }
    if settings.secure_hsts_preload {
        value.push_str("; preload");
    }
    if let Ok(value) = HeaderValue::from_str(&value) {
        response
            .headers_mut()
            .insert(header::STRICT_TRANSPORT_SECURITY, value);
    }
}

/// Whether the request came over HTTPS: only when the proxy's header is configured and
/// carries the expected value (its first comma-separated value, as Django reads it).
///
/// Never the request's own scheme: the client writes it (an absolute-form request line,
/// `GET https://api.example.com/ HTTP/1.1` over plain HTTP, or HTTP/2's `:scheme`), and the
/// server itself speaks plain HTTP — trusting it would skip the HTTPS redirect and send
/// `Strict-Transport-Security` over plain HTTP. Django's `is_secure` likewise reads the
/// scheme from the server (WSGI's `wsgi.url_scheme`), never from the request line.
pub(crate) fn is_secure(settings: &BrowserSettings, parts: &Parts) -> bool {
    let Some((name, expected)) = &settings.secure_proxy_ssl_header else {
        return false;
    };
    parts
        .headers
        .get(proxy_header_name(name).as_str())
        .is_some_and(|value| {
            let text = String::from_utf8_lossy(value.as_bytes());
            text.split(',').next().unwrap_or("").trim() == expected.as_str()
        })
}

/// The host the request names: `X-Forwarded-Host` when trusted and present, else `Host`,
/// else the request target's authority (HTTP/2).
fn request_host(settings: &BrowserSettings, parts: &Parts) -> String {
    let forwarded = settings
        .use_x_forwarded_host
        .then(|| parts.headers.get("x-forwarded-host"))
        .flatten();
    match forwarded.or_else(|| parts.headers.get(header::HOST)) {
        Some(value) => String::from_utf8_lossy(value.as_bytes()).into_owned(),
        None => parts
            .uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default(),
    }
}

/// Django's `split_domain_port`: the lower-cased domain without a trailing dot, and the
/// port; both empty when the host is not `name[:port]` or `[ipv6][:port]`.
fn split_domain_port(host: &str) -> (String, String) {
    let host = host.to_ascii_lowercase();
    let (domain, port) = if host.starts_with('[') {
        match host.find(']') {
            Some(end) => (&host[..=end], &host[end + 1..]),
            None => return (String::new(), String::new()),
        }
    } else {
        match host.rfind(':') {
            Some(colon) => (&host[..colon], &host[colon..]),
            None => (host.as_str(), ""),
        }
    };
    let port_ok = port.is_empty()
        || (port.len() > 1
            && port[1..].bytes().all(|b| b.is_ascii_digit())
            && port.starts_with(':'));
    let domain_ok = if let Some(inner) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']'))
    {
        // `\[[a-f0-9]*:[a-f0-9.:]+\]`
        match inner.split_once(':') {
            Some((head, tail)) => {
                head.bytes().all(|b| b.is_ascii_hexdigit())
                    && !tail.is_empty()
                    && tail
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
            }
            None => false,
        }
    } else {
        !domain.is_empty()
            && domain
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    };
    if !port_ok || !domain_ok {
        return (String::new(), String::new());
    }
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    (domain.to_owned(), port.trim_start_matches(':').to_owned())
}

/// Django's `validate_host`: whether `domain` (lower case, from [`split_domain_port`])
/// matches one of the patterns.
fn validate_host(domain: &str, allowed: &[String]) -> bool {
    allowed.iter().any(|pattern| {
        let pattern = pattern.to_ascii_lowercase();
        pattern == "*"
            || pattern == domain
            || (pattern.starts_with('.') && (domain.ends_with(&pattern) || domain == &pattern[1..]))
    })
}

/// The 400 for a host not allowed; Django's message only when `explain_disallowed_host`.
fn disallowed_host(settings: &BrowserSettings, host: &str, domain: &str) -> Response {
    tracing::warn!(
        host = %crate::observe::loggable(host),
        "refused a request for a host not in allowed_hosts"
    );
    let detail = if settings.explain_disallowed_host {
        let mut message = format!("Invalid HTTP_HOST header: {}.", py_repr(host));
        if domain.is_empty() {
            message.push_str(" The domain name provided is not valid according to RFC 1034/1035.");
        } else {
            message.push_str(&format!(
                " You may need to add {} to ALLOWED_HOSTS.",
                py_repr(domain)
            ));
        }
        message
    } else {
        "Bad Request (400)".to_owned()
    };
    ApiError::Parse(detail).into_response()
}

/// Python's `repr` of a string, as Django's `%r` writes it: single quotes (double when the
/// text holds a single quote and no double one), backslash escapes for quotes, backslashes
/// and control characters.
fn py_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn hosts_are_split_as_django_splits_them() {
        for (host, domain, port) in [
            ("example.com", "example.com", ""),
            ("Example.COM:8000", "example.com", "8000"),
            ("example.com.", "example.com", ""),
            ("127.0.0.1:80", "127.0.0.1", "80"),
            ("[::1]", "[::1]", ""),
            ("[::1]:8000", "[::1]", "8000"),
            ("[2001:db8::1]:443", "[2001:db8::1]", "443"),
            ("", "", ""),
            ("evil.com/path", "", ""),
            ("example.com:", "", ""),
            ("example.com:80a", "", ""),
            ("exa mple.com", "", ""),
            ("user@example.com", "", ""),
            ("[::1", "", ""),
            ("[zz::1]", "", ""),
            ("ex_ample.com", "", ""),
        ] {
            assert_eq!(
                split_domain_port(host),
                (domain.to_owned(), port.to_owned()),
                "{host}"
            );
        }
    }

    #[test]
    fn hosts_match_exactly_by_domain_or_wildcard() {
        let allowed = hosts(&["api.example.com", ".example.org", "[::1]", "127.0.0.1"]);
        for ok in [
            "api.example.com",
            "example.org",
            "a.b.example.org",
            "[::1]",
            "127.0.0.1",
        ] {
            assert!(validate_host(ok, &allowed), "{ok}");
        }
        for refused in [
            "example.com",
            "www.example.com",
            "evilexample.org",
            "127.0.0.2",
            "localhost",
        ] {
            assert!(!validate_host(refused, &allowed), "{refused}");
        }
        assert!(validate_host("anything.example", &hosts(&["*"])));
        assert!(validate_host(
            "api.example.com",
            &hosts(&["API.Example.com"])
        ));
        assert!(!validate_host("x", &[]));
    }

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut request = axum::http::Request::builder().uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).expect("a request").into_parts().0
    }

    #[test]
    fn only_the_trusted_proxy_header_makes_a_request_secure() {
        let mut settings = BrowserSettings::default();
        // The client's own scheme (absolute-form request line, HTTP/2 `:scheme`) counts
        // for nothing, with or without a proxy header configured.
        let absolute = parts("https://api.example.com/api/auth/me/", &[]);
        assert_eq!(absolute.uri.scheme_str(), Some("https"));
        assert!(!is_secure(&settings, &absolute));
        let forwarded = parts("/", &[("x-forwarded-proto", "https")]);
        assert!(!is_secure(&settings, &forwarded), "header not trusted");

        settings.secure_proxy_ssl_header = Some(("x-forwarded-proto".into(), "https".into()));
        assert!(!is_secure(&settings, &absolute));
        assert!(is_secure(&settings, &forwarded));
        assert!(is_secure(
            &settings,
            &parts("/", &[("x-forwarded-proto", "https, http")])
        ));
        assert!(!is_secure(
            &settings,
            &parts("https://api.example.com/", &[("x-forwarded-proto", "http")])
        ));
    }

    #[test]
    fn an_absolute_https_request_line_is_still_redirected_and_gets_no_hsts() {
        let settings = BrowserSettings {
            allowed_hosts: vec!["api.example.com".into()],
            secure_ssl_redirect: true,
            secure_hsts_seconds: 3600,
            ..BrowserSettings::default()
        };
        let request = parts(
            "https://api.example.com/api/auth/me/",
            &[("host", "api.example.com")],
        );
        let (transport, answer) = check_request(&settings, &request);
        let answer = answer.expect("redirected");
        assert_eq!(answer.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(
            answer.headers()[header::LOCATION],
            "https://api.example.com/api/auth/me/"
        );
        let mut response = StatusCode::OK.into_response();
        add_hsts(&settings, transport, &mut response);
        assert!(
            !response
                .headers()
                .contains_key(header::STRICT_TRANSPORT_SECURITY)
        );
    }

    #[test]
    fn reprs_are_pythons() {
        assert_eq!(py_repr("evil.com"), "'evil.com'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(py_repr("a\\b\x01"), "'a\\\\b\\x01'");
    }
}
