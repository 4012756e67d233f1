//! The `tessera` server for browsers: the account page's and the admin console's HTTP
//! answers and security headers, the hardening headers of API responses, `debug` deciding `Secure` on cookies,
//! and cookie mode, CSRF and CORS wired from the server's configuration.

use axum::http::HeaderMap;
use serde_json::json;
use tessera_axum::testing::RequestBuilder;
use tessera_server::config::Config;
use tessera_server::startup::Application;

use crate::helpers::{PASSWORD, SIGNING_KEY, TestApp};

const APP: &str = "https://app.example.com";

/// A response read to the end.
struct Page {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl Page {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every `Set-Cookie` header.
    fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    /// The one `Set-Cookie` header of cookie `name`, split into `name=value` and attributes.
    #[track_caller]
    fn cookie(&self, name: &str) -> Vec<String> {
        let found: Vec<&str> = self
            .set_cookies()
            .into_iter()
            .filter(|c| c.starts_with(&format!("{name}=")))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "Set-Cookie for {name}: {:?}",
            self.set_cookies()
        );
        found[0]
            .split(';')
            .map(|part| part.trim().to_owned())
            .collect()
    }
}

/// Whether the attribute list has `flag` (case-insensitive, with or without a value).
fn has(cookie: &[String], flag: &str) -> bool {
    cookie[1..].iter().any(|part| {
        let name = part.split('=').next().unwrap_or_default();
        name.eq_ignore_ascii_case(flag)
    })
}

/// Sends a request of a new client — it neither follows redirects nor keeps cookies from
/// one request to the next — and reads the response.
async fn fetch(request: RequestBuilder) -> Page {
    let response = request.send().await;
    Page {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().to_owned(),
    }
}

async fn get(app: &TestApp, path: &str, cookie: Option<&str>) -> Page {
    let mut request = app.client().get(path);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    fetch(request).await
}

async fn cookie_login(app: &TestApp, email: &str) -> Page {
    let request = app
        .client()
        .post("/api/auth/cookie/login/")
        .json(&json!({"email": email, "password": PASSWORD}));
    fetch(request).await
}

/// The value of a `name=value` pair.
fn value(cookie: &[String]) -> String {
    cookie[0].split_once('=').unwrap().1.to_owned()
}

// ---- the account page ----

#[tokio::test]
async fn the_account_page_is_html_under_a_strict_policy_with_security_headers() {
    let app = TestApp::build().await;

    let page = get(&app, "/account/", None).await;

    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let policy = page.header("content-security-policy").expect("a CSP");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{policy} lacks {directive}");
    }
    assert!(
        !policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"),
        "{policy}"
    );
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(
        page.text.contains(r#"data-csrf-cookie="csrftoken""#),
        "{}",
        page.text
    );
    assert!(
        page.text.contains(r#"data-csrf-header="X-CSRFToken""#),
        "{}",
        page.text
    );
    assert!(
        page.text.contains(r#"src="/account/app.js""#),
        "{}",
        page.text
    );

    // The page hands out a CSRF token for its script to send back.
    let cookie = page.cookie("csrftoken");
    assert!(value(&cookie).len() >= 32, "{cookie:?}");
    assert!(!has(&cookie, "HttpOnly"), "{cookie:?}");
    assert!(cookie.contains(&"Path=/".to_owned()), "{cookie:?}");
    assert!(cookie.contains(&"SameSite=Lax".to_owned()), "{cookie:?}");

    // A browser that already holds one keeps it.
    let again = get(&app, "/account/", Some("csrftoken=already-there")).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.set_cookies(), Vec::<&str>::new());
}

#[tokio::test]
async fn the_page_tells_its_script_what_users_log_in_with() {
    let by_email = TestApp::build().await;
    let page = get(&by_email, "/account/", None).await;
    assert!(
        page.text
            .contains(r#"data-login-field="email" data-email-required="true""#),
        "{}",
        page.text
    );

    let by_username = TestApp::build_with(|config| {
        config.jwt.username_field = tessera_core::UsernameField::Username;
    })
    .await;
    let page = get(&by_username, "/account/", None).await;
    assert!(
        page.text
            .contains(r#"data-login-field="username" data-email-required="false""#),
        "{}",
        page.text
    );
    // Its forms have the username inputs the script shows.
    assert_eq!(
        page.text.matches(r#"name="username""#).count(),
        3,
        "{}",
        page.text
    );

    let required = TestApp::build_with(|config| {
        config.jwt.username_field = tessera_core::UsernameField::Username;
        config.accounts.registration_email_required = true;
    })
    .await;
    let page = get(&required, "/account/", None).await;
    assert!(
        page.text.contains(r#"data-email-required="true""#),
        "{}",
        page.text
    );
}

#[tokio::test]
async fn the_page_names_the_configured_csrf_cookie_and_header_html_escaped() {
    let app = TestApp::build_with(|config| {
        config.browser.csrf_cookie_name = "xsrf.token".into();
        config.browser.csrf_header_name = "X-Xsrf&Token".into();
        config.browser.csrf_require_token = true;
    })
    .await;
    app.create_user("ada@example.com").await;

    let page = get(&app, "/account/", None).await;

    assert!(
        page.text.contains(r#"data-csrf-cookie="xsrf.token""#),
        "{}",
        page.text
    );
    assert!(
        page.text.contains(r#"data-csrf-header="X-Xsrf&amp;Token""#),
        "{}",
        page.text
    );
    assert!(!page.text.contains("X-Xsrf&Token"), "unescaped");
    let token = value(&page.cookie("xsrf.token"));
    assert_eq!(
        get(&app, "/account/", Some(&format!("xsrf.token={token}")))
            .await
            .set_cookies(),
        Vec::<&str>::new()
    );
    // Django's default name is not the configured one.
    get(&app, "/account/", Some("csrftoken=x"))
        .await
        .cookie("xsrf.token");

    // What the page names is what the server checks.
    let login = |header: &'static str| {
        app.client()
            .post("/api/auth/cookie/login/")
            .header("cookie", format!("xsrf.token={token}"))
            .header(header, token.clone())
            .header("sec-fetch-site", "same-origin")
            .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
    };
    let refused = fetch(login("X-CSRFToken")).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(
        refused.text,
        r#"{"detail":"CSRF Failed: CSRF token missing."}"#
    );
    let accepted = fetch(login("X-Xsrf&Token")).await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
}

#[tokio::test]
async fn the_script_and_style_are_served_with_their_types() {
    let app = TestApp::build().await;

    for (path, content_type) in [
        ("/account/app.js", "text/javascript; charset=utf-8"),
        ("/account/app.css", "text/css; charset=utf-8"),
    ] {
        let page = get(&app, path, None).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(page.header("content-type"), Some(content_type), "{path}");
        assert_eq!(
            page.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert!(!page.text.is_empty(), "{path}");
        assert_eq!(page.set_cookies(), Vec::<&str>::new(), "{path}");
    }
}

#[tokio::test]
async fn the_links_in_mails_open_the_page_with_no_referrer_and_no_cache() {
    let app = TestApp::build().await;
    let account = get(&app, "/account/", None).await;
    assert_eq!(account.header("referrer-policy"), Some("same-origin"));

    for path in [
        "/account/reset/MQ/aGVsbG8td29ybGQtdG9rZW4tb2YtZm9ydHktdGhyZWUtY2hhcnM/",
        "/account/verify-email/some-key/",
        "/account/email-change/some-key/",
    ] {
        let page = get(&app, path, None).await;
        assert_eq!(page.status, 200, "{path}: {}", page.text);
        assert_eq!(page.text, account.text, "{path}: the account page itself");
        assert_eq!(
            page.header("referrer-policy"),
            Some("no-referrer"),
            "{path}"
        );
        assert_eq!(page.header("cache-control"), Some("no-store"), "{path}");
        assert_eq!(
            page.header("content-security-policy"),
            account.header("content-security-policy"),
            "{path}"
        );
    }
    // Only the shapes of the links: anything else under /account/ is a 404.
    assert_eq!(get(&app, "/account/reset/MQ/", None).await.status, 404);
}

#[tokio::test]
async fn the_page_has_the_forms_of_the_mail_flows() {
    let app = TestApp::build().await;
    let page = get(&app, "/account/", None).await;
    for id in [
        "forgot-link",
        "forgot-form",
        "forgot-email",
        "reset-code-form",
        "reset-code",
        "reset-password1",
        "reset-password2",
        "reset-form",
        "verify-button",
        "email-change-confirm-button",
        "email-status",
        "resend-verification",
        "email-change-form",
        "new-email",
        "email-change-password",
        "message",
    ] {
        assert_eq!(
            page.text.matches(&format!(r#"id="{id}""#)).count(),
            1,
            "one element #{id}"
        );
    }
}

#[tokio::test]
async fn account_without_the_slash_redirects_permanently() {
    let app = TestApp::build().await;

    let page = get(&app, "/account", None).await;

    assert!(matches!(page.status, 301 | 308), "{}", page.status);
    assert_eq!(page.header("location"), Some("/account/"));
}

#[tokio::test]
async fn api_responses_carry_nosniff_and_a_deny_everything_policy() {
    let app = TestApp::build().await;

    for path in ["/", "/api/auth/profile/", "/nope/"] {
        let page = get(&app, path, None).await;
        assert_eq!(
            page.header("content-type"),
            Some("application/json"),
            "{path}"
        );
        assert_eq!(
            page.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        let policy = page.header("content-security-policy").unwrap_or_default();
        assert!(policy.contains("default-src 'none'"), "{path}: {policy}");
        assert_eq!(page.header("x-frame-options"), Some("DENY"), "{path}");
    }
}

// ---- debug decides Secure ----

/// The token and CSRF cookies of a cookie login and the account page's CSRF cookie.
async fn cookies_of(app: &TestApp) -> Vec<Vec<String>> {
    app.create_user("ada@example.com").await;
    let login = cookie_login(app, "ada@example.com").await;
    assert_eq!(login.status, 200, "{}", login.text);
    let page = get(app, "/account/", None).await;
    vec![
        login.cookie("access_token"),
        login.cookie("refresh_token"),
        login.cookie("csrftoken"),
        page.cookie("csrftoken"),
    ]
}

#[tokio::test]
async fn in_debug_mode_cookies_are_not_secure() {
    let app = TestApp::build_with(|config| config.debug = true).await;

    for cookie in cookies_of(&app).await {
        assert!(!has(&cookie, "Secure"), "{cookie:?}");
    }
}

#[tokio::test]
async fn in_production_cookies_are_secure() {
    let app = TestApp::build_with(|config| {
        config.debug = false;
        config.jwt.signing_key = Some(SIGNING_KEY.into());
        config.mail.email_backend = tessera_auth::mail::EmailBackend::Off;
    })
    .await;

    let cookies = cookies_of(&app).await;
    for cookie in &cookies {
        assert!(has(cookie, "Secure"), "{cookie:?}");
    }
    for token in &cookies[..2] {
        assert!(has(token, "HttpOnly"), "{token:?}");
        assert!(token.contains(&"SameSite=Lax".to_owned()), "{token:?}");
    }
    assert!(cookies[0].contains(&"Path=/".to_owned()));
    assert!(
        cookies[0].contains(&"Max-Age=900".to_owned()),
        "{:?}",
        cookies[0]
    );
    assert!(cookies[1].contains(&"Path=/api/auth/".to_owned()));
    assert!(
        cookies[1].contains(&"Max-Age=604800".to_owned()),
        "{:?}",
        cookies[1]
    );
}

#[tokio::test]
async fn an_explicit_auth_cookie_secure_overrides_debug() {
    let app = TestApp::build_with(|config| {
        config.debug = true;
        config.browser.auth_cookie_secure = Some(true);
    })
    .await;
    for cookie in cookies_of(&app).await {
        assert!(has(&cookie, "Secure"), "{cookie:?}");
    }

    // Production refuses to send tokens over plain HTTP.
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.path().join("data"),
        debug: false,
        ..Config::default()
    };
    config.jwt.signing_key = Some(SIGNING_KEY.into());
    config.browser.auth_cookie_secure = Some(false);
    let error = Application::build(config)
        .await
        .expect_err("insecure cookies in production");
    assert!(error.to_string().contains("auth_cookie_secure"), "{error}");
}

// ---- cookie mode, CSRF and CORS through the server ----

#[tokio::test]
async fn the_access_cookie_authenticates_server_routes_under_csrf_protection() {
    let app = TestApp::build().await;
    app.create_user("ada@example.com").await;
    let login = cookie_login(&app, "ada@example.com").await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&login.text).unwrap()["message"],
        "Login successful"
    );
    let cookie = format!("access_token={}", value(&login.cookie("access_token")));

    let sessions = get(&app, "/api/auth/sessions/", Some(&cookie)).await;
    assert_eq!(sessions.status, 200, "{}", sessions.text);
    let patch = |site: &'static str| {
        app.client()
            .patch("/api/auth/profile/")
            .header("cookie", cookie.clone())
            .header("sec-fetch-site", site)
            .header("origin", "https://evil.example")
            .json(&json!({"first_name": "Mallory"}))
    };
    let refused = fetch(patch("cross-site")).await;
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.text,
        r#"{"detail":"CSRF Failed: Origin checking failed - https://evil.example does not match any trusted origins."}"#
    );
    assert_eq!(refused.header("x-content-type-options"), Some("nosniff"));
    let profile = get(&app, "/api/auth/profile/", Some(&cookie)).await;
    assert!(
        profile.text.contains(r#""first_name":"Ada""#),
        "{}",
        profile.text
    );
}

#[tokio::test]
async fn cors_comes_from_the_configuration() {
    let app = TestApp::build_with(|config| {
        config.browser.cors_allowed_origins = vec![APP.into()];
        config.browser.cors_allow_credentials = true;
    })
    .await;

    let preflight = fetch(
        app.client()
            .options("/api/auth/cookie/login/")
            .header("origin", APP)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, x-csrftoken",
            ),
    )
    .await;
    assert_eq!(preflight.status, 200);
    assert_eq!(preflight.header("access-control-allow-origin"), Some(APP));
    assert_eq!(
        preflight.header("access-control-allow-credentials"),
        Some("true")
    );
    // An OPTIONS request that is no preflight still gets DRF's answer.
    let options = fetch(app.client().options("/api/token/")).await;
    assert_eq!(options.header("allow"), Some("POST, OPTIONS"));
}

#[tokio::test]
async fn any_origin_with_credentials_stops_the_server() {
    let mut config = Config::default();
    config.browser.cors_allow_all_origins = true;
    config.browser.cors_allow_credentials = true;

    let error = config.validate().expect_err("`*` with credentials");
    assert!(
        error.to_string().contains("cors_allow_all_origins"),
        "{error}"
    );

    let dir = tempfile::tempdir().unwrap();
    config.bind = "127.0.0.1:0".into();
    config.data_dir = dir.path().join("data");
    config.jwt.signing_key = Some(SIGNING_KEY.into());
    let error = Application::build(config)
        .await
        .expect_err("`*` with credentials");
    assert!(
        error.to_string().contains("cors_allow_all_origins"),
        "{error}"
    );
}

// ---- the admin console ----

#[tokio::test]
async fn the_admin_console_is_html_under_the_account_pages_strict_policy() {
    let app = TestApp::build().await;

    let page = get(&app, "/admin/", None).await;

    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let policy = page.header("content-security-policy").expect("a CSP");
    assert_eq!(policy, tessera_server::account_page::PAGE_POLICY);
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{policy} lacks {directive}");
    }
    assert!(
        !policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"),
        "{policy}"
    );
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    for attribute in [
        r#"data-csrf-cookie="csrftoken""#,
        r#"data-csrf-header="X-CSRFToken""#,
        r#"data-auth-api="/api/auth/""#,
        r#"data-admin-api="/api/admin/""#,
        r#"data-user-fields="[]""#,
        r#"src="/admin/app.js""#,
        r#"href="/admin/app.css""#,
    ] {
        assert!(page.text.contains(attribute), "{attribute}: {}", page.text);
    }
    // No inline script or style: the policy would block it.
    assert!(!page.text.contains("<script>"), "{}", page.text);
    assert!(!page.text.contains("style="), "{}", page.text);
    let csrf = page.cookie("csrftoken");
    assert!(!has(&csrf, "HttpOnly"), "{csrf:?}");
    let again = get(&app, "/admin/", Some("csrftoken=already-there")).await;
    assert_eq!(again.set_cookies(), Vec::<&str>::new());
}

#[tokio::test]
async fn the_admin_console_has_its_stable_element_ids() {
    let app = TestApp::build().await;
    let page = get(&app, "/admin/", None).await;
    for id in [
        "login-form",
        "refused",
        "console",
        "message",
        "user-search",
        "user-search-text",
        "filter-active",
        "filter-staff",
        "filter-verified",
        "users",
        "users-next",
        "user-detail",
        "user-form",
        "user-save",
        "user-toggle-active",
        "user-unlock",
        "user-reset-mfa",
        "user-revoke-sessions",
        "user-delete",
        "user-delete-yes",
        "user-sessions",
        "groups",
        "group-form",
        "api-keys",
        "audit-filter",
        "audit",
        "keys",
        "key-generate",
        "key-rotate",
    ] {
        assert_eq!(
            page.text.matches(&format!(r#"id="{id}""#)).count(),
            1,
            "one element #{id}"
        );
    }
}

#[tokio::test]
async fn the_admin_console_names_the_declared_user_fields_escaped() {
    let app = TestApp::build_with(|config| {
        config.accounts.user_fields = serde_json::from_value(json!([
            {"name": "phone_number", "type": "string", "max_length": 20},
            {"name": "is_premium", "type": "boolean", "read_only": true, "default": false},
        ]))
        .unwrap();
    })
    .await;

    let page = get(&app, "/admin/", None).await;

    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains(
            "data-user-fields=\"[{&quot;name&quot;:&quot;phone_number&quot;,&quot;type&quot;:\
             &quot;string&quot;,&quot;max_length&quot;:20},{&quot;name&quot;:&quot;is_premium&quot;,\
             &quot;type&quot;:&quot;boolean&quot;,&quot;max_length&quot;:null}]\""
        ),
        "{}",
        page.text
    );
}

#[tokio::test]
async fn the_admin_consoles_script_and_style_are_served_with_their_types() {
    let app = TestApp::build().await;

    for (path, content_type) in [
        ("/admin/app.js", "text/javascript; charset=utf-8"),
        ("/admin/app.css", "text/css; charset=utf-8"),
    ] {
        let page = get(&app, path, None).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(page.header("content-type"), Some(content_type), "{path}");
        assert_eq!(
            page.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert!(!page.text.is_empty(), "{path}");
        assert_eq!(page.set_cookies(), Vec::<&str>::new(), "{path}");
    }
}

#[tokio::test]
async fn admin_without_the_slash_redirects_permanently() {
    let app = TestApp::build().await;

    let page = get(&app, "/admin", None).await;

    assert!(matches!(page.status, 301 | 308), "{}", page.status);
    assert_eq!(page.header("location"), Some("/admin/"));
}

#[tokio::test]
async fn the_page_tells_its_script_whether_a_passkey_signs_in_alone() {
    let off = TestApp::build().await;
    let page = get(&off, "/account/", None).await;
    assert!(
        page.text.contains(r#"data-passkey-login="false""#),
        "{}",
        page.text
    );

    let on = TestApp::build_with(|config| config.passkeys.passkey_login = true).await;
    let page = get(&on, "/account/", None).await;
    assert!(
        page.text.contains(r#"data-passkey-login="true""#),
        "{}",
        page.text
    );
}

#[tokio::test]
async fn the_page_has_the_screens_of_second_factors_passkeys_and_providers() {
    let app = TestApp::build().await;
    let page = get(&app, "/account/", None).await;
    for id in [
        "passkey-login",
        "mfa-form",
        "mfa-code",
        "mfa-use-recovery",
        "mfa-use-passkey",
        "mfa-enrol-form",
        "mfa-enrol-qr",
        "mfa-card",
        "mfa-status",
        "mfa-setup-start",
        "mfa-qr",
        "mfa-secret",
        "mfa-confirm-form",
        "mfa-recovery-codes",
        "mfa-recovery-saved",
        "mfa-regenerate-form",
        "mfa-disable-form",
        "passkeys-card",
        "passkeys",
        "passkey-add-form",
        "social",
        "social-buttons",
        "social-card",
        "identities",
    ] {
        assert_eq!(
            page.text.matches(&format!(r#"id="{id}""#)).count(),
            1,
            "one element #{id}"
        );
    }
}
