//! A service next to Tessera that accepts Tessera's access tokens knowing nothing but the
//! JWKS URL: no store, no database, no shared secret — `tessera-axum` without its `store`
//! feature (simplejwt's `JWTStatelessUserAuthentication` with `JWK_URL`).

use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_axum::ApiError;
use tessera_axum::verifier::{JwksVerifier, JwtUser};

/// The claims this service reads, as its own type.
#[derive(Debug, Deserialize)]
struct HelloClaims {
    user_id: String,
    token_type: String,
}

/// Only requests with a valid access token reach the handler; others get simplejwt's 401.
async fn hello(user: JwtUser) -> Result<Json<Value>, ApiError> {
    let claims: HelloClaims = user.claims()?;
    Ok(Json(
        json!({"hello": claims.user_id, "token_type": claims.token_type}),
    ))
}

/// The service: one route, the verifier as its state.
pub fn app(verifier: JwksVerifier) -> Router {
    Router::new()
        .route("/hello", get(hello))
        .with_state(verifier)
}
