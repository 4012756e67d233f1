//! A service next to Tessera that accepts Tessera's access tokens, knowing nothing but the
//! JWKS URL: no store, no database, no shared secret.
//!
//! Run Tessera with an asymmetric algorithm, e.g.
//!
//! ```sh
//! TESSERA_ALGORITHM=EdDSA cargo run --release
//! ```
//!
//! then this service (on port 8001) with
//!
//! ```sh
//! JWK_URL=http://127.0.0.1:8000/.well-known/jwks.json ALGORITHM=EdDSA \
//!   cargo run -p tessera-axum --example jwks_verifier
//! curl -s http://127.0.0.1:8001/hello -H "Authorization: Bearer $ACCESS"
//! # {"hello":"1","token_type":"access"}
//! ```

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera_axum::verifier::{JwksVerifier, JwtUser};
use tessera_core::Settings;

/// Only requests with a valid access token reach the handler; others get simplejwt's 401.
async fn hello(user: JwtUser) -> Json<Value> {
    Json(json!({"hello": user.id, "token_type": user.token.payload()["token_type"]}))
}

/// The app: one route, the verifier as its state.
fn app(verifier: JwksVerifier) -> Router {
    Router::new()
        .route("/hello", get(hello))
        .with_state(verifier)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let algorithm = std::env::var("ALGORITHM").unwrap_or_else(|_| "EdDSA".into());
    let settings = Settings {
        algorithm: algorithm.parse()?,
        jwk_url: Some(
            std::env::var("JWK_URL")
                .unwrap_or_else(|_| "http://127.0.0.1:8000/.well-known/jwks.json".into()),
        ),
        // AUDIENCE, ISSUER and LEEWAY apply as in Tessera:
        // audience: Some(tessera_core::Audience::One("api".into())),
        ..Settings::default()
    };
    let verifier = JwksVerifier::new(settings)?;
    if let Err(error) = verifier.prefetch().await {
        eprintln!("{error}; the keys will be fetched when the first token arrives");
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8001").await?;
    println!("listening on http://127.0.0.1:8001");
    axum::serve(listener, app(verifier)).await?;
    Ok(())
}
