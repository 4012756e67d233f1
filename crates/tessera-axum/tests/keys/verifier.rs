//! The stand-alone verifier: a service with no store checks Tessera's access tokens through
//! Tessera's JWKS URL.

use axum::Router;
use axum::routing::get;
use serde_json::json;
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
    let dir = tempdir();
    let store = store(dir.path()).await;
    create_user(&store, "ada@example.com", false).await;
    let tessera = spawn(
        Settings {
            algorithm: Algorithm::EdDSA,
            signing_key: Some(ED_PEM.into()),
            ..Settings::default()
        },
        store,
    )
    .await;
    let verifier = JwksVerifier::with_clock(
        Settings {
            algorithm: Algorithm::EdDSA,
            jwk_url: Some(tessera.url("/.well-known/jwks.json")),
            ..Settings::default()
        },
        Clock::manual(NOW * 1_000_000).0,
    )
    .unwrap();
    let service = serve(
        Router::new()
            .route("/me", get(me))
            .route("/maybe", get(maybe))
            .with_state(verifier),
    )
    .await;
    let client = reqwest::Client::new();
    let (refresh, access) = tessera.login("ada@example.com").await;

    // Act and assert.
    let reply = client
        .get(format!("{service}/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (reply.status().as_u16(), reply.text().await.unwrap()),
        (200, "user 1".into())
    );

    let reply = client.get(format!("{service}/me")).send().await.unwrap();
    assert_eq!(reply.status(), 401);
    assert_eq!(reply.headers()["www-authenticate"], r#"Bearer realm="api""#);
    assert_eq!(
        reply.text().await.unwrap(),
        r#"{"detail":"Authentication credentials were not provided."}"#
    );

    let reply = client
        .get(format!("{service}/me"))
        .bearer_auth(&refresh)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 401);
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(
        body,
        json!({"detail": "Given token not valid for any token type", "code": "token_not_valid",
               "messages": [{"token_class": "AccessToken", "token_type": "access", "message": "Token has wrong type"}]})
    );

    let reply = client
        .get(format!("{service}/me"))
        .header("authorization", "Bearer")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 401);

    let reply = client.get(format!("{service}/maybe")).send().await.unwrap();
    assert_eq!(reply.text().await.unwrap(), "anonymous");
    let mut tampered = access.clone();
    tampered.push('A');
    let reply = client
        .get(format!("{service}/maybe"))
        .bearer_auth(&tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 401);
}
