//! `jwks-service`: a service next to Tessera that accepts Tessera's access tokens, knowing
//! nothing but the JWKS URL (see the crate docs).
//!
//! Run Tessera with an asymmetric algorithm, e.g.
//!
//! ```sh
//! TESSERA_ALGORITHM=EdDSA cargo run --release
//! ```
//!
//! then this service (on port 8082) with
//!
//! ```sh
//! JWK_URL=http://127.0.0.1:8000/.well-known/jwks.json ALGORITHM=EdDSA \
//!   cargo run -p jwks-service
//! curl -s http://127.0.0.1:8082/hello -H "Authorization: Bearer $ACCESS"
//! # {"hello":"1","token_type":"access"}
//! ```

use jwks_service::app;
use tessera_axum::verifier::JwksVerifier;
use tessera_core::Settings;

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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8082").await?;
    println!("listening on http://127.0.0.1:8082");
    axum::serve(listener, app(verifier)).await?;
    Ok(())
}
