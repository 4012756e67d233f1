//! CORS from settings named as django-cors-headers names them
//! (`CORS_ALLOWED_ORIGINS`, `CORS_ALLOW_HEADERS`, `CORS_ALLOW_CREDENTIALS`, …): preflight
//! answers, headers on actual requests, nothing for other origins, and never `*` together
//! with credentials.

use axum::http::Method;
use serde_json::json;
use tessera_axum::BrowserSettings;

use crate::helpers::{Api, NOT_PROVIDED, PASSWORD, Reply, TestApp, browser_app};

const APP: &str = "https://app.example.com";
const EVIL: &str = "https://evil.example";

/// An app allowing [`APP`] with credentials.
async fn cors_app() -> TestApp {
    browser_app()
        .browser(|b| {
            b.cors_allowed_origins = vec![APP.into()];
            b.cors_allow_credentials = true;
        })
        .build()
        .await
}

/// A browser's preflight for `method` with `headers` from `origin`.
async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str, headers: &str) -> Reply {
    app.send(
        app.request(Method::OPTIONS, path)
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", headers),
    )
    .await
}

/// The comma-separated items of a header, lowercased.
fn items(reply: &Reply, name: &str) -> Vec<String> {
    reply
        .headers()
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().expect("text").split(','))
        .map(|item| item.trim().to_ascii_lowercase())
        .filter(|item| !item.is_empty())
        .collect()
}

/// The names of the `access-control-*` headers of a reply.
fn cors_headers(reply: &Reply) -> Vec<String> {
    reply
        .headers()
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| name.starts_with("access-control-"))
        .collect()
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered() {
    let app = cors_app().await;

    for (path, method) in [
        ("/api/auth/profile/", "PATCH"),
        ("/api/auth/cookie/login/", "POST"),
        ("/api/auth/sessions/", "DELETE"),
    ] {
        let reply = preflight(
            &app,
            path,
            APP,
            method,
            "authorization, content-type, x-csrftoken",
        )
        .await;

        assert_eq!(reply.status(), 200, "{path}: {}", reply.text());
        assert_eq!(reply.header("access-control-allow-origin"), Some(APP));
        assert_eq!(
            reply.header("access-control-allow-credentials"),
            Some("true")
        );
        let methods = items(&reply, "access-control-allow-methods");
        for method in ["get", "post", "put", "patch", "delete", "options"] {
            assert!(
                methods.contains(&method.to_owned()),
                "{methods:?} lacks {method}"
            );
        }
        let headers = items(&reply, "access-control-allow-headers");
        for header in ["authorization", "content-type", "x-csrftoken", "accept"] {
            assert!(
                headers.contains(&header.to_owned()),
                "{headers:?} lacks {header}"
            );
        }
        assert_eq!(reply.header("access-control-max-age"), Some("86400"));
        assert!(
            items(&reply, "vary").contains(&"origin".to_owned()),
            "{:?}",
            reply.headers()
        );
    }
}

#[tokio::test]
async fn an_actual_request_from_an_allowed_origin_gets_the_allow_origin_header() {
    let app = cors_app().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    let reply = app
        .send(
            app.request(Method::GET, "/api/auth/profile/")
                .header("origin", APP)
                .bearer_auth(&pair.access),
        )
        .await;
    assert_eq!(reply.ok()["email"], "ada@example.com");
    assert_eq!(reply.header("access-control-allow-origin"), Some(APP));
    assert_eq!(
        reply.header("access-control-allow-credentials"),
        Some("true")
    );
    assert!(items(&reply, "vary").contains(&"origin".to_owned()));

    // Errors are readable by the page too.
    let reply = app
        .send(
            app.request(Method::GET, "/api/auth/profile/")
                .header("origin", APP),
        )
        .await;
    reply.assert(401, NOT_PROVIDED);
    assert_eq!(reply.header("access-control-allow-origin"), Some(APP));

    // A cookie-mode login from the allowed origin sets its cookies with CORS headers.
    let reply = app
        .send(
            app.request(Method::POST, "/api/auth/cookie/login/")
                .header("origin", APP)
                .header("sec-fetch-site", "same-site")
                .json(&json!({"email": "ada@example.com", "password": PASSWORD})),
        )
        .await;
    // CORS does not make an origin trusted for CSRF (django-cors-headers and Django agree).
    assert_eq!(reply.status(), 403, "{}", reply.text());
    assert_eq!(reply.header("access-control-allow-origin"), Some(APP));
}

#[tokio::test]
async fn another_origin_gets_no_allow_origin_header() {
    let app = cors_app().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    for origin in [
        EVIL,
        "http://app.example.com",
        "https://app.example.com.evil.example",
        "https://app.example.com:8443",
        "null",
    ] {
        let reply = preflight(&app, "/api/auth/profile/", origin, "PATCH", "authorization").await;
        assert_eq!(
            reply.header("access-control-allow-origin"),
            None,
            "{origin}"
        );
        let reply = app
            .send(
                app.request(Method::GET, "/api/auth/profile/")
                    .header("origin", origin)
                    .bearer_auth(&pair.access),
            )
            .await;
        reply.ok();
        assert_eq!(
            reply.header("access-control-allow-origin"),
            None,
            "{origin}"
        );
        assert!(
            items(&reply, "vary").contains(&"origin".to_owned()),
            "{origin}"
        );
    }
}

#[tokio::test]
async fn without_cors_settings_no_cors_headers_are_sent() {
    let app = browser_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    let reply = preflight(&app, "/api/auth/profile/", APP, "PATCH", "authorization").await;
    assert_eq!(reply.status(), 200);
    assert_eq!(cors_headers(&reply), Vec::<String>::new());
    // DRF's own OPTIONS answer.
    let allow = items(&reply, "allow");
    assert!(
        allow.contains(&"patch".to_owned()) && allow.contains(&"options".to_owned()),
        "{allow:?}"
    );

    let reply = app
        .send(
            app.request(Method::GET, "/api/auth/profile/")
                .header("origin", APP)
                .bearer_auth(&pair.access),
        )
        .await;
    reply.ok();
    assert_eq!(cors_headers(&reply), Vec::<String>::new());
}

#[tokio::test]
async fn an_options_request_that_is_no_preflight_keeps_drfs_answer() {
    // docs/API.md §1: OPTIONS answers 200 with `Allow`, CORS or not.
    let app = cors_app().await;

    let reply = app.send(app.request(Method::OPTIONS, "/api/token/")).await;

    assert_eq!(reply.status(), 200);
    assert_eq!(reply.header("allow"), Some("POST, OPTIONS"));
}

#[tokio::test]
async fn any_origin_with_credentials_is_refused_by_validation() {
    let app = browser_app().build().await;
    let settings = BrowserSettings {
        cors_allow_all_origins: true,
        cors_allow_credentials: true,
        ..BrowserSettings::default()
    };

    let error = settings.validate().expect_err("`*` with credentials");
    assert_eq!(error.setting, "cors_allow_all_origins");
    let error = app
        .tessera
        .clone()
        .to_builder()
        .browser(settings)
        .build()
        .await
        .expect_err("`*` with credentials");
    assert_eq!(error.setting(), Some("cors_allow_all_origins"));
    assert!(
        error.to_string().contains("cors_allow_all_origins"),
        "{error}"
    );
}

#[tokio::test]
async fn allow_all_origins_answers_star_and_never_credentials() {
    let app = browser_app()
        .browser(|b| b.cors_allow_all_origins = true)
        .build()
        .await;
    app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    let reply = preflight(&app, "/api/auth/profile/", EVIL, "PATCH", "authorization").await;
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert_eq!(reply.header("access-control-allow-credentials"), None);

    let reply = app
        .send(
            app.request(Method::GET, "/api/auth/profile/")
                .header("origin", EVIL)
                .bearer_auth(&pair.access),
        )
        .await;
    reply.ok();
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert_eq!(reply.header("access-control-allow-credentials"), None);
}

#[tokio::test]
async fn without_allow_credentials_no_credentials_header_is_sent() {
    let app = browser_app()
        .browser(|b| b.cors_allowed_origins = vec![APP.into()])
        .build()
        .await;

    let reply = preflight(&app, "/api/auth/profile/", APP, "PATCH", "authorization").await;

    assert_eq!(reply.header("access-control-allow-origin"), Some(APP));
    assert_eq!(reply.header("access-control-allow-credentials"), None);
}

#[tokio::test]
async fn headers_methods_exposed_headers_and_max_age_come_from_the_settings() {
    let app = browser_app()
        .browser(|b| {
            b.cors_allowed_origins = vec![APP.into(), "http://localhost:5173".into()];
            b.cors_allow_headers = vec!["authorization".into(), "x-custom".into()];
            b.cors_allow_methods = vec!["GET".into(), "POST".into()];
            b.cors_expose_headers = vec!["x-request-id".into()];
            b.cors_preflight_max_age = 600;
        })
        .build()
        .await;

    let reply = preflight(
        &app,
        "/api/auth/profile/",
        "http://localhost:5173",
        "POST",
        "x-custom",
    )
    .await;
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert_eq!(
        items(&reply, "access-control-allow-methods"),
        ["get", "post"]
    );
    assert_eq!(
        items(&reply, "access-control-allow-headers"),
        ["authorization", "x-custom"]
    );
    assert_eq!(reply.header("access-control-max-age"), Some("600"));

    let reply = app
        .send(
            app.request(Method::GET, "/api/auth/profile/")
                .header("origin", APP),
        )
        .await;
    assert_eq!(reply.header("access-control-allow-origin"), Some(APP));
    assert_eq!(
        items(&reply, "access-control-expose-headers"),
        ["x-request-id"]
    );
}
