//! `GET /.well-known/jwks.json`: the public keys that verify this server's tokens.

use axum::extract::{FromRef, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::state::Tessera;

/// `GET /.well-known/jwks.json` (RFC 7517 §5): every key of the ring that has a public part
/// and a `kid` — the active key, keys published ahead of a rotation, retired keys whose
/// tokens may still be alive — with `kid`, `alg` and `use`. HMAC secrets are never in it.
/// `Cache-Control: public, max-age=…` follows [`tessera_core::Settings::jwks_max_age`], so a
/// cache never misses a key published ahead of a rotation.
pub fn jwks_routes<S>() -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new().route("/.well-known/jwks.json", get(jwks))
}

#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "keys",
    summary = "The public signing keys (JWKS)",
    responses(
        (status = 200, description = "`{\"keys\": [...]}`", body = Object),
    )
)]
async fn jwks(State(tessera): State<Tessera>) -> Response {
    let max_age = tessera.settings().jwks_max_age().as_secs();
    (
        [(header::CACHE_CONTROL, format!("public, max-age={max_age}"))],
        Json(tessera.auth().backend().keys().jwks()),
    )
        .into_response()
}

/// This module's routes in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(jwks))]
pub(super) struct Doc;
