//! Metrics of the HTTP traffic (through the `metrics` facade: they cost nothing until an
//! application installs a recorder, as the `tessera` server does for `/metrics`).
//!
//! Every label value comes from a closed set, whatever a client sends: a recorder keeps each
//! label set it sees for the life of the process, so a value taken from the request (a
//! made-up method, a path) would let any client grow its memory without bound.

use std::borrow::Cow;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

/// The `route` label of a request that matched no route.
const UNMATCHED_ROUTE: &str = "unmatched";

/// The most characters of a request-derived value (method, path, user agent, …) that this
/// crate writes into a log line; longer values are cut there, with a trailing `…`.
pub const MAX_LOGGED_CHARS: usize = 128;

/// The `method` label of a request: the method itself when it is one of `GET`, `HEAD`,
/// `POST`, `PUT`, `PATCH`, `DELETE` and `OPTIONS`, and `other` for anything else (methods
/// are case-sensitive: `get` is `other`).
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A request-derived value as it may appear in a log line: at most [`MAX_LOGGED_CHARS`]
/// characters, longer ones cut with a trailing `…`.
pub fn loggable(value: &str) -> Cow<'_, str> {
    match value.char_indices().nth(MAX_LOGGED_CHARS) {
        None => Cow::Borrowed(value),
        Some((end, _)) => Cow::Owned(format!("{}…", &value[..end])),
    }
}

/// The paths of the account page whose rest is a secret: the links of the mails
/// (`/account/reset/{uid}/{token}/`, `/account/verify-email/{key}/`,
/// `/account/email-change/{key}/`).
const TOKEN_PATH_PREFIXES: [&str; 3] = [
    "/account/reset/",
    "/account/verify-email/",
    "/account/email-change/",
];

/// A request path as it may appear in a log line: [`loggable`], and a path under one of
/// the account page's link prefixes (`/account/reset/`, `/account/verify-email/`,
/// `/account/email-change/`, wherever it starts, in any case) cut down to that prefix, so
/// that the token a mail's link carries never reaches the log.
pub fn loggable_path(path: &str) -> Cow<'_, str> {
    // Only what `loggable` keeps could leak: search that much, whatever the path's length.
    let kept = loggable(path);
    let bytes = kept.as_bytes();
    for prefix in TOKEN_PATH_PREFIXES {
        let found = bytes
            .windows(prefix.len())
            .position(|w| w.eq_ignore_ascii_case(prefix.as_bytes()));
        if let Some(start) = found {
            return Cow::Owned(format!("{}…", &kept[..start + prefix.len()]));
        }
    }
    kept
}

/// Counts requests by method, route and status, and times them by method and route. The
/// labels come from closed sets: the method from [`method_label`], the route from the
/// pattern the request matched (`/api/users/{id}/`, never the path itself) or `unmatched`.
/// Install it with `Router::route_layer` so that the matched route is
/// known, and on the fallback for the requests that match none.
pub async fn track_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED_ROUTE.to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("tessera_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("tessera_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_seven_are_other() {
        for (method, label) in [
            (Method::GET, "GET"),
            (Method::HEAD, "HEAD"),
            (Method::POST, "POST"),
            (Method::PUT, "PUT"),
            (Method::PATCH, "PATCH"),
            (Method::DELETE, "DELETE"),
            (Method::OPTIONS, "OPTIONS"),
            (Method::TRACE, "other"),
            (Method::CONNECT, "other"),
        ] {
            assert_eq!(method_label(&method), label);
        }
        for odd in ["get", "PROPFIND", "XQWERTYUIOP", &"X".repeat(8000)] {
            let method = Method::from_bytes(odd.as_bytes()).expect("a valid method");
            assert_eq!(method_label(&method), "other", "{odd}");
        }
    }

    #[test]
    fn logged_paths_stop_before_a_mail_links_token() {
        let token = "x4Vb0WmJq2r7_tM1aZ9kQfYc3uHs8nLpD5eGiOw6TjA";
        for (path, logged) in [
            (format!("/account/reset/MQ/{token}/"), "/account/reset/…"),
            (
                format!("/account/verify-email/{token}/"),
                "/account/verify-email/…",
            ),
            (
                format!("/account/email-change/{token}"),
                "/account/email-change/…",
            ),
            (
                format!("/x/Account/Reset/MQ/{token}/"),
                "/x/Account/Reset/…",
            ),
        ] {
            assert_eq!(loggable_path(&path), logged);
        }
        assert_eq!(loggable_path("/account/"), "/account/");
        assert_eq!(
            loggable_path("/api/auth/password/reset/"),
            "/api/auth/password/reset/"
        );
        let long = format!("/{}/account/reset/MQ/{token}/", "a".repeat(100));
        assert!(
            !loggable_path(&long).contains("x4Vb"),
            "{}",
            loggable_path(&long)
        );
    }

    #[test]
    fn logged_values_are_cut_at_the_limit() {
        let short = "/api/token/";
        assert!(matches!(loggable(short), Cow::Borrowed(s) if s == short));
        let exact = "a".repeat(MAX_LOGGED_CHARS);
        assert_eq!(loggable(&exact), exact);
        let long = "é".repeat(10 * MAX_LOGGED_CHARS);
        let cut = loggable(&long);
        assert_eq!(cut.chars().count(), MAX_LOGGED_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert!(cut.starts_with(&"é".repeat(MAX_LOGGED_CHARS)));
    }
}
