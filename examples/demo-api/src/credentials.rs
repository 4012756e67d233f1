//! API keys and tokens side by side, as DRF lists `JWTAuthentication` and an API-key class
//! in `DEFAULT_AUTHENTICATION_CLASSES`: `Authorization: Bearer <token>` and
//! `Authorization: Api-Key <key>` (keys from `POST /api/auth/api-keys/`) make the same
//! user. Relative to the API's mount point:
//!
//! * `GET whoami/` — either credential ([`AuthUser`]), saying which;
//! * `GET service/whoami/` — API keys only ([`ApiKeyUser`]): a token is 401
//!   `api_key_required`.
//!
//! Scopes are checked where articles are written ([`crate::articles`]).

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera_axum::{ApiKeyUser, AuthUser, AuthVia};

use crate::state::AppState;

/// The two routes (see the module docs).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/whoami/", get(whoami))
        .route("/service/whoami/", get(service_whoami))
}

/// A token or an API key: the same user either way.
async fn whoami(auth: AuthUser) -> Json<Value> {
    let via = match auth.via {
        AuthVia::Token => "token",
        AuthVia::ApiKey => "api_key",
    };
    Json(json!({"email": auth.user.email, "via": via, "scopes": auth.scopes()}))
}

/// Services only: the key's user, and which key.
async fn service_whoami(service: ApiKeyUser) -> Json<Value> {
    Json(json!({
        "email": service.user.email,
        "key": {"name": service.api_key.name, "prefix": service.api_key.prefix},
    }))
}
