//! back-pressure and size limits. Password hashing runs on a bounded pool;
//! past `hash_queue_limit` waiting hashes a request gets 503 with `Retry-After: 1` at once,
//! while token-only routes keep answering. Headers over 16 KiB get 431, tokens over 8 KiB are
//! invalid, bodies over 64 KiB get 413.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use axum::http::{Method, StatusCode};
use futures_util::future::{join, join_all};
use serde_json::{Value, json};
use tessera_axum::{AuthError, ThrottleSettings};

use crate::helpers::{
    ACCOUNT_PASSWORD, Api, CookieApi, MetricsProbe, NOW_SECS, PASSWORD, Pair, Records, Reply,
    TestApp, UNAVAILABLE, access_refused, forge, throttled_app, token_error,
};

const ADA: &str = "ada@example.com";
const HEADERS_TOO_LARGE: &str = r#"{"detail":"Request header fields too large."}"#;
/// The routes that check a password.
const LOGIN_ROUTES: [&str; 4] = [
    "/api/token/",
    "/api/token/sliding/",
    "/api/auth/login/",
    "/api/auth/cookie/login/",
];

/// One hashing thread and no queue: a hash is refused while another runs. No throttle.
async fn one_hash_at_a_time_app() -> TestApp {
    throttled_app()
        .hashing_threads(1)
        .throttling(|settings: &mut ThrottleSettings| {
            settings.throttle_rates.clear();
            settings.hash_queue_limit = 0;
        })
        .build()
        .await
}

#[track_caller]
fn assert_unavailable(reply: &Reply) {
    reply.assert(503, UNAVAILABLE);
    assert_eq!(reply.header("retry-after"), Some("1"), "Retry-After");
}

/// A password hash started on the app's pool and polled once: it holds its place in the
/// hashing queue until dropped.
type HeldHash<'a> = Pin<Box<dyn Future<Output = Result<String, AuthError>> + 'a>>;

fn hold_a_hash(app: &TestApp) -> HeldHash<'_> {
    let mut held: HeldHash<'_> = Box::pin(app.tessera.auth().hashing().hash("held"));
    let mut context = Context::from_waker(Waker::noop());
    assert!(
        held.as_mut().poll(&mut context).is_pending(),
        "the hash finished at once"
    );
    held
}

/// Every request that needs the password hasher, once.
async fn every_hashing_request(app: &TestApp, pair: &Pair) -> Vec<(&'static str, Reply)> {
    let credentials = json!({"email": ADA, "password": PASSWORD});
    let registration = |email: &str| json!({"email": email, "password": ACCOUNT_PASSWORD, "password_confirm": ACCOUNT_PASSWORD});
    vec![
        ("obtain", app.post_json("/api/token/", &credentials).await),
        (
            "sliding",
            app.post_json("/api/token/sliding/", &credentials).await,
        ),
        (
            "login",
            app.post_json("/api/auth/login/", &credentials).await,
        ),
        (
            "cookie login",
            app.post_json("/api/auth/cookie/login/", &credentials).await,
        ),
        (
            "register",
            app.register(&registration("grace@example.com")).await,
        ),
        (
            "cookie register",
            app.cookie_post("register", &[], &registration("edsger@example.com"))
                .await,
        ),
        (
            "password change",
            app.change_password(&pair.access, PASSWORD, "difference engine 1822")
                .await,
        ),
    ]
}

#[tokio::test]
async fn past_the_queue_limit_hashing_requests_get_503_at_once_and_token_routes_answer() {
    let app = one_hash_at_a_time_app().await;
    app.create_user(ADA, PASSWORD).await;
    let pair = app.login(ADA, PASSWORD).await;
    let users = app.user_count().await;

    let held = hold_a_hash(&app);
    for (name, reply) in every_hashing_request(&app, &pair).await {
        assert_eq!(
            reply.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{name}: {}",
            reply.text()
        );
        assert_unavailable(&reply);
    }
    assert_eq!(
        app.user_count().await,
        users,
        "a refused registration created a user"
    );

    // Token-only routes do not need the hasher.
    app.verify(&pair.access).await.assert(200, "{}");
    app.get_bearer("/api/protected/", &pair.access).await.ok();
    app.refresh(&pair.refresh).await.ok();

    drop(held);
    for (name, reply) in every_hashing_request(&app, &pair).await {
        assert!(
            reply.status().is_success(),
            "{name}: {} {}",
            reply.status(),
            reply.text()
        );
    }
}

#[tokio::test]
async fn the_queue_admits_hash_queue_limit_waiting_hashes_beside_the_running_ones() {
    let app = throttled_app()
        .hashing_threads(1)
        .throttling(|settings: &mut ThrottleSettings| {
            settings.throttle_rates.clear();
            settings.hash_queue_limit = 2;
        })
        .build()
        .await;
    app.create_user(ADA, PASSWORD).await;

    // One running and two waiting are admitted (each is still pending); the next is not.
    let held: Vec<HeldHash<'_>> = (0..3).map(|_| hold_a_hash(&app)).collect();
    assert_unavailable(&app.obtain(ADA, PASSWORD).await);
    let mut refused = Box::pin(app.tessera.auth().hashing().hash("one too many"));
    let mut context = Context::from_waker(Waker::noop());
    assert!(matches!(
        refused.as_mut().poll(&mut context),
        Poll::Ready(Err(AuthError::Busy { retry_after: 1 }))
    ));

    drop(held);
    app.obtain(ADA, PASSWORD).await.ok();
}

#[tokio::test]
async fn a_flood_while_the_pool_is_busy_is_refused_at_once_and_token_routes_answer() {
    let app = one_hash_at_a_time_app().await;
    app.create_user(ADA, PASSWORD).await;
    let pair = app.login(ADA, PASSWORD).await;

    // The only hashing place stays taken until `held` is dropped: every answer below comes
    // back without waiting for a hash.
    let held = hold_a_hash(&app);
    let (app, pair) = (&app, &pair);
    let logins = (0..20).map(|n| async move {
        let path = LOGIN_ROUTES[n % LOGIN_ROUTES.len()];
        app.post_json(path, &json!({"email": ADA, "password": PASSWORD}))
            .await
    });
    let token_only = (0..10).map(|n| async move {
        if n % 2 == 0 {
            app.verify(&pair.access).await
        } else {
            app.get_bearer("/api/protected/", &pair.access).await
        }
    });
    let (logins, token_only) = join(join_all(logins), join_all(token_only)).await;

    for reply in &logins {
        assert_unavailable(reply);
    }
    for reply in &token_only {
        assert_eq!(reply.status(), StatusCode::OK, "{}", reply.text());
    }
    drop(held);
    app.obtain(ADA, PASSWORD).await.ok();
}

#[tokio::test]
async fn a_login_flood_never_queues_past_the_limit() {
    let probe = MetricsProbe::default();
    let _recording = probe.install();
    let app = one_hash_at_a_time_app().await;
    app.create_user(ADA, PASSWORD).await;
    let pair = app.login(ADA, PASSWORD).await;
    let hashes_before = probe.hashes();

    // 20 logins and, at the same moment, 10 token-only requests.
    let (app, pair) = (&app, &pair);
    let logins = (0..20).map(|_| async move { app.obtain(ADA, PASSWORD).await });
    let token_only = (0..10).map(|n| async move {
        if n % 2 == 0 {
            app.verify(&pair.access).await
        } else {
            app.get_bearer("/api/protected/", &pair.access).await
        }
    });
    let (logins, token_only) = join(join_all(logins), join_all(token_only)).await;

    let (mut succeeded, mut refused) = (0, 0);
    for reply in &logins {
        match reply.status().as_u16() {
            200 => succeeded += 1,
            503 => {
                assert_unavailable(reply);
                refused += 1;
            }
            other => panic!("a login answered {other}: {}", reply.text()),
        }
    }
    assert!(succeeded > 0, "no login got through");
    assert!(refused > 0, "no login was refused: the flood queued");
    for reply in &token_only {
        assert_eq!(reply.status(), StatusCode::OK, "{}", reply.text());
    }

    // One running hash and no queue: the depth never passed 1, but for the moment a refused
    // request looked at it. Only the admitted logins were hashed; the pool is idle again.
    let depths = probe.gauge_values("tessera_hash_queue_depth");
    assert!(
        depths.iter().all(|depth| *depth <= 2.0),
        "the queue grew past its limit: {depths:?}"
    );
    assert_eq!(probe.hashes() - hashes_before, succeeded);
    assert_eq!(probe.counter("tessera_hash_rejected_total"), refused);
    assert_eq!(probe.queue_depth(), Some(0.0), "the queue depth is stale");
}

// ---- sizes ----

#[tokio::test]
async fn headers_over_16_kib_are_431_and_not_processed() {
    let app = throttled_app()
        .throttling(|settings| {
            settings.throttle_rates = [("login".to_owned(), "1/min".to_owned())].into();
        })
        .build()
        .await;
    app.create_user(ADA, PASSWORD).await;
    let padding = "p".repeat(17 * 1024);

    app.send(
        app.request(Method::GET, "/api/public/")
            .header("x-padding", &padding),
    )
    .await
    .assert(431, HEADERS_TOO_LARGE);
    // The limit is on all headers together.
    let sixth = "p".repeat(6 * 1024);
    app.send(
        app.request(Method::GET, "/api/public/")
            .header("x-one", &sixth)
            .header("x-two", &sixth)
            .header("x-three", &sixth),
    )
    .await
    .assert(431, HEADERS_TOO_LARGE);
    // A refused login is not counted against the login budget.
    app.send(
        app.request(Method::POST, "/api/token/")
            .header("x-padding", &padding)
            .json(&json!({"email": ADA, "password": PASSWORD})),
    )
    .await
    .assert(431, HEADERS_TOO_LARGE);

    // Under the limit, headers are read.
    app.send(
        app.request(Method::GET, "/api/public/")
            .header("x-padding", "p".repeat(15 * 1024)),
    )
    .await
    .ok();
    app.obtain(ADA, PASSWORD).await.ok();
}

/// A signed token of exactly `length` characters with these claims and some padding.
fn token_of_length(claims: &Value, length: usize) -> String {
    (0..length)
        .map(|pad| {
            let mut claims = claims.clone();
            claims["pad"] = Value::String("x".repeat(pad));
            forge(&claims)
        })
        .find(|token| token.len() >= length)
        .filter(|token| token.len() == length)
        .unwrap_or_else(|| panic!("no token of length {length}"))
}

#[tokio::test]
async fn a_token_over_8_kib_is_invalid() {
    let app = throttled_app().build().await;
    let ada = app.create_user(ADA, PASSWORD).await;
    let claims = json!({"token_type": "access", "exp": NOW_SECS + 60, "iat": NOW_SECS, "jti": "abc", "user_id": ada.id.to_string()});
    let largest = token_of_length(&claims, 8 * 1024);
    let too_large = token_of_length(&claims, 8 * 1024 + 1);

    app.verify(&largest).await.assert(200, "{}");
    app.get_bearer("/api/protected/", &largest).await.ok();

    app.verify(&too_large)
        .await
        .assert(401, &token_error("Token is invalid"));
    app.get_bearer("/api/protected/", &too_large)
        .await
        .assert(401, &access_refused("Token is invalid"));
}

#[tokio::test]
async fn a_body_over_64_kib_is_413_and_creates_nothing() {
    let app = throttled_app().build().await;

    app.register(&json!({
        "email": ADA,
        "password": ACCOUNT_PASSWORD,
        "password_confirm": ACCOUNT_PASSWORD,
        "padding": "x".repeat(65 * 1024),
    }))
    .await
    .assert(
        413,
        r#"{"detail":"Request body is too large (the limit is 65536 bytes)."}"#,
    );
    assert_eq!(app.user_count().await, 0);
}
