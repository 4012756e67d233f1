//! The stand-alone verifier: a service with no store checks Tessera's access tokens through
//! Tessera's JWKS URL.

use axum::Router;
use axum::routing::get;
use serde_json::json;
use tessera_axum::testing::TestClient;
use tessera_axum::verifier::{JwksVerifier, JwtUser};
use tessera_core::{Algorithm, Clock, Settings};

use crate::helpers::*;

async fn me(user: JwtUser) -> String {
    format!("user {}", user.id)
}

async fn maybe(user: Option<JwtUser>) -> String {
    user.map_or_else(|| "anonymous".into(), |u| format!("user {}", u.id))
}

#[tokio::test]
async fn a_service_verifies_tessera_tokens_with_only_the_jwks_url() {
    // Arrange: Tessera signing with EdDSA, and a service that knows only its JWKS URL.
    let tessera = keys_app(Settings {
        algorithm: Algorithm::EdDSA,
        signing_key: Some(ED_PEM.into()),
        ..Settings::default()
    })
    .build()
    .await;
    create_user(&tessera, "ada@example.com", false).await;
    // The service fetches the JWKS over HTTP: Tessera is served on a port for it.
    let jwks_url = format!("http://{}/.well-known/jwks.json", tessera.serve().await);
    let verifier = JwksVerifier::with_clock(
        Settings {
            algorithm: Algorithm::EdDSA,
            jwk_url: Some(jwks_url),
            ..Settings::default()
        },
        Clock::manual(NOW).0,
    )
    .unwrap();
    let client = TestClient::new(
        Router::new()
            .route("/me", get(me))
            .route("/maybe", get(maybe))
            .with_state(verifier),
    );
    let (refresh, access) = tessera.login("ada@example.com").await;

    // Act and assert.
    let reply = client.get("/me").bearer_auth(&access).send().await;
    assert_eq!((reply.status().as_u16(), reply.text()), (200, "user 1"));

    let reply = client.get("/me").send().await;
    assert_eq!(reply.status(), 401);
    assert_eq!(reply.headers()["www-authenticate"], r#"Bearer realm="api""#);
    assert_eq!(
        reply.text(),
        r#"{"detail":"Authentication credentials were not provided."}"#
    );

    let reply = client.get("/me").bearer_auth(&refresh).send().await;
    assert_eq!(reply.status(), 401);
    let body: serde_json::Value = reply.json();
    assert_eq!(
        body,
        json!({"detail": "Given token not valid for any token type", "code": "token_not_valid",
               "messages": [{"token_class": "AccessToken", "token_type": "access", "message": "Token has wrong type"}]})
    );

    let reply = client
        .get("/me")
        .header("authorization", "Bearer")
        .send()
        .await;
    assert_eq!(reply.status(), 401);

    let reply = client.get("/maybe").send().await;
    assert_eq!(reply.text(), "anonymous");
    let mut tampered = access.clone();
    tampered.push('A');
    let reply = client.get("/maybe").bearer_auth(&tampered).send().await;
    assert_eq!(reply.status(), 401);
}
