//! Cookie mode (docs/API.md §6): each call says which cookies it sends, as the tests keep them
//! themselves rather than in a client.

use axum::http::Method;
use axum::http::header;
use serde_json::{Value, json};
use tessera_axum::testing::{RequestBuilder, TestApp};

use super::{Api, Reply};

/// The three cookies a browser holds after a cookie-mode login.
#[derive(Debug, Clone)]
pub struct BrowserCookies {
    pub access: String,
    pub refresh: String,
    pub csrf: String,
}

/// A `Cookie` header value for these name/value pairs.
pub fn cookie_header(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The cookie routes, for [`TestApp`].
pub trait CookieApi: Api {
    /// A request carrying exactly these cookies (no `Cookie` header when there are none).
    fn with_cookies(&self, method: Method, path: &str, cookies: &[(&str, &str)]) -> RequestBuilder {
        let request = self.request(method, path);
        if cookies.is_empty() {
            request
        } else {
            request.header(header::COOKIE, cookie_header(cookies))
        }
    }

    /// A POST to a cookie route (`/api/auth/cookie/<route>/`) with these cookies and a JSON body.
    async fn cookie_post(&self, route: &str, cookies: &[(&str, &str)], body: &Value) -> Reply {
        let path = format!("/api/auth/cookie/{route}/");
        self.send(self.with_cookies(Method::POST, &path, cookies).json(body))
            .await
    }

    /// `POST /api/auth/cookie/login/` with no cookies.
    async fn cookie_login(&self, email: &str, password: &str) -> Reply {
        self.cookie_post("login", &[], &json!({"email": email, "password": password}))
            .await
    }

    /// Logs in through the cookie route and returns the cookies set; it must succeed.
    async fn cookie_session(&self, email: &str, password: &str) -> BrowserCookies {
        let reply = self.cookie_login(email, password).await;
        reply.ok();
        let browser = self.app().tessera.browser();
        BrowserCookies {
            access: reply.cookie(&browser.auth_cookie_access_name).value,
            refresh: reply.cookie(&browser.auth_cookie_refresh_name).value,
            csrf: reply.cookie(&browser.csrf_cookie_name).value,
        }
    }
}

impl CookieApi for TestApp {}
