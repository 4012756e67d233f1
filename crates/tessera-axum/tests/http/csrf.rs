//! CSRF protection of cookie-authenticated unsafe requests — the
//! Fetch-metadata and `Origin` checks (Go 1.25's `CrossOriginProtection`, tower-http 0.7),
//! and Django's double-submit token (`csrftoken` cookie, `X-CSRFToken` header). Refusals are
//! 403 `{"detail":"CSRF Failed: <reason>"}` and change nothing; Bearer-authenticated requests
//! and safe methods are never refused.

use axum::http::Method;
use serde_json::json;

use crate::helpers::{
    Api, BrowserCookies, CookieApi, PASSWORD, Records, Reply, TestApp, browser_app, csrf_failed,
};

const EVIL: &str = "https://evil.example";
const CROSS_SITE: &str = "Cross-site request refused.";
const TOKEN_INCORRECT: &str = "CSRF token incorrect.";
const COOKIE_NOT_SET: &str = "CSRF cookie not set.";
const TOKEN_MISSING: &str = "CSRF token missing.";

fn origin_failed(origin: &str) -> String {
    csrf_failed(&format!(
        "Origin checking failed - {origin} does not match any trusted origins."
    ))
}

/// Ada, logged in through the cookie route.
async fn ada(app: &TestApp) -> BrowserCookies {
    app.create_named_user("ada@example.com", "Ada", "Lovelace")
        .await;
    app.cookie_session("ada@example.com", PASSWORD).await
}

/// `PATCH /api/auth/profile/` setting `first_name`, with these cookies and headers.
async fn patch_profile(
    app: &TestApp,
    cookies: &[(&str, &str)],
    headers: &[(&str, &str)],
    first_name: &str,
) -> Reply {
    let mut request = app
        .with_cookies(Method::PATCH, "/api/auth/profile/", cookies)
        .json(&json!({"first_name": first_name}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.send(request).await
}

/// The stored first name of Ada.
async fn first_name(app: &TestApp) -> String {
    app.user_by_email("ada@example.com")
        .await
        .expect("ada exists")
        .first_name
}

/// Checks that a PATCH with the access cookie and `headers` is refused with `body` and
/// leaves the profile alone.
async fn assert_patch_refused(
    app: &TestApp,
    browser: &BrowserCookies,
    headers: &[(&str, &str)],
    body: &str,
) {
    let reply = patch_profile(
        app,
        &[("access_token", &browser.access)],
        headers,
        "Mallory",
    )
    .await;
    reply.assert(403, body);
    assert_eq!(
        first_name(app).await,
        "Ada",
        "a refused request changed the profile"
    );
}

/// Checks that a PATCH with the access cookie and `headers` goes through.
async fn assert_patch_allowed(
    app: &TestApp,
    browser: &BrowserCookies,
    headers: &[(&str, &str)],
    name: &str,
) {
    let reply = patch_profile(app, &[("access_token", &browser.access)], headers, name).await;
    assert_eq!(reply.ok()["first_name"], name, "headers {headers:?}");
    assert_eq!(first_name(app).await, name);
}

// ---- Fetch metadata and Origin ----

#[tokio::test]
async fn a_cross_site_cookie_request_is_refused_and_changes_nothing() {
    let app = browser_app().build().await;
    let browser = ada(&app).await;

    assert_patch_refused(
        &app,
        &browser,
        &[("sec-fetch-site", "cross-site"), ("origin", EVIL)],
        &origin_failed(EVIL),
    )
    .await;
    assert_patch_refused(
        &app,
        &browser,
        &[("sec-fetch-site", "cross-site")],
        &csrf_failed(CROSS_SITE),
    )
    .await;

    // "Log out everywhere" from another site ends nothing.
    for (headers, body) in [
        (
            vec![("sec-fetch-site", "cross-site")],
            csrf_failed(CROSS_SITE),
        ),
        (
            vec![("sec-fetch-site", "cross-site"), ("origin", EVIL)],
            origin_failed(EVIL),
        ),
    ] {
        let mut request = app.with_cookies(
            Method::POST,
            "/api/auth/logout/all/",
            &[("access_token", &browser.access)],
        );
        for (name, value) in &headers {
            request = request.header(*name, *value);
        }
        app.send(request).await.assert(403, &body);
    }
    assert!(!app.session_of(&browser.refresh).await.is_revoked());
    app.send(app.with_cookies(
        Method::GET,
        "/api/auth/profile/",
        &[("access_token", &browser.access)],
    ))
    .await
    .ok();
}

#[tokio::test]
async fn a_same_site_request_from_an_untrusted_origin_is_refused() {
    let app = browser_app().build().await;
    let browser = ada(&app).await;
    let sibling = "https://blog.example.com";

    assert_patch_refused(
        &app,
        &browser,
        &[("sec-fetch-site", "same-site"), ("origin", sibling)],
        &origin_failed(sibling),
    )
    .await;
    assert_patch_refused(
        &app,
        &browser,
        &[("sec-fetch-site", "same-site")],
        &csrf_failed(CROSS_SITE),
    )
    .await;
}

#[tokio::test]
async fn a_cross_site_request_is_refused_even_when_its_origin_names_this_host() {
    // The browser's verdict wins: `http://host` posting to `https://host` is cross-site
    // (schemeful same-site), though `Origin` and `Host` name the same host.
    let app = browser_app().build().await;
    let browser = ada(&app).await;
    let own = app.base_url().clone();
    let other_scheme = own.replace("http://", "https://");

    for origin in [own.as_str(), other_scheme.as_str()] {
        for site in ["cross-site", "same-site"] {
            assert_patch_refused(
                &app,
                &browser,
                &[("sec-fetch-site", site), ("origin", origin)],
                &origin_failed(origin),
            )
            .await;
        }
    }
}

#[tokio::test]
async fn same_origin_requests_are_allowed() {
    let app = browser_app().build().await;
    let browser = ada(&app).await;
    let own = app.base_url().clone();

    assert_patch_allowed(
        &app,
        &browser,
        &[("sec-fetch-site", "same-origin")],
        "Augusta",
    )
    .await;
    assert_patch_allowed(
        &app,
        &browser,
        &[("sec-fetch-site", "same-origin"), ("origin", &own)],
        "Ada",
    )
    .await;
    // Typed into the address bar or a bookmark: no initiator at all.
    assert_patch_allowed(&app, &browser, &[("sec-fetch-site", "none")], "Augusta").await;
}

#[tokio::test]
async fn without_fetch_metadata_the_origin_must_match_the_host_or_be_trusted() {
    let app = browser_app().build().await;
    let browser = ada(&app).await;
    let own = app.base_url().clone();

    assert_patch_allowed(&app, &browser, &[("origin", &own)], "Augusta").await;
    let augusta = patch_profile(
        &app,
        &[("access_token", &browser.access)],
        &[("origin", EVIL)],
        "Mallory",
    )
    .await;
    augusta.assert(403, &origin_failed(EVIL));
    // Another port of the same host is another origin; so is an opaque `null` origin.
    let other_port = format!("{own}:8000");
    for origin in [other_port.as_str(), "null"] {
        let reply = patch_profile(
            &app,
            &[("access_token", &browser.access)],
            &[("origin", origin)],
            "Mallory",
        )
        .await;
        reply.assert(403, &origin_failed(origin));
    }
    assert_eq!(first_name(&app).await, "Augusta");
}

#[tokio::test]
async fn trusted_origins_are_allowed() {
    let trusted = "https://app.example.com";
    let app = browser_app()
        .browser(|b| b.csrf_trusted_origins = vec![trusted.into()])
        .build()
        .await;
    let browser = ada(&app).await;

    assert_patch_allowed(&app, &browser, &[("origin", trusted)], "Augusta").await;
    assert_patch_allowed(
        &app,
        &browser,
        &[("sec-fetch-site", "same-site"), ("origin", trusted)],
        "Ada",
    )
    .await;
    assert_patch_allowed(
        &app,
        &browser,
        &[("sec-fetch-site", "cross-site"), ("origin", trusted)],
        "Augusta",
    )
    .await;
    // Trust is exact: not another scheme, not a subdomain, not a suffix.
    for origin in [
        "http://app.example.com",
        "https://evil.app.example.com",
        "https://app.example.com.evil.example",
    ] {
        let reply = patch_profile(
            &app,
            &[("access_token", &browser.access)],
            &[("sec-fetch-site", "cross-site"), ("origin", origin)],
            "Mallory",
        )
        .await;
        reply.assert(403, &origin_failed(origin));
    }
    assert_eq!(first_name(&app).await, "Augusta");
}

#[tokio::test]
async fn requests_with_neither_fetch_metadata_nor_origin_pass() {
    let app = browser_app().build().await;
    let browser = ada(&app).await;

    assert_patch_allowed(&app, &browser, &[], "Augusta").await;
    let reply = app
        .send(app.with_cookies(
            Method::POST,
            "/api/auth/logout/all/",
            &[("access_token", &browser.access)],
        ))
        .await;
    reply.assert(
        200,
        r#"{"message":"Successfully logged out of all sessions","sessions_ended":1}"#,
    );
}

#[tokio::test]
async fn the_cookie_routes_are_protected_even_without_any_cookie() {
    let app = browser_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let cross = [("sec-fetch-site", "cross-site"), ("origin", EVIL)];

    // Login CSRF: a forged login would put the attacker's session in the victim's browser.
    let registration = json!({
        "email": "mallory@example.com",
        "password": "a long and unusual phrase 77",
        "password_confirm": "a long and unusual phrase 77",
    });
    for (route, body) in [
        (
            "login",
            json!({"email": "ada@example.com", "password": PASSWORD}),
        ),
        ("register", registration),
        ("refresh", json!({})),
        ("logout", json!({})),
    ] {
        for headers in [&cross[..1], &cross[..], &cross[1..]] {
            let mut request = app
                .request(Method::POST, &format!("/api/auth/cookie/{route}/"))
                .json(&body);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let reply = app.send(request).await;
            let expected = if headers.len() == 1 && headers[0].0 == "sec-fetch-site" {
                csrf_failed(CROSS_SITE)
            } else {
                origin_failed(EVIL)
            };
            reply.assert(403, &expected);
            assert_eq!(reply.cookie_names(), Vec::<String>::new(), "{route}");
        }
    }
    assert_eq!(
        app.user_count().await,
        1,
        "a forged registration created a user"
    );

    // With the cookies of a live session, a forged refresh or logout touches nothing.
    let browser = app.cookie_session("ada@example.com", PASSWORD).await;
    for route in ["refresh", "logout"] {
        let mut request = app
            .with_cookies(
                Method::POST,
                &format!("/api/auth/cookie/{route}/"),
                &[
                    ("access_token", &browser.access),
                    ("refresh_token", &browser.refresh),
                ],
            )
            .json(&json!({}));
        for (name, value) in cross {
            request = request.header(name, value);
        }
        let reply = app.send(request).await;
        reply.assert(403, &origin_failed(EVIL));
        assert_eq!(reply.cookie_names(), Vec::<String>::new(), "{route}");
    }
    let session = app.session_of(&browser.refresh).await;
    assert_eq!((session.rotation_counter, session.is_revoked()), (0, false));
}

#[tokio::test]
async fn safe_methods_are_never_refused() {
    let app = browser_app().build().await;
    let browser = ada(&app).await;

    for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
        let reply = app
            .send(
                app.with_cookies(
                    method.clone(),
                    "/api/auth/profile/",
                    &[
                        ("access_token", &browser.access),
                        ("csrftoken", "cookie-value"),
                    ],
                )
                .header("sec-fetch-site", "cross-site")
                .header("origin", EVIL)
                .header("x-csrftoken", "another-value"),
            )
            .await;
        assert_eq!(reply.status(), 200, "{method}: {}", reply.text());
    }
}

#[tokio::test]
async fn bearer_authenticated_requests_are_not_affected() {
    let app = browser_app().build().await;
    app.create_named_user("ada@example.com", "Ada", "Lovelace")
        .await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;
    let browser = app.cookie_session("ada@example.com", PASSWORD).await;
    let bearer = format!("Bearer {}", pair.access);

    // Cross-site metadata, a foreign origin, a wrong CSRF header, even the access cookie
    // beside the header: the header authenticates, so CSRF does not apply.
    let reply = patch_profile(
        &app,
        &[("access_token", &browser.access), ("csrftoken", "one")],
        &[
            ("authorization", &bearer),
            ("sec-fetch-site", "cross-site"),
            ("origin", EVIL),
            ("x-csrftoken", "two"),
        ],
        "Augusta",
    )
    .await;
    assert_eq!(reply.ok()["first_name"], "Augusta");
    let reply = app
        .send(
            app.request(Method::POST, "/api/auth/logout/all/")
                .header("authorization", &bearer)
                .header("sec-fetch-site", "cross-site"),
        )
        .await;
    reply.ok();
    // The JSON routes use no cookie: a cross-site JSON login is not a cookie request.
    let reply = app
        .send(
            app.request(Method::POST, "/api/auth/login/")
                .header("sec-fetch-site", "cross-site")
                .header("origin", EVIL)
                .json(&json!({"email": "ada@example.com", "password": PASSWORD})),
        )
        .await;
    reply.ok();
}

#[tokio::test]
async fn a_header_of_another_scheme_does_not_exempt_a_cookie_request() {
    let app = browser_app().build().await;
    let browser = ada(&app).await;

    assert_patch_refused(
        &app,
        &browser,
        &[
            ("authorization", "Basic YWRhOnNlY3JldA=="),
            ("sec-fetch-site", "cross-site"),
            ("origin", EVIL),
        ],
        &origin_failed(EVIL),
    )
    .await;
}

#[tokio::test]
async fn the_refresh_cookie_alone_makes_a_request_cookie_authenticated() {
    let app = browser_app().build().await;
    let browser = ada(&app).await;

    let reply = app
        .send(
            app.with_cookies(
                Method::POST,
                "/api/auth/logout/all/",
                &[("refresh_token", &browser.refresh)],
            )
            .header("sec-fetch-site", "cross-site"),
        )
        .await;

    reply.assert(403, &csrf_failed(CROSS_SITE));
}

// ---- the double-submit token ----

#[tokio::test]
async fn a_csrf_header_equal_to_the_csrf_cookie_is_accepted() {
    let app = browser_app().build().await;
    let browser = ada(&app).await;

    let reply = patch_profile(
        &app,
        &[
            ("access_token", &browser.access),
            ("csrftoken", &browser.csrf),
        ],
        &[
            ("sec-fetch-site", "same-origin"),
            ("x-csrftoken", &browser.csrf),
        ],
        "Augusta",
    )
    .await;

    assert_eq!(reply.ok()["first_name"], "Augusta");
}

#[tokio::test]
async fn a_csrf_header_different_from_the_cookie_is_refused() {
    let app = browser_app().build().await;
    let browser = ada(&app).await;
    let mut wrong = browser.csrf.clone();
    wrong.pop();
    wrong.push('x');

    for header in [wrong.as_str(), "", "not-the-token"] {
        let reply = patch_profile(
            &app,
            &[
                ("access_token", &browser.access),
                ("csrftoken", &browser.csrf),
            ],
            &[("sec-fetch-site", "same-origin"), ("X-CSRFToken", header)],
            "Mallory",
        )
        .await;
        let reason = if header.is_empty() {
            TOKEN_MISSING
        } else {
            TOKEN_INCORRECT
        };
        reply.assert(403, &csrf_failed(reason));
    }
    assert_eq!(first_name(&app).await, "Ada");

    // On a cookie route too: the session survives a logout with a wrong token.
    let reply = app
        .send(
            app.with_cookies(
                Method::POST,
                "/api/auth/cookie/logout/",
                &[
                    ("refresh_token", &browser.refresh),
                    ("csrftoken", &browser.csrf),
                ],
            )
            .header("x-csrftoken", "forged"),
        )
        .await;
    reply.assert(403, &csrf_failed(TOKEN_INCORRECT));
    assert!(!app.session_of(&browser.refresh).await.is_revoked());
}

#[tokio::test]
async fn a_csrf_header_without_the_csrf_cookie_is_refused() {
    let app = browser_app().build().await;
    let browser = ada(&app).await;

    assert_patch_refused(
        &app,
        &browser,
        &[("x-csrftoken", &browser.csrf)],
        &csrf_failed(COOKIE_NOT_SET),
    )
    .await;
}

#[tokio::test]
async fn with_csrf_require_token_every_cookie_authenticated_unsafe_request_needs_it() {
    let app = browser_app()
        .browser(|b| b.csrf_require_token = true)
        .build()
        .await;
    app.create_named_user("ada@example.com", "Ada", "Lovelace")
        .await;
    let login = json!({"email": "ada@example.com", "password": PASSWORD});

    // The login itself needs it (no cookie yet: the page hands one out first).
    let reply = app.cookie_post("login", &[], &login).await;
    reply.assert(403, &csrf_failed(COOKIE_NOT_SET));
    let reply = app
        .cookie_post("login", &[("csrftoken", "page-token")], &login)
        .await;
    reply.assert(403, &csrf_failed(TOKEN_MISSING));
    let reply = app
        .send(
            app.with_cookies(
                Method::POST,
                "/api/auth/cookie/login/",
                &[("csrftoken", "page-token")],
            )
            .header("x-csrftoken", "page-token")
            .json(&login),
        )
        .await;
    reply.ok();
    let browser = BrowserCookies {
        access: reply.cookie("access_token").value,
        refresh: reply.cookie("refresh_token").value,
        csrf: reply.cookie("csrftoken").value,
    };
    assert_ne!(
        browser.csrf, "page-token",
        "the login did not rotate the CSRF token"
    );

    // Same-origin metadata is not enough.
    let reply = patch_profile(
        &app,
        &[
            ("access_token", &browser.access),
            ("csrftoken", &browser.csrf),
        ],
        &[
            ("sec-fetch-site", "same-origin"),
            ("origin", &app.base_url()),
        ],
        "Mallory",
    )
    .await;
    reply.assert(403, &csrf_failed(TOKEN_MISSING));
    let reply = patch_profile(&app, &[("access_token", &browser.access)], &[], "Mallory").await;
    reply.assert(403, &csrf_failed(COOKIE_NOT_SET));
    let reply = app
        .cookie_post(
            "refresh",
            &[
                ("refresh_token", &browser.refresh),
                ("csrftoken", &browser.csrf),
            ],
            &json!({}),
        )
        .await;
    reply.assert(403, &csrf_failed(TOKEN_MISSING));
    assert_eq!(first_name(&app).await, "Ada");
    assert_eq!(app.session_of(&browser.refresh).await.rotation_counter, 0);

    // With the token, everything works.
    let reply = patch_profile(
        &app,
        &[
            ("access_token", &browser.access),
            ("csrftoken", &browser.csrf),
        ],
        &[
            ("sec-fetch-site", "same-origin"),
            ("x-csrftoken", &browser.csrf),
        ],
        "Augusta",
    )
    .await;
    assert_eq!(reply.ok()["first_name"], "Augusta");
    let reply = app
        .send(
            app.with_cookies(
                Method::POST,
                "/api/auth/cookie/refresh/",
                &[
                    ("refresh_token", &browser.refresh),
                    ("csrftoken", &browser.csrf),
                ],
            )
            .header("x-csrftoken", &browser.csrf),
        )
        .await;
    reply.ok();

    // Bearer requests and safe methods still need nothing.
    let pair = app.account_pair("ada@example.com", PASSWORD).await;
    let reply = app
        .bearer(
            Method::PATCH,
            "/api/auth/profile/",
            &pair.access,
            Some(&json!({"first_name": "Ada"})),
        )
        .await;
    assert_eq!(reply.ok()["first_name"], "Ada");
    app.send(app.with_cookies(
        Method::GET,
        "/api/auth/profile/",
        &[("access_token", &browser.access)],
    ))
    .await
    .ok();
}

#[tokio::test]
async fn csrf_cookie_and_header_names_are_configurable() {
    let app = browser_app()
        .browser(|b| {
            b.csrf_cookie_name = "xsrf".into();
            b.csrf_header_name = "X-XSRF-Token".into();
            b.csrf_require_token = true;
        })
        .build()
        .await;
    app.create_named_user("ada@example.com", "Ada", "Lovelace")
        .await;

    let reply = app
        .send(
            app.with_cookies(Method::POST, "/api/auth/cookie/login/", &[("xsrf", "t0")])
                .header("X-XSRF-Token", "t0")
                .json(&json!({"email": "ada@example.com", "password": PASSWORD})),
        )
        .await;
    reply.ok();
    let mut names = reply.cookie_names();
    names.sort();
    assert_eq!(names, ["access_token", "refresh_token", "xsrf"]);
    let (access, token) = (
        reply.cookie("access_token").value,
        reply.cookie("xsrf").value,
    );

    // Django's default names mean nothing here.
    let reply = patch_profile(
        &app,
        &[("access_token", &access), ("csrftoken", &token)],
        &[("x-csrftoken", &token)],
        "Mallory",
    )
    .await;
    reply.assert(403, &csrf_failed(COOKIE_NOT_SET));
    let reply = patch_profile(
        &app,
        &[("access_token", &access), ("xsrf", &token)],
        &[("x-csrftoken", &token)],
        "Mallory",
    )
    .await;
    reply.assert(403, &csrf_failed(TOKEN_MISSING));
    let reply = patch_profile(
        &app,
        &[("access_token", &access), ("xsrf", &token)],
        &[("x-xsrf-token", "wrong")],
        "Mallory",
    )
    .await;
    reply.assert(403, &csrf_failed(TOKEN_INCORRECT));
    assert_eq!(first_name(&app).await, "Ada");

    let reply = patch_profile(
        &app,
        &[("access_token", &access), ("xsrf", &token)],
        &[("x-xsrf-token", &token)],
        "Augusta",
    )
    .await;
    assert_eq!(reply.ok()["first_name"], "Augusta");
}
