//! The verifier as a service that is not Tessera uses it: built without the `store` feature
//! (CI runs this file with `--no-default-features`), it checks tokens signed elsewhere
//! against a JWKS URL, and reads their claims as the service's own type.

use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_axum::verifier::{JwksVerifier, JwtUser};
use tessera_core::{
    Algorithm, Clock, Settings, Token, TokenBackend, TokenKind, generate_private_key,
};

#[derive(Deserialize)]
struct Claims {
    user_id: String,
    plan: String,
}

async fn me(user: JwtUser) -> Result<Json<Value>, tessera_axum::ApiError> {
    let claims: Claims = user.claims()?;
    Ok(Json(
        json!({"user_id": claims.user_id, "plan": claims.plan}),
    ))
}

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
    let now = Clock::system().now_secs();
    let mut token = Token::for_user(&issuer, TokenKind::access(), "42", now);
    token.insert("plan", "pro");
    let access = issuer.encode(&token).unwrap();

    // The service: nothing but the JWKS URL.
    let verifier = JwksVerifier::new(Settings {
        algorithm: Algorithm::EdDSA,
        jwk_url: Some(format!("{issuer_url}/.well-known/jwks.json")),
        ..Settings::default()
    })
    .unwrap();
    let service = serve(Router::new().route("/me", get(me)).with_state(verifier)).await;
    let client = reqwest::Client::new();

    let reply = client
        .get(format!("{service}/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.json::<Value>().await.unwrap(),
        json!({"user_id": "42", "plan": "pro"})
    );

    let forged = format!("{}x", &access[..access.len() - 1]);
    let reply = client
        .get(format!("{service}/me"))
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 401);
    assert_eq!(
        reply.headers()["www-authenticate"].to_str().unwrap(),
        r#"Bearer realm="api""#
    );
    let reply = client.get(format!("{service}/me")).send().await.unwrap();
    assert_eq!(reply.status(), 401);
}
