//! The HTTP edge against hostile input: request metrics whose labels come from closed sets
//! whatever method or path a client sends, the client address behind a proxy that adds its
//! own `X-Forwarded-For` line, and the cookie routes' CSRF checks whatever `Authorization`
//! header comes along.

use axum::http::Method;
use serde_json::json;
use tessera_axum::testing::TestDatabase;
use tessera_store::Engine;

use crate::helpers::{
    Api, CookieApi, MetricsProbe, PASSWORD, Records, browser_app, csrf_failed, throttled_app,
    token_app,
};

const ADA: &str = "ada@example.com";
const REQUESTS: &str = "tessera_http_requests_total";

/// The counter of requests with these labels.
fn requests(method: &str, route: &str, status: u16) -> String {
    format!("{REQUESTS}{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}")
}

// ---- metrics: closed label sets ----

#[tokio::test]
async fn request_metrics_label_only_known_methods_and_route_patterns() {
    let probe = MetricsProbe::default();
    let _recording = probe.install();
    let app = token_app().build().await;
    let rounds: u64 = 60;

    for n in 0..rounds {
        // Methods no route has: extension methods, and a standard one spelt in lower case
        // (methods are case-sensitive).
        let odd = match n % 3 {
            0 => format!("X{n}{}", "QWERTYUIOP".repeat(20)),
            1 => format!("PROPFIND{n}"),
            _ => "post".to_owned(),
        };
        let odd = Method::from_bytes(odd.as_bytes()).expect("a valid method");
        app.send(app.request(odd.clone(), "/api/token/"))
            .await
            .assert_status(405);
        app.send(app.request(Method::GET, &format!("/scan/{n}/{}/", "a".repeat(200))))
            .await
            .assert_status(404);
        app.send(app.request(odd, &format!("/api/nothing-{n}/")))
            .await
            .assert_status(404);
    }
    app.send(app.request(Method::POST, "/api/token/").json(&json!({})))
        .await
        .assert_status(400);

    assert_eq!(
        probe.counter(&requests("other", "/api/token/", 405)),
        rounds
    );
    assert_eq!(probe.counter(&requests("GET", "unmatched", 404)), rounds);
    assert_eq!(probe.counter(&requests("other", "unmatched", 404)), rounds);
    assert_eq!(probe.counter(&requests("POST", "/api/token/", 400)), 1);
    // 181 requests with 43 different methods and 121 different paths: four series.
    assert_eq!(
        probe.counter_keys(REQUESTS),
        [
            requests("GET", "unmatched", 404),
            requests("POST", "/api/token/", 400),
            requests("other", "/api/token/", 405),
            requests("other", "unmatched", 404),
        ]
    );
}

// ---- the client address behind a proxy ----

#[tokio::test]
async fn a_forwarded_for_line_sent_by_the_client_does_not_escape_the_login_throttle() {
    // A proxy such as HAProxy (`option forwardfor`) adds its own `X-Forwarded-For` line
    // after the client's rather than appending to it; the client's line must not count.
    const SEEN_BY_PROXY: &str = "203.0.113.7";
    for engine in [Engine::Sqlite, Engine::Postgres] {
        let test = "edge_security::a_forwarded_for_line_sent_by_the_client";
        let Some(database) = TestDatabase::new(engine, test).await else {
            continue;
        };
        let app = throttled_app()
            .database(database)
            .throttling(|settings| {
                settings.throttle_rates = [("login".to_owned(), "2/min".to_owned())].into();
                settings.login_failure_limit = 0;
                settings.num_proxies = Some(1);
            })
            .build()
            .await;
        app.create_user(ADA, PASSWORD).await;

        for n in 0..6 {
            let reply = app
                .send(
                    app.request(Method::POST, "/api/token/")
                        .header("x-forwarded-for", format!("6.6.6.{n}"))
                        .header("x-forwarded-for", SEEN_BY_PROXY)
                        .json(&json!({"email": ADA, "password": PASSWORD})),
                )
                .await;
            if n < 2 {
                reply.ok();
                assert_eq!(
                    app.session_of(&reply.field("refresh")).await.ip.as_deref(),
                    Some(SEEN_BY_PROXY),
                    "{engine:?}"
                );
            } else {
                reply.assert_throttled(60);
            }
        }
    }
}

// ---- CSRF on the cookie routes ----

#[tokio::test]
async fn an_authorization_header_does_not_exempt_the_cookie_routes_from_csrf() {
    // An origin allowed by CORS (with credentials) but not trusted for CSRF can make a
    // browser send any `Authorization` header; the cookie routes act on the cookies anyway.
    const APP: &str = "https://app.example.com";
    let app = browser_app()
        .browser(|b| {
            b.cors_allowed_origins = vec![APP.into()];
            b.cors_allow_credentials = true;
            b.csrf_trusted_origins = vec!["https://trusted.example.com".into()];
        })
        .build()
        .await;
    app.create_user(ADA, PASSWORD).await;
    let browser = app.cookie_session(ADA, PASSWORD).await;
    let refused = csrf_failed(&format!(
        "Origin checking failed - {APP} does not match any trusted origins."
    ));
    let own_access = format!("Bearer {}", browser.access);
    let registration = json!({
        "email": "mallory@example.com",
        "password": "a long and unusual phrase 77",
        "password_confirm": "a long and unusual phrase 77",
    });

    for (route, body) in [
        ("login", json!({"email": ADA, "password": PASSWORD})),
        ("register", registration),
        ("refresh", json!({})),
        ("logout", json!({})),
    ] {
        for authorization in [
            None,
            Some("Bearer junk"),
            Some("Bearer"),
            Some(own_access.as_str()),
        ] {
            let mut request = app
                .with_cookies(
                    Method::POST,
                    &format!("/api/auth/cookie/{route}/"),
                    &[
                        ("access_token", &browser.access),
                        ("refresh_token", &browser.refresh),
                    ],
                )
                .header("origin", APP)
                .header("sec-fetch-site", "cross-site")
                .json(&body);
            if let Some(authorization) = authorization {
                request = request.header("authorization", authorization);
            }
            let reply = app.send(request).await;
            reply.assert(403, &refused);
            assert_eq!(
                reply.cookie_names(),
                Vec::<String>::new(),
                "{route} with {authorization:?}"
            );
        }
    }
    let session = app.session_of(&browser.refresh).await;
    assert_eq!((session.rotation_counter, session.is_revoked()), (0, false));
    assert_eq!(
        app.user_count().await,
        1,
        "a forged registration went through"
    );
}
