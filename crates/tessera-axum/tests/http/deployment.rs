//! Django's deployment settings over HTTP: the host check (`allowed_hosts`,
//! `use_x_forwarded_host`), the HTTPS redirect and HSTS (`secure_*`), the cookie flags with
//! Django's names, `Expires` beside `Max-Age`, and authentication before method dispatch
//! (401 before 405 on routes that require a user, as DRF's `APIView.initial` runs first).

use axum::http::{Method, StatusCode, header};
use axum::routing::get;
use serde_json::json;
use tessera_axum::BrowserSettings;
use tessera_axum::routes::api_routes;
use tessera_store::NewUser;

use crate::helpers::{
    Api, NOT_PROVIDED, PASSWORD, Reply as TestResponse, SetCookie, TestApp, accounts_app,
    audit_app, browser_app,
};

const BAD_REQUEST: &str = r#"{"detail":"Bad Request (400)"}"#;
const FORBIDDEN: &str = r#"{"detail":"You do not have permission to perform this action."}"#;

/// The account routes, staff routes and a `/healthz` with `browser` adjusted by `change`.
async fn deployed(change: impl FnOnce(&mut BrowserSettings) + Send + 'static) -> TestApp {
    TestApp::builder()
        .nest("/api", api_routes())
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ready" }))
        .browser(change)
        .build()
        .await
}

fn hosts(list: &[&str]) -> Vec<String> {
    list.iter().map(|h| (*h).to_owned()).collect()
}

/// `GET path` naming `host`, with extra headers.
async fn get_as(app: &TestApp, host: &str, path: &str, headers: &[(&str, &str)]) -> TestResponse {
    let mut request = app.client().host(host).get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await
}

#[tokio::test]
async fn hosts_match_as_djangos_allowed_hosts_and_others_get_400_without_the_host() {
    let app = deployed(|b| b.allowed_hosts = hosts(&["api.example.com", ".example.org"])).await;
    for allowed in [
        "api.example.com",
        "API.Example.COM:8443",
        "api.example.com.",
        "example.org",
        "deep.sub.example.org:80",
    ] {
        let reply = get_as(&app, allowed, "/api/auth/profile/", &[]).await;
        assert_eq!(reply.status(), StatusCode::UNAUTHORIZED, "{allowed}");
        assert_eq!(reply.text(), NOT_PROVIDED);
    }
    for refused in [
        "evil.com",
        "example.com",
        "notexample.org",
        "api.example.com.evil.com",
        "api.example.com:port",
        "api.example.com/x",
        "",
    ] {
        let reply = get_as(&app, refused, "/api/auth/profile/", &[]).await;
        assert_eq!(reply.status(), StatusCode::BAD_REQUEST, "{refused}");
        assert_eq!(reply.text(), BAD_REQUEST, "{refused}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
    }
    // Refused before anything runs: a login with good credentials is not answered.
    app.create_user("ada@example.com", PASSWORD).await;
    let login = app
        .client()
        .host("evil.com")
        .post("/api/token/")
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(login.status(), StatusCode::BAD_REQUEST);
    assert_eq!(login.text(), BAD_REQUEST);
}

#[tokio::test]
async fn in_debug_mode_the_refusal_is_djangos_message() {
    let app = deployed(|b| {
        b.allowed_hosts = hosts(&[".localhost", "127.0.0.1", "[::1]"]);
        b.explain_disallowed_host = true;
    })
    .await;
    let reply = get_as(&app, "evil.com", "/api/auth/profile/", &[]).await;
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.text(),
        r#"{"detail":"Invalid HTTP_HOST header: 'evil.com'. You may need to add 'evil.com' to ALLOWED_HOSTS."}"#
    );
    let reply = get_as(&app, "EVIL.com:8000", "/api/auth/profile/", &[]).await;
    assert_eq!(
        reply.text(),
        r#"{"detail":"Invalid HTTP_HOST header: 'EVIL.com:8000'. You may need to add 'evil.com' to ALLOWED_HOSTS."}"#
    );
    let reply = get_as(&app, "bad_host", "/api/auth/profile/", &[]).await;
    assert_eq!(
        reply.text(),
        r#"{"detail":"Invalid HTTP_HOST header: 'bad_host'. The domain name provided is not valid according to RFC 1034/1035."}"#
    );
    for host in [
        "localhost",
        "app.localhost:8000",
        "127.0.0.1:8000",
        "[::1]:8000",
    ] {
        let reply = get_as(&app, host, "/api/auth/profile/", &[]).await;
        assert_eq!(reply.status(), StatusCode::UNAUTHORIZED, "{host}");
    }
}

#[tokio::test]
async fn a_star_allows_every_host_and_an_empty_list_checks_none() {
    for list in [vec!["*".to_owned()], Vec::new()] {
        let app = deployed(move |b| b.allowed_hosts = list).await;
        let reply = get_as(&app, "anything.example", "/api/auth/profile/", &[]).await;
        assert_eq!(reply.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn x_forwarded_host_is_the_host_only_when_trusted() {
    let untrusted = deployed(|b| b.allowed_hosts = hosts(&["api.example.com"])).await;
    let forwarded = [("x-forwarded-host", "evil.com")];
    let reply = get_as(
        &untrusted,
        "api.example.com",
        "/api/auth/profile/",
        &forwarded,
    )
    .await;
    assert_eq!(reply.status(), StatusCode::UNAUTHORIZED, "ignored");

    let trusted = deployed(|b| {
        b.allowed_hosts = hosts(&["api.example.com"]);
        b.use_x_forwarded_host = true;
    })
    .await;
    let reply = get_as(
        &trusted,
        "api.example.com",
        "/api/auth/profile/",
        &forwarded,
    )
    .await;
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
    let proxied = [("x-forwarded-host", "api.example.com")];
    let reply = get_as(&trusted, "10.0.0.7:8000", "/api/auth/profile/", &proxied).await;
    assert_eq!(reply.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn health_checks_answer_any_host_over_plain_http() {
    let app = deployed(|b| {
        b.allowed_hosts = hosts(&["api.example.com"]);
        b.secure_ssl_redirect = true;
        b.secure_proxy_ssl_header = Some(("x-forwarded-proto".into(), "https".into()));
    })
    .await;
    for path in ["/healthz", "/readyz"] {
        let reply = get_as(&app, "10.0.0.7:8000", path, &[]).await;
        assert_eq!(reply.status(), StatusCode::OK, "{path}");
    }
    // Anything else from that host is refused.
    let reply = get_as(&app, "10.0.0.7:8000", "/healthz/x", &[]).await;
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn plain_http_is_redirected_to_https_with_host_path_and_query() {
    let app = deployed(|b| {
        b.allowed_hosts = hosts(&["api.example.com"]);
        b.secure_ssl_redirect = true;
        b.secure_proxy_ssl_header = Some(("X-Forwarded-Proto".into(), "https".into()));
    })
    .await;
    let reply = get_as(
        &app,
        "api.example.com",
        "/api/admin/users/?page=2&search=a%20b",
        &[],
    )
    .await;
    assert_eq!(reply.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        reply.header("location"),
        Some("https://api.example.com/api/admin/users/?page=2&search=a%20b")
    );
    let reply = get_as(
        &app,
        "api.example.com:8443",
        "/api/token/",
        &[("x-forwarded-proto", "http")],
    )
    .await;
    assert_eq!(
        reply.header("location"),
        Some("https://api.example.com:8443/api/token/")
    );
    // Over HTTPS (the proxy's first value counts), the request is served.
    for proto in ["https", "https, http"] {
        let reply = get_as(
            &app,
            "api.example.com",
            "/api/auth/profile/",
            &[("x-forwarded-proto", proto)],
        )
        .await;
        assert_eq!(reply.status(), StatusCode::UNAUTHORIZED, "{proto}");
    }
    // The host is checked before the redirect: no redirect to another host.
    let reply = get_as(&app, "evil.com", "/api/token/", &[]).await;
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
    assert_eq!(reply.header("location"), None);
}

#[tokio::test]
async fn hsts_is_sent_on_https_responses_only() {
    let app = deployed(|b| {
        b.secure_hsts_seconds = 31_536_000;
        b.secure_proxy_ssl_header = Some(("HTTP_X_FORWARDED_PROTO".into(), "https".into()));
    })
    .await;
    let secure = [("x-forwarded-proto", "https")];
    let reply = get_as(&app, "testserver", "/api/auth/profile/", &secure).await;
    assert_eq!(
        reply.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    let reply = get_as(&app, "testserver", "/api/auth/profile/", &[]).await;
    assert_eq!(reply.header("strict-transport-security"), None);
    let reply = get_as(
        &app,
        "testserver",
        "/api/auth/profile/",
        &[("x-forwarded-proto", "http")],
    )
    .await;
    assert_eq!(reply.header("strict-transport-security"), None);

    let full = deployed(|b| {
        b.secure_hsts_seconds = 3600;
        b.secure_hsts_include_subdomains = true;
        b.secure_hsts_preload = true;
        b.secure_proxy_ssl_header = Some(("x-forwarded-proto".into(), "https".into()));
    })
    .await;
    let reply = get_as(&full, "testserver", "/api/token/", &secure).await;
    assert_eq!(reply.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        reply.header("strict-transport-security"),
        Some("max-age=3600; includeSubDomains; preload")
    );
}

/// The `Set-Cookie` headers of a response, parsed.
fn set_cookies(reply: &TestResponse) -> Vec<SetCookie> {
    reply
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| SetCookie::parse(v.to_str().unwrap()))
        .collect()
}

/// Logs Ada in through the cookie routes of an app with `browser` adjusted by `change`;
/// the cookies set.
async fn cookie_login(
    change: impl FnOnce(&mut BrowserSettings) + Send + 'static,
) -> Vec<SetCookie> {
    let app = browser_app().browser(change).build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let reply = app
        .client()
        .post("/api/auth/cookie/login/")
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(reply.status(), StatusCode::OK, "{}", reply.text());
    set_cookies(&reply)
}

fn named<'a>(cookies: &'a [SetCookie], name: &str) -> &'a SetCookie {
    cookies
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"))
}

/// `Expires` as Django's `http_date` writes it: `Thu, 01 Jan 1970 00:00:00 GMT`.
fn is_http_date(cookie: &SetCookie) -> bool {
    let Some(text) = cookie.get("Expires") else {
        return false;
    };
    let bytes = text.as_bytes();
    text.len() == 29
        && text.ends_with(" GMT")
        && &text[3..5] == ", "
        && bytes[5..7].iter().all(u8::is_ascii_digit)
        && cookie::Cookie::parse(cookie.raw.as_str())
            .ok()
            .and_then(|c| c.expires_datetime())
            .is_some()
}

#[tokio::test]
async fn cookies_carry_expires_beside_max_age_as_django_writes_them() {
    let cookies = cookie_login(|_| {}).await;
    for name in ["access_token", "refresh_token", "csrftoken"] {
        let cookie = named(&cookies, name);
        assert!(cookie.max_age().unwrap() > 0, "{}", cookie.raw);
        assert!(is_http_date(cookie), "{}", cookie.raw);
    }

    let app = browser_app().build().await;
    let reply = app.client().post("/api/auth/cookie/logout/").send().await;
    let cleared = set_cookies(&reply);
    assert!(!cleared.is_empty(), "{}", reply.text());
    for cookie in &cleared {
        assert!(cookie.is_cleared(), "{}", cookie.raw);
        assert_eq!(
            cookie.get("Expires"),
            Some("Thu, 01 Jan 1970 00:00:00 GMT"),
            "{}",
            cookie.raw
        );
    }
}

#[tokio::test]
async fn djangos_cookie_settings_shape_the_cookies_and_django_names_win() {
    // The defaults: Secure everywhere, the CSRF cookie readable by scripts, SameSite=Lax.
    let cookies = cookie_login(|_| {}).await;
    let csrf = named(&cookies, "csrftoken");
    assert_eq!(csrf.attribute("Secure"), Some(None));
    assert_eq!(csrf.attribute("HttpOnly"), None);

    let cookies = cookie_login(|b| {
        b.auth_cookie_secure = Some(false);
        b.session_cookie_secure = Some(true);
        b.csrf_cookie_secure = Some(false);
        b.csrf_cookie_httponly = true;
        b.session_cookie_samesite = Some(tessera_axum::CookieSameSite::Strict);
        b.csrf_cookie_samesite = tessera_axum::CookieSameSite::Strict;
    })
    .await;
    for name in ["access_token", "refresh_token"] {
        let cookie = named(&cookies, name);
        assert_eq!(
            cookie.attribute("Secure"),
            Some(None),
            "session_cookie_secure wins: {}",
            cookie.raw
        );
        assert_eq!(cookie.get("SameSite"), Some("Strict"), "{}", cookie.raw);
    }
    let csrf = named(&cookies, "csrftoken");
    assert_eq!(csrf.attribute("Secure"), None, "{}", csrf.raw);
    assert_eq!(csrf.attribute("HttpOnly"), Some(None), "{}", csrf.raw);
    assert_eq!(csrf.get("SameSite"), Some("Strict"), "{}", csrf.raw);

    // Unset, the Django names leave Tessera's: insecure token cookies, and the CSRF cookie
    // following them.
    let cookies = cookie_login(|b| b.auth_cookie_secure = Some(false)).await;
    assert_eq!(named(&cookies, "access_token").attribute("Secure"), None);
    assert_eq!(named(&cookies, "csrftoken").attribute("Secure"), None);
}

/// A user's access token; staff when `staff`.
async fn access(app: &TestApp, email: &str, staff: bool) -> String {
    app.create_user_with(
        NewUser {
            email: email.into(),
            is_active: true,
            is_staff: staff,
            ..NewUser::default()
        },
        PASSWORD,
    )
    .await;
    app.login(email, PASSWORD).await.access
}

#[tokio::test]
async fn a_protected_route_authenticates_before_it_refuses_a_method() {
    let app = accounts_app().build().await;
    let token = access(&app, "ada@example.com", false).await;
    for (method, path, allow) in [
        (
            Method::POST,
            "/api/auth/profile/",
            "GET, HEAD, PUT, PATCH, OPTIONS",
        ),
        (
            Method::DELETE,
            "/api/auth/profile/",
            "GET, HEAD, PUT, PATCH, OPTIONS",
        ),
        (Method::GET, "/api/auth/logout/", "POST, OPTIONS"),
        (Method::GET, "/api/auth/logout/all/", "POST, OPTIONS"),
        (Method::PUT, "/api/auth/password/change/", "POST, OPTIONS"),
        (Method::POST, "/api/auth/sessions/", "GET, HEAD, OPTIONS"),
        (Method::GET, "/api/auth/sessions/abc/", "DELETE, OPTIONS"),
    ] {
        let anonymous = app.client().request(method.clone(), path).send().await;
        assert_eq!(
            anonymous.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        assert_eq!(anonymous.text(), NOT_PROVIDED, "{method} {path}");
        assert!(
            anonymous.header("www-authenticate").is_some(),
            "{method} {path}"
        );

        let user = app.bearer(method.clone(), path, &token, None).await;
        assert_eq!(
            user.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(
            user.text(),
            format!(r#"{{"detail":"Method \"{method}\" not allowed."}}"#),
            "{method} {path}"
        );
        assert_eq!(user.header("allow"), Some(allow), "{method} {path}");

        // A bad token is refused as on the route's own methods.
        let forged = app.bearer(method.clone(), path, "not.a.token", None).await;
        assert_eq!(forged.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        // OPTIONS is answered as everywhere, with no credentials.
        let options = app.client().options(path).send().await;
        assert_eq!(options.status(), StatusCode::OK, "OPTIONS {path}");
        assert_eq!(options.header("allow"), Some(allow), "OPTIONS {path}");
    }
    // Public routes keep their 405.
    let public = app.client().get("/api/token/").send().await;
    assert_eq!(public.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(public.text(), r#"{"detail":"Method \"GET\" not allowed."}"#);
    let public = app.client().get("/api/auth/login/").send().await;
    assert_eq!(public.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn staff_routes_check_staff_before_they_refuse_a_method() {
    let app = audit_app().build().await;
    let user = access(&app, "ada@example.com", false).await;
    let staff = access(&app, "grace@example.com", true).await;
    for (method, path) in [
        (Method::POST, "/api/admin/users/"),
        (Method::PUT, "/api/admin/users/1/"),
        (Method::GET, "/api/admin/users/1/unlock/"),
        (Method::GET, "/api/admin/users/1/revoke_sessions/"),
        (Method::DELETE, "/api/admin/audit/"),
        (Method::DELETE, "/api/admin/keys/"),
        (Method::GET, "/api/admin/keys/rotate/"),
        (Method::GET, "/api/admin/keys/k1/retire/"),
    ] {
        let anonymous = app.client().request(method.clone(), path).send().await;
        assert_eq!(
            anonymous.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        let refused = app.bearer(method.clone(), path, &user, None).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(refused.text(), FORBIDDEN);
        let staff = app.bearer(method.clone(), path, &staff, None).await;
        assert_eq!(
            staff.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert!(staff.header("allow").is_some(), "{method} {path}");
    }
}

#[tokio::test]
async fn absolute_links_use_the_scheme_and_host_the_proxy_names() {
    let app = audit_app()
        .accounts(|a| a.page_size = 1)
        .browser(|b| {
            b.allowed_hosts = hosts(&["api.example.com", "internal", "testserver"]);
            b.use_x_forwarded_host = true;
            b.secure_proxy_ssl_header = Some(("x-forwarded-proto".into(), "https".into()));
        })
        .build()
        .await;
    access(&app, "ada@example.com", false).await;
    let staff = access(&app, "grace@example.com", true).await;
    let list = |headers: Vec<(&'static str, &'static str)>| {
        let mut request = app
            .client()
            .host("internal")
            .get("/api/admin/users/?search=example")
            .bearer_auth(&staff);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let proxied = list(vec![
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "api.example.com"),
    ])
    .await;
    assert_eq!(proxied.status(), StatusCode::OK, "{}", proxied.text());
    assert_eq!(
        proxied.json()["next"],
        "https://api.example.com/api/admin/users/?search=example&page=2"
    );
    let direct = list(Vec::new()).await;
    assert_eq!(
        direct.json()["next"],
        "http://internal/api/admin/users/?search=example&page=2"
    );
}
