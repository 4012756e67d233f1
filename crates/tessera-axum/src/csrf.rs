//! CSRF protection for cookie-authenticated requests.
//!
//! A state-changing request that a browser sends with Tessera's cookies (and no
//! `Authorization` header) must come from the server's own origin or a trusted one: the
//! Fetch-metadata defence of Go 1.25's `CrossOriginProtection` and tower-http 0.7's CSRF
//! layer, judged on `Sec-Fetch-Site` and `Origin`. Requests carrying neither header (not
//! browsers) pass. On top, Django's double-submit token: when the request carries the CSRF
//! header — or always, with `csrf_require_token` — it must equal the CSRF cookie, compared in
//! constant time. Bearer-authenticated requests are not affected, except on the cookie
//! routes, which act on the cookies whatever `Authorization` header comes along.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use subtle::ConstantTimeEq as _;

use crate::cookies::read_cookie;
use crate::observe::loggable;
use crate::state::Tessera;

fn refused(reason: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::Json(json!({"detail": format!("CSRF Failed: {reason}")})),
    )
        .into_response()
}

/// Whether the auth header names an accepted scheme (`Bearer …`), so that authentication
/// reads the header and never the access cookie — a junk or malformed token included, which
/// fails authentication rather than falling back to the cookie (see [`crate::raw_token`]).
pub(crate) fn header_takes_precedence(tessera: &Tessera, headers: &HeaderMap) -> bool {
    headers.get(tessera.auth_header()).is_some_and(|v| {
        let mut words = v
            .as_bytes()
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty());
        words.next().is_some_and(|scheme| {
            tessera
                .settings()
                .auth_header_types
                .iter()
                .any(|t| t.as_bytes() == scheme)
        })
    })
}

/// Whether the request would act on Tessera's cookies, decided by whether a cookie will be
/// used rather than by which headers are present:
/// - a cookie route (`cookie_route`) always is, whatever `Authorization` header comes along:
///   it reads the refresh cookie or sets the cookies, and never looks at that header;
/// - any other request is when it carries a token cookie and no auth header of an accepted
///   scheme, which would take precedence over the access cookie.
fn cookie_authenticated(tessera: &Tessera, parts: &Parts, cookie_route: bool) -> bool {
    if cookie_route {
        return true;
    }
    let headers = &parts.headers;
    let browser = tessera.browser();
    !header_takes_precedence(tessera, headers)
        && (read_cookie(headers, &browser.auth_cookie_access_name).is_some()
            || read_cookie(headers, &browser.auth_cookie_refresh_name).is_some())
}

/// The server's own origin(s) as the request names it (`Host`), for both schemes.
fn own_origins(headers: &HeaderMap) -> Vec<String> {
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) => vec![format!("http://{host}"), format!("https://{host}")],
        None => Vec::new(),
    }
}

/// The cross-origin check; `Err` carries DRF's reason.
fn check_origin(tessera: &Tessera, headers: &HeaderMap) -> Result<(), String> {
    let listed = |origin: &str| {
        tessera
            .browser()
            .csrf_trusted_origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
    };
    let trusted = |origin: &str| {
        own_origins(headers)
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
            || listed(origin)
    };
    let origin = headers
        .get(header::ORIGIN)
        .map(|o| String::from_utf8_lossy(o.as_bytes()).into_owned());
    match headers.get("sec-fetch-site").map(|v| v.as_bytes()) {
        Some(b"same-origin" | b"none") => Ok(()),
        // The browser's verdict wins over `Host` (which lacks the scheme: `http://host` is
        // cross-site to `https://host`); only a configured trusted origin is let through, as
        // Go's `CrossOriginProtection` does.
        Some(_) => match origin {
            Some(origin) if listed(&origin) => Ok(()),
            Some(origin) => Err(format!(
                "Origin checking failed - {origin} does not match any trusted origins."
            )),
            None => Err("Cross-site request refused.".into()),
        },
        None => match origin {
            None => Ok(()),
            Some(origin) if trusted(&origin) => Ok(()),
            Some(origin) => Err(format!(
                "Origin checking failed - {origin} does not match any trusted origins."
            )),
        },
    }
}

/// The origin check of a WebSocket handshake authenticated by the access cookie (against
/// cross-site WebSocket hijacking: a browser sends the cookie with a handshake any page
/// starts, and the same-origin policy does not apply to WebSockets). Browsers always send
/// `Origin` with a handshake; it must be the server's own origin (from `Host`), a
/// `csrf_trusted_origins` entry or a `cors_allowed_origins` entry. `Err` carries DRF's
/// reason.
pub(crate) fn check_websocket_origin(tessera: &Tessera, headers: &HeaderMap) -> Result<(), String> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Err("Origin header missing.".into());
    };
    let origin = String::from_utf8_lossy(origin.as_bytes());
    let browser = tessera.browser();
    let trusted = own_origins(headers)
        .iter()
        .chain(&browser.csrf_trusted_origins)
        .chain(&browser.cors_allowed_origins)
        .any(|o| o.eq_ignore_ascii_case(&origin));
    if trusted {
        Ok(())
    } else {
        Err(format!(
            "Origin checking failed - {origin} does not match any trusted origins."
        ))
    }
}

/// The double-submit check; `Err` carries DRF's reason.
fn check_token(tessera: &Tessera, headers: &HeaderMap) -> Result<(), String> {
    let browser = tessera.browser();
    let sent = headers
        .get(browser.csrf_header_name.as_str())
        .map(|v| v.as_bytes());
    if sent.is_none() && !browser.csrf_require_token {
        return Ok(());
    }
    let Some(cookie) = read_cookie(headers, &browser.csrf_cookie_name) else {
        return Err("CSRF cookie not set.".into());
    };
    let Some(sent) = sent.filter(|s| !s.is_empty()) else {
        return Err("CSRF token missing.".into());
    };
    if bool::from(sent.ct_eq(cookie.as_bytes())) {
        Ok(())
    } else {
        Err("CSRF token incorrect.".into())
    }
}

/// The 403 `CSRF Failed: …` answer for an unsafe, cookie-authenticated request that fails
/// the origin or double-submit check; `None` when the request may go on. The middleware
/// asks it of every request; the cookie routes ask it with `cookie_route`, as they read the
/// refresh cookie and so are protected even before the browser holds an access cookie
/// (login CSRF), wherever they are mounted.
pub(crate) fn csrf_refusal(
    tessera: &Tessera,
    parts: &Parts,
    cookie_route: bool,
) -> Option<Response> {
    let safe = matches!(
        parts.method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    if !safe && cookie_authenticated(tessera, parts, cookie_route) {
        let headers = &parts.headers;
        if let Err(reason) =
            check_origin(tessera, headers).and_then(|()| check_token(tessera, headers))
        {
            tracing::warn!(
                path = %crate::observe::loggable_path(parts.uri.path()),
                reason = %loggable(&reason),
                "CSRF check refused a request"
            );
            return Some(refused(&reason));
        }
    }
    None
}

/// A cookie route's CSRF check, as an extractor: the request passed it, or was refused with
/// 403 `CSRF Failed: …`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CookieRouteCsrf;

impl<S> FromRequestParts<S> for CookieRouteCsrf
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match csrf_refusal(&Tessera::from_ref(state), parts, true) {
            Some(refused) => Err(refused),
            None => Ok(Self),
        }
    }
}
