//! The service, built with tessera-axum's verifier alone (`scripts/test` runs this crate's
//! tests on their own, so no other crate turns the `store` feature on): it checks tokens
//! signed elsewhere against a JWKS URL, and reads their claims as its own type.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera_axum::verifier::JwksVerifier;
use tessera_core::{
    Algorithm, Clock, Settings, Token, TokenBackend, TokenKind, generate_private_key,
};

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

#[tokio::test]
async fn a_service_without_a_store_verifies_tokens_against_a_jwks_url() {
    // The issuer: an EdDSA key whose public half is published at a JWKS URL.
    let pem = generate_private_key(Algorithm::EdDSA).unwrap();
    let issuer = TokenBackend::from_settings(&Settings {
        algorithm: Algorithm::EdDSA,
        signing_key: Some(pem.expose().to_owned().into()),
        signing_key_id: Some("issuer-key-1".into()),
        ..Settings::default()
    })
    .unwrap();
    let jwks = issuer.keys().jwks();
    let issuer_url = serve(Router::new().route(
        "/.well-known/jwks.json",
        get(move || {
            let jwks = jwks.clone();
            async move { Json(jwks) }
        }),
    ))
    .await;
    let now = Clock::system().now();
    let token = Token::for_user(&issuer, TokenKind::access(), "42", now);
    let access = issuer.encode(&token).unwrap();

    // The service: nothing but the JWKS URL.
    let verifier = JwksVerifier::new(Settings {
        algorithm: Algorithm::EdDSA,
        jwk_url: Some(format!("{issuer_url}/.well-known/jwks.json")),
        ..Settings::default()
    })
    .unwrap();
    let service = serve(jwks_service::app(verifier)).await;
    let client = reqwest::Client::new();

    let reply = client
        .get(format!("{service}/hello"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.json::<Value>().await.unwrap(),
        json!({"hello": "42", "token_type": "access"})
    );

    let forged = format!("{}x", &access[..access.len() - 1]);
    let reply = client
        .get(format!("{service}/hello"))
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 401);
    assert_eq!(
        reply.headers()["www-authenticate"].to_str().unwrap(),
        r#"Bearer realm="api""#
    );
    let reply = client.get(format!("{service}/hello")).send().await.unwrap();
    assert_eq!(reply.status(), 401);
}
