//! `GET /.well-known/jwks.json`.

use serde_json::Value;
use tessera_core::{Algorithm, Settings};

use crate::helpers::*;

async fn jwks(app: &TestApp) -> (Value, Option<String>) {
    let reply = app.client().get("/.well-known/jwks.json").send().await;
    assert_eq!(reply.status(), 200);
    let cache = reply
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    (reply.json(), cache)
}

#[tokio::test]
async fn configured_key_pairs_are_published_and_verify_tessera_tokens() {
    for (algorithm, pem) in [
        (Algorithm::RS256, RSA_PEM),
        (Algorithm::EdDSA, ED_PEM),
        (Algorithm::ES256, EC_PEM),
    ] {
        let app = keys_app(Settings {
            algorithm,
            signing_key: Some(pem.into()),
            ..Settings::default()
        })
        .build()
        .await;
        create_user(&app, "ada@example.com", false).await;
        let (_, access) = app.login("ada@example.com").await;
        let (document, cache) = jwks(&app).await;
        assert_eq!(cache.as_deref(), Some("public, max-age=300"));
        let keys = document["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1, "{document}");
        let jwk = &keys[0];
        assert_eq!(jwk["alg"], algorithm.name());
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"].as_str(), kid_of(&access).as_deref());
        assert!(jwk.get("d").is_none(), "private part published: {jwk}");
        // Another implementation verifies the token with nothing but the JWKS entry.
        let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(&parsed).unwrap();
        let mut validation = jsonwebtoken::Validation::new(match algorithm {
            Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
            Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
            _ => jsonwebtoken::Algorithm::ES256,
        });
        validation.validate_exp = false;
        let claims =
            jsonwebtoken::decode::<serde_json::Map<String, Value>>(&access, &key, &validation)
                .unwrap()
                .claims;
        assert_eq!(claims["user_id"], "1");
    }
}

#[tokio::test]
async fn an_hmac_secret_is_never_published() {
    let app = keys_app(Settings {
        signing_key: Some("an-hmac-secret-of-at-least-32-bytes-long".into()),
        signing_key_id: Some("hmac-1".into()),
        ..Settings::default()
    })
    .build()
    .await;
    let (document, _) = jwks(&app).await;
    assert_eq!(document.to_string(), r#"{"keys":[]}"#);
}

#[tokio::test]
async fn cache_control_follows_the_rotation_schedule() {
    let app = keys_app(store_settings(|s| {
        s.jwks_cache_ttl = std::time::Duration::from_secs(42)
    }))
    .build()
    .await;
    let (document, cache) = jwks(&app).await;
    assert_eq!(cache.as_deref(), Some("public, max-age=42"));
    // The first stored key was created at start and signs.
    let keys = document["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["alg"], "EdDSA");
    assert_eq!(keys[0]["kty"], "OKP");
}
