//! Throttling: DRF's rate syntax, its
//! sliding window and `wait()`, 429 `Request was throttled. Expected available in N seconds.`
//! with `Retry-After: N`, the `login` and `register` scopes, `anon` and `user`, and the client
//! address (the socket's, or `X-Forwarded-For` behind `num_proxies` trusted proxies).

use std::time::Duration;

use axum::http::{Method, StatusCode};
use futures_util::future::join_all;
use serde_json::{Value, json};
use tessera_auth::guard::Rate;
use tessera_axum::{ClientInfo, ThrottleSettings, ThrottleStorage};
use tessera_core::Claims;

use crate::helpers::{
    ACCOUNT_PASSWORD, Api, CookieApi, MetricsProbe, NO_ACTIVE_ACCOUNT, PASSWORD, Records, Reply,
    TestApp, field_error, throttled_app, token_app,
};

/// Throttle settings with these rates, and no lockout (so that failed logins only count
/// against the rate).
fn rates(pairs: &[(&str, &str)]) -> impl FnOnce(&mut ThrottleSettings) + Send + use<> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(scope, rate)| ((*scope).to_owned(), (*rate).to_owned()))
        .collect();
    move |settings| {
        settings.throttle_rates = pairs.into_iter().collect();
        settings.login_failure_limit = 0;
    }
}

/// An app with these rates and Ada (`ada@example.com`, [`PASSWORD`]).
async fn app_with(pairs: &[(&str, &str)]) -> TestApp {
    let app = throttled_app().throttling(rates(pairs)).build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    app
}

/// A registration body for `email`.
fn registration(email: &str) -> Value {
    json!({
        "email": email,
        "password": ACCOUNT_PASSWORD,
        "password_confirm": ACCOUNT_PASSWORD,
    })
}

/// Logs Ada in on one of the four login routes.
async fn login_on(app: &TestApp, path: &str) -> Reply {
    app.post_json(
        path,
        &json!({"email": "ada@example.com", "password": PASSWORD}),
    )
    .await
}

/// The four routes that check a password: both obtain routes, the account login and the
/// cookie login.
const LOGIN_ROUTES: [&str; 4] = [
    "/api/token/",
    "/api/token/sliding/",
    "/api/auth/login/",
    "/api/auth/cookie/login/",
];

// ---- rates ----

#[test]
fn rates_are_read_like_drfs_parse_rate() {
    let rate = |requests, secs| {
        Some(Rate {
            requests,
            period: Duration::from_secs(secs),
        })
    };
    assert_eq!(Rate::parse("5/min"), rate(5, 60));
    assert_eq!(Rate::parse("100/day"), rate(100, 86_400));
    assert_eq!(Rate::parse("3/s"), rate(3, 1));
    assert_eq!(Rate::parse("10/hour"), rate(10, 3600));
    // DRF reads only the period's first letter.
    assert_eq!(Rate::parse("5/m"), rate(5, 60));
    assert_eq!(Rate::parse("7/second"), rate(7, 1));
    assert_eq!(Rate::parse("2/h"), rate(2, 3600));
    assert_eq!(Rate::parse("1/d"), rate(1, 86_400));
}

#[tokio::test]
async fn an_invalid_rate_is_refused_at_configuration_and_names_the_setting() {
    let app = token_app().build().await;
    for bad in [
        "5",
        "five/min",
        "5/fortnight",
        "5/",
        "/min",
        "5/Min",
        "-1/min",
    ] {
        let mut settings = ThrottleSettings::default();
        settings.throttle_rates.insert("login".into(), bad.into());
        let error = app
            .tessera
            .clone()
            .to_builder()
            .throttling(settings)
            .build()
            .await
            .expect_err(bad);
        assert_eq!(error.setting(), Some("throttle_rates"), "{bad}");
        let message = error.to_string();
        assert!(
            message.contains("throttle_rates")
                && message.contains("login")
                && message.contains(bad),
            "{bad}: {message}"
        );
    }
    // The other scopes are checked as well.
    let mut settings = ThrottleSettings::default();
    settings.throttle_rates.insert("anon".into(), "lots".into());
    assert_eq!(
        app.tessera
            .clone()
            .to_builder()
            .throttling(settings)
            .build()
            .await
            .expect_err("anon")
            .setting(),
        Some("throttle_rates")
    );
    // The lockout lengths too.
    let settings = ThrottleSettings {
        login_lockout_base: Duration::ZERO,
        ..ThrottleSettings::default()
    };
    assert!(
        app.tessera
            .clone()
            .to_builder()
            .throttling(settings)
            .build()
            .await
            .is_err()
    );
    let settings = ThrottleSettings {
        login_lockout_base: Duration::from_secs(120),
        login_lockout_max: Duration::from_secs(60),
        ..ThrottleSettings::default()
    };
    assert!(
        app.tessera
            .clone()
            .to_builder()
            .throttling(settings)
            .build()
            .await
            .is_err()
    );
}

// ---- the login scope ----

#[tokio::test]
async fn the_fourth_login_within_the_window_waits_as_drf_computes() {
    let app = app_with(&[("login", "3/min")]).await;

    for _ in 0..3 {
        app.obtain("ada@example.com", PASSWORD).await.ok();
        app.advance(10);
    }
    // t=30: the oldest request (t=0) leaves the window at t=60.
    app.obtain("ada@example.com", PASSWORD)
        .await
        .assert_throttled(30);
}

#[tokio::test]
async fn a_wait_of_one_second_is_singular() {
    let app = app_with(&[("login", "3/min")]).await;
    for _ in 0..3 {
        app.obtain("ada@example.com", PASSWORD).await.ok();
        app.advance(10);
    }

    app.set_offset_micros(59_000_000);
    app.obtain("ada@example.com", PASSWORD)
        .await
        .assert_throttled(1);
}

#[tokio::test]
async fn the_wait_is_rounded_up_like_drfs_ceil() {
    let app = app_with(&[("login", "3/min")]).await;
    for _ in 0..3 {
        app.obtain("ada@example.com", PASSWORD).await.ok();
        app.advance(10);
    }

    // 60 - 30.2 = 29.8 seconds.
    app.set_offset_micros(30_200_000);
    app.obtain("ada@example.com", PASSWORD)
        .await
        .assert_throttled(30);
    // 60 - 58.5 = 1.5 seconds.
    app.set_offset_micros(58_500_000);
    app.obtain("ada@example.com", PASSWORD)
        .await
        .assert_throttled(2);
}

#[tokio::test]
async fn the_window_slides_and_throttled_requests_are_not_counted() {
    let app = app_with(&[("login", "3/min")]).await;
    window_slides_as_drfs(&app).await;
}

/// With a `login` rate of 3/min: DRF's window and waits over 81 seconds, refusals not
/// entering the history.
async fn window_slides_as_drfs(app: &TestApp) {
    for _ in 0..3 {
        app.obtain("ada@example.com", PASSWORD).await.ok();
        app.advance(10);
    }
    // t=30, 40, 50: refused, and the refusals do not enter the history.
    for wait in [30, 20, 10] {
        app.obtain("ada@example.com", PASSWORD)
            .await
            .assert_throttled(wait);
        app.advance(10);
    }

    // t=60: the request of t=0 has left the window.
    app.obtain("ada@example.com", PASSWORD).await.ok();
    app.advance(1);
    // t=61: the history is 60, 20, 10; the oldest leaves at t=70.
    app.obtain("ada@example.com", PASSWORD)
        .await
        .assert_throttled(9);
    app.set_offset_micros(70_000_000);
    app.obtain("ada@example.com", PASSWORD).await.ok();
    app.advance(10);
    app.obtain("ada@example.com", PASSWORD).await.ok();
    app.advance(1);
    // t=81: the history is 80, 70, 60.
    app.obtain("ada@example.com", PASSWORD)
        .await
        .assert_throttled(39);
}

/// The same window and waits with the counters in the store (as several servers keep them).
#[tokio::test]
async fn counters_in_the_store_slide_and_wait_exactly_as_in_memory() {
    let app = throttled_app()
        .throttling(|settings: &mut ThrottleSettings| {
            rates(&[("login", "3/min")])(settings);
            settings.throttle_storage = ThrottleStorage::Database;
        })
        .build()
        .await;
    app.create_user("ada@example.com", PASSWORD).await;
    window_slides_as_drfs(&app).await;
    // The counters are rows in the store, not this process's memory.
    let hit = app
        .tessera
        .auth()
        .store()
        .throttle_hit(
            "throttle_login_127.0.0.1",
            3,
            Duration::from_secs(60),
            app.tessera.auth().now(),
        )
        .await
        .unwrap();
    assert!(!hit.allowed);
    assert_eq!(hit.count, 3);
}

#[tokio::test]
async fn every_login_route_shares_one_login_budget_per_address() {
    let app = app_with(&[("login", "4/min")]).await;

    for path in LOGIN_ROUTES {
        let reply = login_on(&app, path).await;
        assert_eq!(reply.status(), StatusCode::OK, "{path}: {}", reply.text());
    }
    app.advance(15);
    for path in LOGIN_ROUTES {
        // The cookie route answers the throttle in DRF's shape too.
        login_on(&app, path).await.assert_throttled(45);
    }
    app.advance(45);
    for path in LOGIN_ROUTES {
        let reply = login_on(&app, path).await;
        assert_eq!(reply.status(), StatusCode::OK, "{path}: {}", reply.text());
    }
}

#[tokio::test]
async fn failed_and_malformed_logins_count_against_the_budget() {
    let app = app_with(&[("login", "3/min")]).await;

    app.obtain("ada@example.com", "wrong password")
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
    app.post_json("/api/token/", &json!({"email": "ada@example.com"}))
        .await
        .assert(400, &field_error("password", "This field is required."));
    app.account_login("nobody@example.com", PASSWORD)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);

    app.obtain("ada@example.com", PASSWORD)
        .await
        .assert_throttled(60);
}

#[tokio::test]
async fn throttled_logins_reach_no_hasher_and_open_no_session() {
    let probe = MetricsProbe::default();
    let _recording = probe.install();
    let app = app_with(&[("login", "2/min")]).await;
    let ada = app.user_by_email("ada@example.com").await.expect("ada");
    app.obtain("ada@example.com", PASSWORD).await.ok();
    app.account_login("ada@example.com", PASSWORD).await.ok();
    assert_eq!(probe.hashes(), 2);
    assert_eq!(app.session_count(&ada).await, 2);

    for _ in 0..5 {
        for path in LOGIN_ROUTES {
            login_on(&app, path).await.assert_throttled(60);
        }
        app.obtain("ada@example.com", "wrong password")
            .await
            .assert_throttled(60);
    }

    assert_eq!(probe.hashes(), 2, "a throttled login was hashed");
    assert_eq!(
        app.session_count(&ada).await,
        2,
        "a throttled login opened a session"
    );
    assert_eq!(
        probe.counter(r#"tessera_throttled_total{scope="login"}"#),
        25
    );
}

#[tokio::test]
async fn each_address_has_its_own_login_budget() {
    let app = app_with(&[("login", "1/min")]).await;
    let other = app.client_from([127, 0, 0, 2]);
    let body = json!({"email": "ada@example.com", "password": PASSWORD});

    app.obtain("ada@example.com", PASSWORD).await.ok();
    app.obtain("ada@example.com", PASSWORD)
        .await
        .assert_throttled(60);

    let reply = app
        .send(other.request(Method::POST, "/api/token/").json(&body))
        .await;
    reply.ok();
    assert_eq!(
        app.session_of(&reply.field("refresh")).await.ip.as_deref(),
        Some("127.0.0.2")
    );
    app.send(other.request(Method::POST, "/api/token/").json(&body))
        .await
        .assert_throttled(60);
}

// ---- the register scope ----

#[tokio::test]
async fn the_register_scope_covers_both_register_routes_and_creates_nothing_when_throttled() {
    let probe = MetricsProbe::default();
    let _recording = probe.install();
    let app = throttled_app()
        .throttling(rates(&[("register", "2/min")]))
        .build()
        .await;

    let reply = app.register(&registration("ada@example.com")).await;
    assert_eq!(reply.status(), StatusCode::CREATED, "{}", reply.text());
    app.advance(20);
    let reply = app
        .cookie_post("register", &[], &registration("grace@example.com"))
        .await;
    assert_eq!(reply.status(), StatusCode::CREATED, "{}", reply.text());
    assert_eq!(probe.hashes(), 2);

    app.register(&registration("edsger@example.com"))
        .await
        .assert_throttled(40);
    let reply = app
        .cookie_post("register", &[], &registration("barbara@example.com"))
        .await;
    reply.assert_throttled(40);
    assert!(
        reply.set_cookies().is_empty(),
        "a throttled registration set cookies"
    );

    assert_eq!(app.user_count().await, 2);
    assert_eq!(app.user_by_email("edsger@example.com").await, None);
    assert_eq!(probe.hashes(), 2, "a throttled registration was hashed");

    app.advance(40);
    let reply = app.register(&registration("edsger@example.com")).await;
    assert_eq!(reply.status(), StatusCode::CREATED, "{}", reply.text());
}

#[tokio::test]
async fn login_and_register_budgets_are_separate() {
    let app = throttled_app()
        .throttling(rates(&[("login", "1/min"), ("register", "1/min")]))
        .build()
        .await;

    let reply = app.register(&registration("ada@example.com")).await;
    assert_eq!(reply.status(), StatusCode::CREATED, "{}", reply.text());
    app.account_login("ada@example.com", ACCOUNT_PASSWORD)
        .await
        .ok();

    app.account_login("ada@example.com", ACCOUNT_PASSWORD)
        .await
        .assert_throttled(60);
    app.register(&registration("grace@example.com"))
        .await
        .assert_throttled(60);
}

// ---- anon and user ----

#[tokio::test]
async fn anonymous_requests_are_counted_by_address_on_every_route() {
    let app = app_with(&[("anon", "3/min")]).await;

    app.get_auth("/api/public/", None).await.ok();
    app.get_auth("/api/public/", None).await.ok();
    app.verify("not-a-token").await;
    app.advance(5);

    app.get_auth("/api/public/", None)
        .await
        .assert_throttled(55);
    app.verify("not-a-token").await.assert_throttled(55);
    // Throttled before the password is checked.
    app.obtain("ada@example.com", PASSWORD)
        .await
        .assert_throttled(55);

    let other = app.client_from([127, 0, 0, 3]);
    app.send(other.request(Method::GET, "/api/public/"))
        .await
        .ok();
}

/// Throttles run before the view (where DRF runs them after authentication): a token that
/// fails its checks names nobody, so its request counts against the address — forged
/// tokens buy no budget of their own.
#[tokio::test]
async fn a_forged_token_counts_against_the_address() {
    let app = app_with(&[("anon", "2/min"), ("user", "100/min")]).await;
    let forged = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiMSJ9.c2lnbmF0dXJl";
    let first = app.get_bearer("/api/protected/", forged).await;
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED, "{}", first.text());
    app.get_auth("/api/public/", None).await.ok();
    for token in [forged, "another.forged.token"] {
        app.get_bearer("/api/protected/", token)
            .await
            .assert_throttled(60);
    }
}

#[tokio::test]
async fn the_anon_rate_leaves_authenticated_requests_alone() {
    let app = app_with(&[("anon", "1/min")]).await;
    let ada = app.user_by_email("ada@example.com").await.expect("ada");
    let pair = app
        .tessera
        .auth()
        .issue_pair(&ada, &ClientInfo::default(), &Claims::new())
        .await
        .expect("tokens");

    for _ in 0..10 {
        app.get_bearer("/api/protected/", &pair.access).await.ok();
        app.get_bearer("/api/public/", &pair.access).await.ok();
    }
    app.get_auth("/api/public/", None).await.ok();
    app.get_auth("/api/public/", None)
        .await
        .assert_throttled(60);
    // Authenticated requests still pass.
    app.get_bearer("/api/protected/", &pair.access).await.ok();
}

#[tokio::test]
async fn authenticated_requests_are_counted_by_user() {
    let app = app_with(&[("user", "3/min")]).await;
    app.create_user("grace@example.com", PASSWORD).await;
    let mut access = Vec::new();
    for email in ["ada@example.com", "grace@example.com"] {
        let user = app.user_by_email(email).await.expect("user");
        let pair = app
            .tessera
            .auth()
            .issue_pair(&user, &ClientInfo::default(), &Claims::new())
            .await
            .expect("tokens");
        access.push(pair.access);
    }
    let (ada, grace) = (&access[0], &access[1]);

    app.get_bearer("/api/protected/", ada).await.ok();
    app.advance(15);
    app.get_bearer("/api/protected/", ada).await.ok();
    app.get_bearer("/api/public/", ada).await.ok();
    app.advance(5);
    app.get_bearer("/api/protected/", ada)
        .await
        .assert_throttled(40);

    // Grace, from the same address, has her own budget.
    for _ in 0..3 {
        app.get_bearer("/api/protected/", grace).await.ok();
    }
    app.get_bearer("/api/protected/", grace)
        .await
        .assert_throttled(60);

    // Anonymous requests from that address are counted by address, apart from both.
    for _ in 0..3 {
        app.get_auth("/api/public/", None).await.ok();
    }
    app.get_auth("/api/public/", None)
        .await
        .assert_throttled(60);

    // Ada's budget follows her to another address.
    let other = app.client_from([127, 0, 0, 4]);
    app.send(
        other
            .request(Method::GET, "/api/protected/")
            .bearer_auth(ada),
    )
    .await
    .assert_throttled(40);

    app.advance(40);
    app.get_bearer("/api/protected/", ada).await.ok();
}

#[tokio::test]
async fn without_any_rate_nothing_is_throttled() {
    // An empty rate is off as well.
    let app = app_with(&[("login", ""), ("register", "")]).await;
    let pair = app.login("ada@example.com", PASSWORD).await;

    for _ in 0..60 {
        app.get_auth("/api/public/", None).await.ok();
        app.get_bearer("/api/protected/", &pair.access).await.ok();
    }
    for path in LOGIN_ROUTES.iter().cycle().take(12) {
        let reply = login_on(&app, path).await;
        assert_eq!(reply.status(), StatusCode::OK, "{path}: {}", reply.text());
    }
    for n in 0..6 {
        let reply = app
            .register(&registration(&format!("user{n}@example.com")))
            .await;
        assert_eq!(reply.status(), StatusCode::CREATED, "{}", reply.text());
    }
}

// ---- the client address ----

#[tokio::test]
async fn behind_one_proxy_the_client_is_the_last_forwarded_address() {
    let app = throttled_app()
        .throttling(|settings| {
            rates(&[("login", "1/min")])(settings);
            settings.num_proxies = Some(1);
        })
        .build()
        .await;
    app.create_user("ada@example.com", PASSWORD).await;

    let reply = app
        .obtain_forwarded("203.0.113.7", "ada@example.com", PASSWORD)
        .await;
    reply.ok();
    assert_eq!(
        app.session_of(&reply.field("refresh")).await.ip.as_deref(),
        Some("203.0.113.7")
    );
    app.obtain_forwarded("203.0.113.7", "ada@example.com", PASSWORD)
        .await
        .assert_throttled(60);
    // What the client wrote itself, left of what the proxy appended, changes nothing.
    app.obtain_forwarded("198.51.100.1, 203.0.113.7", "ada@example.com", PASSWORD)
        .await
        .assert_throttled(60);

    // Another forwarded client has its own budget.
    app.obtain_forwarded("203.0.113.7, 198.51.100.9", "ada@example.com", PASSWORD)
        .await
        .ok();
    app.obtain_forwarded("198.51.100.9", "ada@example.com", PASSWORD)
        .await
        .assert_throttled(60);
    // Without the header, the socket's address.
    app.obtain("ada@example.com", PASSWORD).await.ok();
    app.obtain("ada@example.com", PASSWORD)
        .await
        .assert_throttled(60);
}

#[tokio::test]
async fn without_num_proxies_forwarded_for_is_ignored() {
    let app = app_with(&[("login", "1/min")]).await;

    let reply = app
        .obtain_forwarded("203.0.113.7", "ada@example.com", PASSWORD)
        .await;
    reply.ok();
    assert_eq!(
        app.session_of(&reply.field("refresh")).await.ip.as_deref(),
        Some("127.0.0.1")
    );
    // A spoofed header does not buy a fresh budget.
    app.obtain_forwarded("198.51.100.9", "ada@example.com", PASSWORD)
        .await
        .assert_throttled(60);
    app.obtain("ada@example.com", PASSWORD)
        .await
        .assert_throttled(60);
}

// ---- defaults and the hashing queue (security review F4, F5, F12) ----

#[test]
fn registration_and_password_changes_are_throttled_by_default() {
    let defaults = ThrottleSettings::default();
    assert_eq!(defaults.rate("register"), Rate::parse("10/hour"));
    assert_eq!(defaults.rate("password_change"), Rate::parse("10/hour"));
    assert_eq!(defaults.rate("login"), None);
}

#[tokio::test]
async fn registration_is_throttled_per_address_by_default() {
    let app = throttled_app().build().await;
    for n in 0..10 {
        let reply = app
            .register(&registration(&format!("user{n}@example.com")))
            .await;
        assert_eq!(reply.status(), StatusCode::CREATED, "{}", reply.text());
    }
    app.register(&registration("one-too-many@example.com"))
        .await
        .assert_throttled(3600);
    let other = app.client_from([127, 0, 0, 5]);
    let reply = app
        .send(
            other
                .request(Method::POST, "/api/auth/register/")
                .json(&registration("elsewhere@example.com")),
        )
        .await;
    assert_eq!(reply.status(), StatusCode::CREATED, "{}", reply.text());
}

/// `POST /api/auth/password/change/` from `client` with `access`.
async fn change_from(
    app: &TestApp,
    client: &tessera_axum::testing::TestClient,
    access: &str,
    old: &str,
) -> Reply {
    app.send(
        client
            .request(Method::POST, "/api/auth/password/change/")
            .bearer_auth(access)
            .json(&json!({
                "old_password": old,
                "new_password": "difference engine 1822",
                "new_password_confirm": "different",
            })),
    )
    .await
}

#[tokio::test]
async fn password_changes_are_throttled_per_user_and_per_address() {
    let app = app_with(&[("password_change", "3/min")]).await;
    app.create_user("grace@example.com", PASSWORD).await;
    let ada = app.login("ada@example.com", PASSWORD).await;
    let grace = app.login("grace@example.com", PASSWORD).await;
    let (home, office, cafe) = (
        app.client_from([127, 0, 0, 11]),
        app.client_from([127, 0, 0, 12]),
        app.client_from([127, 0, 0, 13]),
    );
    let mismatch = field_error("new_password_confirm", "New password fields do not match.");

    // Ada's budget follows her from address to address.
    change_from(&app, &home, &ada.access, PASSWORD)
        .await
        .assert(400, &mismatch);
    change_from(&app, &office, &ada.access, "wrong")
        .await
        .assert(
            400,
            r#"{"old_password":["Current password is incorrect."]}"#,
        );
    change_from(&app, &cafe, &ada.access, PASSWORD)
        .await
        .assert(400, &mismatch);
    change_from(&app, &cafe, &ada.access, PASSWORD)
        .await
        .assert_throttled(60);
    // Grace has a budget of her own, but the café's address has one too, which counted
    // Ada's refused request (DRF counts each throttle on its own): one more there.
    change_from(&app, &cafe, &grace.access, PASSWORD)
        .await
        .assert(400, &mismatch);
    change_from(&app, &cafe, &grace.access, PASSWORD)
        .await
        .assert_throttled(60);
    change_from(&app, &home, &grace.access, PASSWORD)
        .await
        .assert(400, &mismatch);
}

/// Waits, without sleeping, until `hashes` password hashes are queued or running.
async fn until_hashing(app: &TestApp, hashes: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while app.tessera.auth().hashing().in_flight() < hashes {
        assert!(
            std::time::Instant::now() < deadline,
            "the registrations never filled the hashing queue"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn registrations_from_one_address_never_starve_logins_from_another() {
    // Two hashing threads and four waiting places: six hashes at most.
    let app = throttled_app()
        .throttling(|settings: &mut ThrottleSettings| {
            settings.throttle_rates.clear();
            settings.hash_queue_limit = 4;
        })
        .build()
        .await;
    app.create_user("ada@example.com", PASSWORD).await;
    let flood = (0..30).map(|n| {
        let app = &app;
        async move {
            app.register(&registration(&format!("flood{n}@example.com")))
                .await
        }
    });
    let login = async {
        until_hashing(&app, 3).await;
        let other = app.client_from([127, 0, 0, 9]);
        app.send(
            other
                .request(Method::POST, "/api/token/")
                .json(&json!({"email": "ada@example.com", "password": PASSWORD})),
        )
        .await
    };

    let (flood, login) = futures_util::future::join(join_all(flood), login).await;

    assert_eq!(login.status(), StatusCode::OK, "{}", login.text());
    let refused = flood
        .iter()
        .filter(|reply| reply.status() == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert!(refused > 0, "the flood never filled its share of the queue");
}
