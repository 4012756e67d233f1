//! The OpenAPI document: it documents exactly the routes the routers serve (nothing
//! undocumented, nothing stale), at the paths `RoutePaths` puts them, with the DRF error
//! shapes and the security schemes; `GET /api/schema/` serves it as JSON and YAML and
//! `GET /api/docs/` serves Swagger UI from the binary.

use std::collections::BTreeSet;

use axum::http::Method;
use serde_json::Value;
use tessera_auth::email_flows::EmailFlowSettings;
use tessera_axum::openapi::{openapi, openapi_with, schema_routes};
use tessera_axum::routes::{RoutePaths, api_routes_at, jwks_routes};
use tessera_axum::testing::TestApp;
use utoipa::OpenApi;

/// Every (method, path) the library's routers mount at the default layout: `api_routes_at`,
/// `jwks_routes` and `schema_routes`. A route added to a router belongs here and in the
/// document; the tests below check both.
const SERVED: &[(&str, &str)] = &[
    // token (simplejwt)
    ("POST", "/api/token/"),
    ("POST", "/api/token/refresh/"),
    ("POST", "/api/token/verify/"),
    ("POST", "/api/token/blacklist/"),
    ("POST", "/api/token/sliding/"),
    ("POST", "/api/token/sliding/refresh/"),
    // account
    ("POST", "/api/auth/register/"),
    ("POST", "/api/auth/login/"),
    ("POST", "/api/auth/logout/"),
    ("POST", "/api/auth/logout/all/"),
    ("POST", "/api/auth/token/refresh/"),
    ("POST", "/api/auth/token/verify/"),
    ("GET", "/api/auth/profile/"),
    ("PUT", "/api/auth/profile/"),
    ("PATCH", "/api/auth/profile/"),
    ("POST", "/api/auth/password/change/"),
    ("POST", "/api/auth/ws-ticket/"),
    // e-mail flows
    ("POST", "/api/auth/password/reset/"),
    ("POST", "/api/auth/password/reset/confirm/"),
    ("POST", "/api/auth/verify-email/"),
    ("POST", "/api/auth/verify-email/resend/"),
    ("POST", "/api/auth/email/change/"),
    ("POST", "/api/auth/email/change/confirm/"),
    ("POST", "/api/auth/code/request/"),
    ("POST", "/api/auth/code/login/"),
    // sessions
    ("GET", "/api/auth/sessions/"),
    ("DELETE", "/api/auth/sessions/{id}/"),
    // cookie mode
    ("POST", "/api/auth/cookie/register/"),
    ("POST", "/api/auth/cookie/login/"),
    ("POST", "/api/auth/cookie/refresh/"),
    ("POST", "/api/auth/cookie/logout/"),
    // API keys
    ("GET", "/api/auth/api-keys/"),
    ("POST", "/api/auth/api-keys/"),
    ("DELETE", "/api/auth/api-keys/{prefix}/"),
    ("GET", "/api/admin/api-keys/"),
    ("DELETE", "/api/admin/api-keys/{prefix}/"),
    ("POST", "/api/token/client/"),
    // passkeys
    ("GET", "/api/auth/passkeys/"),
    ("POST", "/api/auth/passkeys/register/begin/"),
    ("POST", "/api/auth/passkeys/register/finish/"),
    ("PATCH", "/api/auth/passkeys/{id}/"),
    ("DELETE", "/api/auth/passkeys/{id}/"),
    ("POST", "/api/auth/mfa/passkey/begin/"),
    ("POST", "/api/auth/passkeys/login/begin/"),
    ("POST", "/api/auth/passkeys/login/finish/"),
    ("POST", "/api/auth/cookie/passkey/"),
    // multi-factor authentication
    ("GET", "/api/auth/mfa/"),
    ("POST", "/api/auth/mfa/totp/setup/"),
    ("POST", "/api/auth/mfa/totp/confirm/"),
    ("POST", "/api/auth/mfa/totp/disable/"),
    ("POST", "/api/auth/mfa/recovery-codes/"),
    ("POST", "/api/auth/mfa/verify/"),
    // admin: users
    ("GET", "/api/admin/users/"),
    ("GET", "/api/admin/users/{id}/"),
    ("GET", "/api/admin/users/{id}/sessions/"),
    ("PATCH", "/api/admin/users/{id}/"),
    ("DELETE", "/api/admin/users/{id}/"),
    ("POST", "/api/admin/users/{id}/revoke_sessions/"),
    ("POST", "/api/admin/users/{id}/unlock/"),
    ("POST", "/api/admin/users/{id}/reset-mfa/"),
    ("POST", "/api/admin/users/{id}/resend-verification/"),
    // admin: groups
    ("GET", "/api/admin/groups/"),
    ("POST", "/api/admin/groups/"),
    ("GET", "/api/admin/groups/{id}/"),
    ("PUT", "/api/admin/groups/{id}/"),
    ("PATCH", "/api/admin/groups/{id}/"),
    ("DELETE", "/api/admin/groups/{id}/"),
    // admin: audit log, signing keys
    ("GET", "/api/admin/audit/"),
    ("GET", "/api/admin/keys/"),
    ("POST", "/api/admin/keys/"),
    ("POST", "/api/admin/keys/rotate/"),
    ("POST", "/api/admin/keys/{kid}/retire/"),
    // social login
    ("GET", "/api/auth/social/providers/"),
    ("GET", "/api/auth/social/{provider}/start/"),
    ("GET", "/api/auth/social/{provider}/callback/"),
    ("POST", "/api/auth/social/{provider}/connect/"),
    ("POST", "/api/auth/social/exchange/"),
    ("POST", "/api/auth/social/link/"),
    ("GET", "/api/auth/social/identities/"),
    ("DELETE", "/api/auth/social/identities/{id}/"),
    // the site's root
    ("GET", "/.well-known/jwks.json"),
    // the document itself
    ("GET", "/api/schema/"),
    ("GET", "/api/docs/"),
];

/// The methods an OpenAPI path item can hold.
const METHODS: [&str; 8] = [
    "GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE",
];

/// The (method, path) pairs a document holds.
fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method.to_ascii_lowercase()).is_some() {
                found.insert((method.to_owned(), path.clone()));
            }
        }
    }
    found
}

/// The table above as a set.
fn served() -> BTreeSet<(String, String)> {
    SERVED
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect()
}

/// The document at the default layout.
fn default_document() -> Value {
    serde_json::to_value(openapi(&RoutePaths::default())).expect("a document")
}

#[test]
fn the_document_holds_every_served_route_and_nothing_else() {
    let documented = documented(&default_document());
    let served = served();
    let missing: Vec<_> = served.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "undocumented ({}): {missing:#?}\nstale ({}): {stale:#?}",
        missing.len(),
        stale.len()
    );
}

/// The paths the route modules mount (`.route("…"` in `src/routes/*.rs`, and the token
/// views' `RoutePaths`), at the default layout: what the table must hold, so that a route added there without a line here (and
/// so without documentation) fails.
fn mounted_in_source() -> BTreeSet<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/routes");
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("src/routes") {
        let path = entry.expect("an entry").path();
        let source = std::fs::read_to_string(&path).expect("a route module");
        let mut rest = source.as_str();
        while let Some(at) = rest.find(".route(") {
            rest = rest[at + ".route(".len()..].trim_start();
            if let Some(literal) = rest.strip_prefix('"') {
                let end = literal.find('"').expect("a closing quote");
                let route = &literal[..end];
                // The root's JWKS; the rest nests under the prefix.
                found.insert(if route.starts_with("/.well-known/") {
                    route.to_owned()
                } else {
                    format!("/api{route}")
                });
            }
        }
    }
    // simplejwt's six views are mounted from `RoutePaths` (`token_routes_at`).
    found.extend(
        RoutePaths::default()
            .token_paths()
            .into_iter()
            .filter_map(|(_, path)| path),
    );
    found
}

#[test]
fn the_table_holds_every_path_the_route_modules_mount() {
    let mounted = mounted_in_source();
    assert!(mounted.len() > 40, "{mounted:?}");
    let in_table: BTreeSet<String> = SERVED
        .iter()
        .map(|(_, p)| (*p).to_owned())
        .filter(|p| p != "/api/schema/" && p != "/api/docs/")
        .collect();
    let missing: Vec<_> = mounted.difference(&in_table).collect();
    let stale: Vec<_> = in_table.difference(&mounted).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "mounted but not in the table: {missing:?}\nin the table but not mounted: {stale:?}"
    );
}

#[test]
fn every_operation_has_an_id_of_its_own() {
    let document = default_document();
    let mut seen = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let id = operation["operationId"].as_str();
            let id = id.unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(seen.insert(id.to_owned()), "{id} twice ({method} {path})");
        }
    }
}

#[test]
fn the_document_is_openapi_3_1_with_the_drf_error_shapes_and_security_schemes() {
    let document = default_document();
    assert_eq!(document["openapi"], "3.1.0");
    let schemas = &document["components"]["schemas"];
    for name in ["Detail", "FieldErrors", "TokenError"] {
        assert!(schemas.get(name).is_some(), "{name} is missing");
    }
    assert_eq!(
        schemas["FieldErrors"]["additionalProperties"]["items"]["type"],
        "string"
    );
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["cookie"]["in"], "cookie");
    assert_eq!(schemes["csrf"]["name"], "X-CSRFToken");
    assert_eq!(schemes["api_key"]["name"], "Authorization");
    let obtain = &document["paths"]["/api/token/"]["post"];
    assert!(
        obtain["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .is_some_and(|r| r.ends_with("/ObtainRequest"))
    );
    for status in ["200", "400", "401"] {
        assert!(obtain["responses"].get(status).is_some(), "{status}");
    }
}

#[test]
fn the_login_names_the_configured_username_field() {
    let mut document = openapi(&RoutePaths::default());
    let email = serde_json::to_value(&document).expect("a document");
    let obtain = &email["components"]["schemas"]["ObtainRequest"];
    assert_eq!(obtain["required"], serde_json::json!(["email", "password"]));
    tessera_axum::openapi::username_field(&mut document, "username");
    let username = serde_json::to_value(&document).expect("a document");
    let obtain = &username["components"]["schemas"]["ObtainRequest"];
    assert_eq!(
        obtain["required"],
        serde_json::json!(["username", "password"])
    );
    assert!(obtain["properties"].get("username").is_some(), "{obtain}");
    assert!(obtain["properties"].get("email").is_none(), "{obtain}");
}

#[test]
fn configured_paths_move_the_documented_routes() {
    let paths = RoutePaths {
        prefix: "/api/v1".into(),
        token_obtain: "/gettoken/".into(),
        token_sliding: String::new(),
        ..RoutePaths::default()
    };
    let document = serde_json::to_value(openapi(&paths)).expect("a document");
    let documented = documented(&document);
    let has = |path: &str| documented.contains(&("POST".to_owned(), path.to_owned()));
    assert!(has("/gettoken/"));
    assert!(has("/api/v1/token/refresh/"));
    assert!(!has("/api/token/"));
    assert!(!has("/api/v1/token/sliding/"));
    assert!(has("/api/v1/token/sliding/refresh/"));
}

#[test]
fn an_application_joins_its_own_routes() {
    /// An application's view.
    #[utoipa::path(get, path = "/api/things/", responses((status = 200, description = "Things")))]
    #[allow(dead_code)]
    fn things() {}

    #[derive(OpenApi)]
    #[openapi(paths(things))]
    struct Application;

    let document = openapi_with(&RoutePaths::default(), Application::openapi());
    let document = serde_json::to_value(document).expect("a document");
    let documented = documented(&document);
    assert!(documented.contains(&("GET".to_owned(), "/api/things/".to_owned())));
    assert!(documented.contains(&("POST".to_owned(), "/api/token/".to_owned())));
}

/// The table's path with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{prefix}", "abcdefgh")
        .replace("{kid}", "k1")
        .replace("{provider}", "idp")
}

#[tokio::test]
async fn every_route_in_the_table_is_served_and_no_other_method() {
    let paths = RoutePaths::default();
    let document = openapi(&paths);
    let app = TestApp::builder()
        .email_flows(|flows: &mut EmailFlowSettings| flows.login_by_code = true)
        .passkeys(|passkeys| passkeys.passkey_login = true)
        .social(|social| {
            // A provider that cannot be reached: the start answers 503, not 404.
            social.oidc_providers = vec![tessera_auth::social::ProviderConfig {
                name: "idp".into(),
                kind: tessera_auth::social::ProviderKind::Oidc,
                issuer: Some("https://idp.example.invalid".into()),
                client_id: "client".into(),
                client_secret: "secret".into(),
                scopes: None,
                display_name: None,
                authorize_url: None,
                token_url: None,
                api_url: None,
            }];
            social.social_frontend_url = Some("https://app.example.com/".into());
        })
        .merge(api_routes_at(&paths))
        .merge(jwks_routes())
        .merge(schema_routes(&paths, document))
        .build()
        .await;
    let client = app.client();
    let served = served();
    let by_path: BTreeSet<&str> = SERVED.iter().map(|(_, p)| *p).collect();
    for path in by_path {
        let url = concrete(path);
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            let response = client
                .request(
                    Method::from_bytes(method.as_bytes()).expect("a method"),
                    &url,
                )
                .send()
                .await;
            let status = response.status().as_u16();
            if served.contains(&(method.to_owned(), path.to_owned())) {
                assert!(
                    status != 404 && status != 405,
                    "{method} {url}: {status} {}",
                    response.text()
                );
            } else {
                assert!(
                    status == 405 || status == 401,
                    "{method} {url} is not in the table but answers {status} {}",
                    response.text()
                );
            }
        }
    }
}

#[tokio::test]
async fn the_schema_is_served_as_json_and_yaml_and_the_docs_offline() {
    let paths = RoutePaths::default();
    let app = TestApp::builder()
        .merge(schema_routes(&paths, openapi(&paths)))
        .build()
        .await;
    let client = app.client();
    let json = client.get("/api/schema/").send().await;
    assert_eq!(json.status(), 200);
    assert_eq!(
        json.header("content-type"),
        Some("application/vnd.oai.openapi+json")
    );
    assert_eq!(json.json()["openapi"], "3.1.0");
    let yaml = client.get("/api/schema/?format=yaml").send().await;
    assert_eq!(yaml.status(), 200);
    assert!(yaml.text().starts_with("openapi: 3.1.0"), "{}", yaml.text());
    let unknown = client.get("/api/schema/?format=xml").send().await;
    assert_eq!(unknown.status(), 404);

    let page = client.get("/api/docs/").send().await;
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.header("content-security-policy"),
        Some(tessera_axum::openapi::DOCS_POLICY)
    );
    assert!(
        tessera_axum::openapi::DOCS_POLICY.contains("script-src 'self';"),
        "{}",
        tessera_axum::openapi::DOCS_POLICY
    );
    let html = page.text();
    // Scripts and styles from the binary, none inline and none from elsewhere.
    assert!(!html.contains("<script>"), "an inline script: {html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
        "swagger-ui.css",
    ] {
        assert!(html.contains(asset), "{asset} is not referenced: {html}");
        let served = client.get(&format!("/api/docs/{asset}")).send().await;
        assert_eq!(served.status(), 200, "{asset}");
    }
    let init = client.get("/api/docs/swagger-initializer.js").send().await;
    assert!(init.text().contains("/api/schema/"), "{}", init.text());
}
