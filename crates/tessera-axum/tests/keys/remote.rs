//! `jwk_url`: tokens of another issuer, verified through its JWKS served on a local port —
//! including an issuer that fails, hangs, or publishes keys it should not.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};
use tessera_core::{Algorithm, Settings, generate_private_key};

use crate::helpers::*;

/// An app that signs with its own ES256 key and also accepts the issuer's tokens.
async fn app_for(issuer: &Issuer, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = Settings {
        algorithm: Algorithm::ES256,
        signing_key: Some(EC_PEM.into()),
        jwk_url: Some(issuer.url()),
        key_refresh_interval: Duration::from_secs(60),
        jwk_timeout: Duration::from_secs(1),
        ..Settings::default()
    };
    configure(&mut settings);
    let before = issuer.hits();
    let app = keys_app(settings).build().await;
    // The app fetches the JWKS at start, in the background. A served app was long started
    // before its first request; an app called in process is not: wait until that fetch is
    // under way (requests then wait for it), as the tests count the fetches after it.
    eventually(10, "the fetch at start", || async {
        issuer.hits() > before
    })
    .await;
    app
}

fn issuer_key() -> String {
    generate_private_key(Algorithm::ES256)
        .unwrap()
        .expose()
        .to_owned()
}

fn first_message(body: &str) -> String {
    let body: Value = serde_json::from_str(body).unwrap();
    body["messages"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn tokens_of_the_issuer_verify_through_its_jwks() {
    let issuer = Issuer::start(Algorithm::ES256, &issuer_key(), "issuer-1").await;
    let app = app_for(&issuer, |_| {}).await;
    let token = issuer.token("issuer-1", "u-7", json!({}));
    let (status, body) = app.get("/api/stateless/", Some(&token)).await;
    assert_eq!((status, body.as_str()), (200, r#"{"user_id":"u-7"}"#));
    // The app's own tokens still verify with its own key.
    assert!(issuer.hits() >= 1);
}

#[tokio::test]
async fn an_unknown_kid_is_fetched_at_most_once_per_interval() {
    let issuer = Issuer::start(Algorithm::ES256, &issuer_key(), "issuer-1").await;
    let app = app_for(&issuer, |_| {}).await;
    // The fetch at start.
    let good = issuer.token("issuer-1", "1", json!({}));
    assert_eq!(app.get("/api/stateless/", Some(&good)).await.0, 200);
    let hits = issuer.hits();
    issuer.add_key(Algorithm::ES256, &issuer_key(), "issuer-2");
    let unknown = issuer.token("issuer-2", "1", json!({}));
    for _ in 0..5 {
        let (status, body) = app.get("/api/stateless/", Some(&unknown)).await;
        assert_eq!(
            (status, first_message(&body).as_str()),
            (401, "Token is invalid")
        );
    }
    assert_eq!(
        issuer.hits(),
        hits,
        "no refetch within key_refresh_interval (60 s)"
    );
}

#[tokio::test]
async fn a_key_the_issuer_adds_later_is_fetched_when_a_token_names_it() {
    let issuer = Issuer::start(Algorithm::ES256, &issuer_key(), "issuer-1").await;
    let app = app_for(&issuer, |s| {
        s.key_refresh_interval = Duration::from_millis(200)
    })
    .await;
    eventually(10, "the fetch at start", || async { issuer.hits() >= 1 }).await;
    issuer.add_key(Algorithm::ES256, &issuer_key(), "issuer-2");
    let token = issuer.token("issuer-2", "9", json!({}));
    eventually(10, "the new key is fetched", || async {
        app.get("/api/stateless/", Some(&token)).await.0 == 200
    })
    .await;
    // Bounded: one fetch per 200 ms at most, not one per request.
    assert!(issuer.hits() <= 2 + 10 * 5, "{}", issuer.hits());
}

#[tokio::test]
async fn a_failing_jwks_makes_tokens_invalid_never_a_500() {
    let issuer = Issuer::start(Algorithm::ES256, &issuer_key(), "issuer-1").await;
    *issuer.state().status.lock().unwrap() = StatusCode::INTERNAL_SERVER_ERROR;
    let app = app_for(&issuer, |s| {
        s.key_refresh_interval = Duration::from_millis(100)
    })
    .await;
    let token = issuer.token("issuer-1", "1", json!({}));
    for _ in 0..3 {
        let (status, body) = app.get("/api/stateless/", Some(&token)).await;
        assert_eq!(
            (status, first_message(&body).as_str()),
            (401, "Token is invalid")
        );
    }
    // Garbage instead of a JWKS, and a document over 1 MiB, fail the same way.
    *issuer.state().status.lock().unwrap() = StatusCode::OK;
    for body in [
        "not json".to_owned(),
        format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(1 << 21)),
    ] {
        *issuer.state().body.lock().unwrap() = Some(body);
        tokio::time::sleep(Duration::from_millis(150)).await; // let the refetch interval pass
        let (status, body) = app.get("/api/stateless/", Some(&token)).await;
        assert_eq!(
            (status, first_message(&body).as_str()),
            (401, "Token is invalid")
        );
    }
    // Once the issuer recovers, the token verifies.
    *issuer.state().body.lock().unwrap() = None;
    eventually(10, "recovery", || async {
        app.get("/api/stateless/", Some(&token)).await.0 == 200
    })
    .await;
}

#[tokio::test]
async fn a_hanging_jwks_times_out() {
    let issuer = Issuer::start(Algorithm::ES256, &issuer_key(), "issuer-1").await;
    *issuer.state().delay.lock().unwrap() = Duration::from_secs(30);
    let app = app_for(&issuer, |_| {}).await;
    let token = issuer.token("issuer-1", "1", json!({}));
    let started = Instant::now();
    let (status, body) = app.get("/api/stateless/", Some(&token)).await;
    assert_eq!(
        (status, first_message(&body).as_str()),
        (401, "Token is invalid")
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_known_key_never_waits_for_a_refetch_of_a_stale_set() {
    let issuer = Issuer::start(Algorithm::ES256, &issuer_key(), "issuer-1").await;
    let app = app_for(&issuer, |s| {
        s.jwks_cache_ttl = Duration::ZERO; // always stale: every token asks for a refetch
        s.key_refresh_interval = Duration::from_millis(1);
        s.jwk_timeout = Duration::from_secs(3);
    })
    .await;
    let token = issuer.token("issuer-1", "1", json!({}));
    eventually(10, "the key is fetched", || async {
        app.get("/api/stateless/", Some(&token)).await.0 == 200
    })
    .await;
    *issuer.state().delay.lock().unwrap() = Duration::from_secs(30);
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(app.get("/api/stateless/", Some(&token)).await.0, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn audience_issuer_and_leeway_apply_to_remote_tokens() {
    let issuer = Issuer::start(Algorithm::ES256, &issuer_key(), "issuer-1").await;
    let app = app_for(&issuer, |s| {
        s.audience = Some(tessera_core::Audience::One("api".into()));
        s.issuer = Some("https://issuer.example".into());
        s.leeway = Duration::from_secs(5);
    })
    .await;
    let claims = |extra: Value| {
        let mut c = json!({"aud": "api", "iss": "https://issuer.example"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    for (claims, expected) in [
        (claims(json!({})), 200),
        (claims(json!({"exp": NOW.as_secs() - 3})), 200),
        (claims(json!({"exp": NOW.as_secs() - 6})), 401),
        (claims(json!({"aud": "other"})), 401),
        (claims(json!({"iss": "https://evil.example"})), 401),
        (json!({}), 401),
    ] {
        let token = issuer.token("issuer-1", "1", claims.clone());
        assert_eq!(
            app.get("/api/stateless/", Some(&token)).await.0,
            expected,
            "{claims}"
        );
    }
}

#[tokio::test]
async fn symmetric_and_foreign_algorithm_keys_from_the_jwks_are_ignored() {
    use base64::Engine as _;
    let issuer = Issuer::start(Algorithm::ES256, &issuer_key(), "issuer-1").await;
    let secret = b"published-hmac-secret-of-32-bytes!!";
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    *issuer.state().body.lock().unwrap() =
        Some(json!({"keys": [{"kty": "oct", "k": k, "kid": "h", "alg": "HS256"}]}).to_string());
    let app = app_for(&issuer, |_| {}).await;
    eventually(10, "the fetch at start", || async { issuer.hits() >= 1 }).await;
    // An HS256 token signed with the published secret, and an RS256 token.
    let hmac = tessera_core::Key::hmac(Algorithm::HS256, secret)
        .unwrap()
        .with_kid("h")
        .unwrap();
    let backend = tessera_core::TokenBackend::new(
        tessera_core::KeyRing::new(hmac, []).unwrap(),
        &Settings::default(),
    );
    let forged = backend
        .encode(&tessera_core::Token::for_user(
            &backend,
            tessera_core::TokenKind::access(),
            "1",
            NOW,
        ))
        .unwrap();
    assert_eq!(app.get("/api/stateless/", Some(&forged)).await.0, 401);
    let other_alg = Issuer::start(Algorithm::RS256, RSA_PEM, "issuer-1").await;
    let rsa_token = other_alg.token("issuer-1", "1", json!({}));
    assert_eq!(app.get("/api/stateless/", Some(&rsa_token)).await.0, 401);
}
