//! The admin API for signing keys (`IsAdminUser`), the HTTP twin of `tessera keys …`.

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use tessera_core::{Algorithm, KeyOrigin};

use crate::audit::{event, key_event};
use crate::client::ClientInfo;
use crate::error::ApiError;
use crate::fields::{Fields, Trim};
use crate::keystore::{KeyManager, KeyStatus, KeysError};
use crate::payload::Payload;
use crate::permission::AdminUser;
use crate::state::Tessera;

/// Staff only, with `key_source = "store"`:
///
/// * `GET /api/admin/keys/` — every stored key and its state;
/// * `POST /api/admin/keys/` `{"algorithm"?}` — 201, a new key, published, not signing;
/// * `POST /api/admin/keys/rotate/` `{"algorithm"?}` — schedules a key to sign after
///   `key_publish_lead` (the newest published one, or a new one);
/// * `POST /api/admin/keys/{kid}/retire/` — stops a key signing; it verifies until its
///   tokens have expired.
///
/// This instance installs the change at once; the others at their next refresh.
pub fn key_routes<S>() -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/api/admin/keys/", get(list).post(generate))
        .route("/api/admin/keys/rotate/", post(rotate))
        .route("/api/admin/keys/{kid}/retire/", post(retire))
}

fn manager(tessera: &Tessera) -> Result<KeyManager, ApiError> {
    if tessera.settings().key_source != KeyOrigin::Store {
        return Err(ApiError::Parse(
            "Signing keys come from the settings (key_source = \"settings\"); set key_source = \"store\" to manage them here.".into(),
        ));
    }
    tessera
        .key_manager()
        .map_err(|e| ApiError::Internal(e.to_string()))
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

fn failed(error: KeysError) -> ApiError {
    match error {
        KeysError::Refused(detail) if detail.starts_with("no key has the id") => ApiError::NotFound,
        KeysError::Refused(detail) => ApiError::Parse(detail),
        KeysError::Store(error) => error.into(),
        other => ApiError::Internal(other.to_string()),
    }
}

async fn installed(tessera: &Tessera) -> Result<(), ApiError> {
    tessera.reload_keys().await.map_err(failed)
}

async fn list(State(tessera): State<Tessera>, _admin: AdminUser) -> Result<Json<Value>, ApiError> {
    let keys = manager(&tessera)?
        .list(tessera.now_micros())
        .await
        .map_err(failed)?;
    Ok(Json(Value::Array(
        keys.iter().map(|k| k.to_json()).collect(),
    )))
}

/// Audits a key change by `admin`.
async fn audited(
    tessera: &Tessera,
    name: &str,
    key: &KeyStatus,
    admin: &AdminUser,
    client: &ClientInfo,
) {
    tessera
        .audit(key_event(name, key).actor(&admin.user).client(client))
        .await;
}

async fn generate(
    State(tessera): State<Tessera>,
    admin: AdminUser,
    client: ClientInfo,
    data: Payload,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let algorithm = algorithm(&data)?;
    let key = manager(&tessera)?
        .generate(algorithm, tessera.now_micros())
        .await
        .map_err(failed)?;
    audited(&tessera, event::KEY_GENERATED, &key, &admin, &client).await;
    installed(&tessera).await?;
    Ok((StatusCode::CREATED, Json(key.to_json())))
}

async fn rotate(
    State(tessera): State<Tessera>,
    admin: AdminUser,
    client: ClientInfo,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let algorithm = algorithm(&data)?;
    let key = manager(&tessera)?
        .rotate(algorithm, tessera.now_micros())
        .await
        .map_err(failed)?;
    audited(&tessera, event::KEY_ROTATED, &key, &admin, &client).await;
    installed(&tessera).await?;
    Ok(Json(key.to_json()))
}

async fn retire(
    State(tessera): State<Tessera>,
    admin: AdminUser,
    client: ClientInfo,
    Path(kid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let key = manager(&tessera)?
        .retire(&kid, tessera.now_micros())
        .await
        .map_err(failed)?;
    audited(&tessera, event::KEY_RETIRED, &key, &admin, &client).await;
    installed(&tessera).await?;
    Ok(Json(key.to_json()))
}
