//! The admin API for signing keys (`IsAdminUser`), the HTTP twin of `tessera keys …`.

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera_auth::AuthError;
use tessera_auth::datetime::drf_datetime;
use tessera_auth::form::{Fields, Trim};
use tessera_auth::keys::{KeyStatus, KeysError};
use tessera_core::{Algorithm, Timestamp};

use crate::client::Client;
use crate::error::ApiError;
use crate::payload::Payload;
use crate::permission::AdminUser;
use crate::requires::Requires;
use crate::routes::staff;
use crate::state::Tessera;

/// Staff only, with `key_source = "store"`; relative to the API's mount point (`/api`):
///
/// * `GET admin/keys/` — every stored key and its state;
/// * `POST admin/keys/` `{"algorithm"?}` — 201, a new key, published, not signing;
/// * `POST admin/keys/rotate/` `{"algorithm"?}` — schedules a key to sign after
///   `key_publish_lead` (the newest published one, or a new one);
/// * `POST admin/keys/{kid}/retire/` — stops a key signing; it verifies until its
///   tokens have expired.
///
/// This instance installs the change at once; the others at their next refresh.
pub fn key_routes<S>() -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route(
            "/admin/keys/",
            get(list).post(generate).requires::<AdminUser>(),
        )
        .route("/admin/keys/rotate/", post(rotate).requires::<AdminUser>())
        .route(
            "/admin/keys/{kid}/retire/",
            post(retire).requires::<AdminUser>(),
        )
}

fn algorithm(data: &Payload) -> Result<Option<Algorithm>, ApiError> {
    let mut fields = Fields::new(&data.0);
    let name = fields.optional("algorithm", Trim::Yes);
    fields.finish()?;
    match name.filter(|n| !n.is_empty()) {
        None => Ok(None),
        Some(name) => name.parse().map(Some).map_err(|_| {
            ApiError::field("algorithm", format!("\"{name}\" is not a valid choice."))
        }),
    }
}

/// An algorithm of the other family than the configured one is a 400 on `algorithm`.
fn algorithm_refused(error: AuthError) -> ApiError {
    match error {
        AuthError::Keys(refused @ KeysError::AlgorithmFamily { .. }) => {
            ApiError::field("algorithm", refused.to_string())
        }
        other => other.into(),
    }
}

/// The admin API's key object; times as DRF writes them.
fn key_object(key: &KeyStatus) -> Value {
    let time = |t: Option<Timestamp>| t.map(drf_datetime);
    json!({
        "kid": key.kid,
        "algorithm": key.algorithm,
        "state": key.state.as_str(),
        "created_at": drf_datetime(key.created_at),
        "activates_at": time(key.activates_at),
        "retired_at": time(key.retired_at),
        "expires_at": time(key.expires_at),
        "encrypted": key.encrypted,
    })
}

#[utoipa::path(
    get,
    path = "/admin/keys/",
    tag = "keys",
    summary = "The signing keys (staff)",
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The key objects", body = Object),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed (staff only, or a privilege rule)", body = crate::openapi::Detail),
    )
)]
async fn list(State(tessera): State<Tessera>, _admin: AdminUser) -> Result<Json<Value>, ApiError> {
    let keys = tessera.auth().list_keys().await?;
    Ok(Json(Value::Array(keys.iter().map(key_object).collect())))
}

#[utoipa::path(
    post,
    path = "/admin/keys/",
    tag = "keys",
    summary = "Generates a signing key, not yet signing",
    request_body(
        content = KeyRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "The key object", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed (staff only, or a privilege rule)", body = crate::openapi::Detail),
    )
)]
async fn generate(
    State(tessera): State<Tessera>,
    admin: AdminUser,
    Client(client): Client,
    data: Payload,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let algorithm = algorithm(&data)?;
    let key = tessera
        .auth()
        .generate_key(algorithm, staff(&admin, &client))
        .await
        .map_err(algorithm_refused)?;
    Ok((StatusCode::CREATED, Json(key_object(&key))))
}

#[utoipa::path(
    post,
    path = "/admin/keys/rotate/",
    tag = "keys",
    summary = "Generates a key and signs with it",
    request_body(
        content = KeyRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The key object", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed (staff only, or a privilege rule)", body = crate::openapi::Detail),
    )
)]
async fn rotate(
    State(tessera): State<Tessera>,
    admin: AdminUser,
    Client(client): Client,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let algorithm = algorithm(&data)?;
    let key = tessera
        .auth()
        .rotate_key(algorithm, staff(&admin, &client))
        .await
        .map_err(algorithm_refused)?;
    Ok(Json(key_object(&key)))
}

#[utoipa::path(
    post,
    path = "/admin/keys/{kid}/retire/",
    tag = "keys",
    summary = "Retires a key",
    params(("kid" = String, Path, description = "The key's id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The key object", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed (staff only, or a privilege rule)", body = crate::openapi::Detail),
        (status = 404, description = "Not found.", body = crate::openapi::Detail),
    )
)]
async fn retire(
    State(tessera): State<Tessera>,
    admin: AdminUser,
    Client(client): Client,
    Path(kid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let key = tessera
        .auth()
        .retire_key(&kid, staff(&admin, &client))
        .await?;
    Ok(Json(key_object(&key)))
}

/// This module's routes in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, generate, rotate, retire))]
pub(super) struct Doc;

/// The algorithm of a new key (the configured one when left out).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct KeyRequest {
    /// `EdDSA`, `RS256`, `ES256` …
    algorithm: Option<String>,
}
