//! The account page at `/account/`: plain HTML, CSS and JavaScript shipped inside the
//! binary, working in cookie mode only, under a strict Content-Security-Policy.
//!
//! The links of the mails (`/account/reset/{uid}/{token}/`, `/account/verify-email/{key}/`,
//! `/account/email-change/{key}/`) serve the same page, which reads its path and shows the
//! matching form: opening a link consumes nothing — a link scanner that fetches every URL
//! of a mail changes nothing — and only the form's button, pressed by the user, sends the
//! token. Those pages send no `Referer` and are never cached. With `email_backend = "off"`
//! the link pages are not there (404) and the page offers no mail form.
//!
//! The page also runs the second step of a sign-in (TOTP, recovery codes, passkeys), the
//! account's second factors and passkeys, and sign-in with the configured providers; it
//! learns from the server whether a passkey signs in alone (`passkey_login`).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use tessera_axum::cookies::{csrf_cookie, new_csrf_token, read_cookie};
use tessera_axum::routes::RoutePaths;
use tessera_axum::{ApiError, Tessera};

const INDEX: &str = include_str!("../assets/account/index.html");
const SCRIPT: &str = include_str!("../assets/account/app.js");
/// The shared stylesheet, then this page's own: one file served at `app.css`.
const STYLE: &str = concat!(
    include_str!("../assets/base.css"),
    include_str!("../assets/account/app.css")
);

/// The page's policy: its own script and style files only, no inline code, no framing.
pub const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The paths of the pages the links in mails open: the page's script shows the form of each.
pub const LINK_PAGES: [&str; 3] = [
    "/account/reset/{uid}/{token}/",
    "/account/verify-email/{key}/",
    "/account/email-change/{key}/",
];

/// `GET /account/`, its script and style, `/account` redirecting to `/account/`, and the
/// pages of the links in mails ([`LINK_PAGES`]); the page calls the auth routes under
/// `paths`' prefix.
pub fn account_page(paths: &RoutePaths) -> Router<Tessera> {
    let auth_api = attribute(&paths.api_path("auth/"));
    let mut router = Router::new();
    for path in LINK_PAGES {
        let auth_api = auth_api.clone();
        router = router.route(
            path,
            get(
                move |state: State<Tessera>, headers: HeaderMap| async move {
                    if !state.auth().mail_enabled() {
                        // No mail was sent: no link can name this page.
                        return ApiError::NotFound.into_response();
                    }
                    let mut response = page(state, headers, auth_api).await;
                    // The path holds a token: no other site may learn it from a Referer.
                    response.headers_mut().insert(
                        header::REFERRER_POLICY,
                        HeaderValue::from_static("no-referrer"),
                    );
                    response
                },
            ),
        );
    }
    router
        .route(
            "/account",
            get(|| async { Redirect::permanent("/account/") }),
        )
        .route(
            "/account/",
            get(move |state: State<Tessera>, headers: HeaderMap| page(state, headers, auth_api)),
        )
        .route(
            "/account/app.js",
            get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/account/app.css",
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        )
}

/// Escapes text for an HTML attribute.
pub(crate) fn attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

async fn page(State(tessera): State<Tessera>, headers: HeaderMap, auth_api: String) -> Response {
    let browser = tessera.browser();
    // The forms follow `username_field`; an address is optional only in username mode.
    let email_required = !tessera.auth().email_is_optional();
    let html = INDEX
        .replace("{{csrf_cookie}}", &attribute(&browser.csrf_cookie_name))
        .replace("{{csrf_header}}", &attribute(&browser.csrf_header_name))
        .replace(
            "{{login_field}}",
            tessera.settings().username_field.as_str(),
        )
        .replace("{{auth_api}}", &auth_api)
        .replace(
            "{{email_required}}",
            if email_required { "true" } else { "false" },
        )
        .replace(
            "{{mail}}",
            if tessera.auth().mail_enabled() {
                "on"
            } else {
                "off"
            },
        )
        // Whether the sign-in form offers "Sign in with a passkey" (`passkey_login`).
        .replace(
            "{{passkey_login}}",
            if tessera.auth().passkey_settings().passkey_login {
                "true"
            } else {
                "false"
            },
        );
    html_page(html, &headers, browser)
}

/// A page of the binary's: `html` under [`PAGE_POLICY`], never stored, with a CSRF cookie
/// when the request carries none (the page sends the double-submit token with every change).
pub(crate) fn html_page(
    html: String,
    headers: &HeaderMap,
    browser: &tessera_axum::BrowserSettings,
) -> Response {
    let mut response = (StatusCode::OK, html).into_response();
    let set = response.headers_mut();
    set.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    set.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_POLICY),
    );
    set.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if read_cookie(headers, &browser.csrf_cookie_name).is_none() {
        set.append(header::SET_COOKIE, csrf_cookie(browser, &new_csrf_token()));
    }
    response
}

/// A static asset of a page, revalidated on each use.
pub(crate) fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let set = response.headers_mut();
    set.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    set.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
