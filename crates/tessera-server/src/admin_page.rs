//! The admin console at `/admin/`: plain HTML, CSS and JavaScript shipped inside the binary,
//! working in cookie mode only, under the account page's strict Content-Security-Policy.
//!
//! The page holds no data and makes no decision: it signs in with the cookie login route
//! and calls the admin API (`admin/users/`, `admin/groups/`, `admin/api-keys/`,
//! `admin/audit/`, `admin/keys/`) with the CSRF header, so every action goes through the
//! same service functions, permission (`IsAdminUser`) and privilege rules as the API. A
//! signed-in user who is not staff gets 403 from the API and sees "Staff only".

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Redirect, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tessera_axum::Tessera;
use tessera_axum::routes::RoutePaths;

use crate::account_page::{asset, attribute, html_page};

const INDEX: &str = include_str!("../assets/admin/index.html");
const SCRIPT: &str = include_str!("../assets/admin/app.js");
/// The shared stylesheet, then this page's own: one file served at `app.css`.
const STYLE: &str = concat!(
    include_str!("../assets/base.css"),
    include_str!("../assets/admin/app.css")
);

/// The API paths the page calls, attribute-escaped for its `<html>` element.
#[derive(Debug, Clone)]
struct ApiPaths {
    auth: String,
    admin: String,
}

/// `GET /admin/`, its script and style, and `/admin` redirecting to `/admin/`; the page
/// calls the auth and admin routes under `paths`' prefix.
pub fn admin_page(paths: &RoutePaths) -> Router<Tessera> {
    let api = ApiPaths {
        auth: attribute(&paths.api_path("auth/")),
        admin: attribute(&paths.api_path("admin/")),
    };
    Router::new()
        .route("/admin", get(|| async { Redirect::permanent("/admin/") }))
        .route(
            "/admin/",
            get(move |state: State<Tessera>, headers: HeaderMap| page(state, headers, api)),
        )
        .route(
            "/admin/app.js",
            get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/admin/app.css",
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        )
}

/// The custom user fields the configuration declares, as the page builds their inputs:
/// `[{"name","type","max_length"}]`.
fn user_fields(tessera: &Tessera) -> String {
    let fields: Vec<Value> = tessera
        .auth()
        .accounts()
        .user_fields
        .iter()
        .map(|field| {
            json!({
                "name": field.name,
                "type": field.kind,
                "max_length": field.max_length,
            })
        })
        .collect();
    Value::Array(fields).to_string()
}

async fn page(State(tessera): State<Tessera>, headers: HeaderMap, api: ApiPaths) -> Response {
    let browser = tessera.browser();
    let html = INDEX
        .replace("{{csrf_cookie}}", &attribute(&browser.csrf_cookie_name))
        .replace("{{csrf_header}}", &attribute(&browser.csrf_header_name))
        .replace(
            "{{login_field}}",
            tessera.settings().username_field.as_str(),
        )
        .replace("{{auth_api}}", &api.auth)
        .replace("{{admin_api}}", &api.admin)
        .replace("{{user_fields}}", &attribute(&user_fields(&tessera)));
    html_page(html, &headers, browser)
}

#[cfg(test)]
mod tests {
    use crate::account_page::attribute;

    #[test]
    fn attributes_cannot_be_closed_by_their_text() {
        assert_eq!(
            attribute(r#"[{"name":"a<b>&c"}]"#),
            "[{&quot;name&quot;:&quot;a&lt;b&gt;&amp;c&quot;}]"
        );
    }
}
