//! simplejwt's token views: obtain pair, refresh, verify, blacklist, and the sliding pair.
//! They ignore any `Authorization` header.

use axum::extract::{FromRef, State};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::client::Client;
use crate::error::ApiError;
use crate::payload::Payload;
use crate::state::Tessera;
use tessera_auth::ClientInfo;
use tessera_auth::form::{Fields, Trim};

/// `POST token/`, `token/refresh/`, `token/verify/`, `token/blacklist/`, `token/sliding/`
/// and `token/sliding/refresh/`, relative to the API's mount point (`/api`).
pub fn token_routes<S>() -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    // The default paths, relative to wherever the router is nested.
    super::token_routes_at(&super::RoutePaths {
        prefix: String::new(),
        ..super::RoutePaths::default()
    })
}

/// One required token field, trimmed like every DRF `CharField`.
fn token_field(data: &Payload, name: &str) -> Result<String, ApiError> {
    let mut fields = Fields::new(&data.0);
    let value = fields.required(name, Trim::Yes);
    fields.finish()?;
    Ok(value.unwrap_or_default())
}

/// Checks the username field and password; 401 without saying which was wrong.
pub(crate) async fn credentials(
    tessera: &Tessera,
    client: &ClientInfo,
    data: &Payload,
) -> Result<tessera_store::User, ApiError> {
    tessera
        .auth()
        .throttles()
        .check("login", client.ident())
        .await?;
    let username_field = tessera.settings().username_field.as_str();
    let mut fields = Fields::new(&data.0);
    let username = fields.required(username_field, Trim::Yes);
    let password = fields.required("password", Trim::No);
    fields.finish()?;
    let (username, password) = (username.unwrap_or_default(), password.unwrap_or_default());
    let user = tessera
        .auth()
        .check_credentials(&username, &password, client)
        .await?;
    let user = user.ok_or_else(|| {
        ApiError::authentication_failed_plain("No active account found with the given credentials")
    })?;
    Ok(user)
}

pub(super) async fn obtain_pair(
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let user = credentials(&tessera, &client, &data).await?;
    let answer = tessera.auth().obtain_pair(&user, &client).await?;
    Ok(Json(Value::Object(answer)))
}

pub(crate) async fn refresh(
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let raw = token_field(&data, "refresh")?;
    let refreshed = tessera.auth().refresh(&raw, &client).await?;
    Ok(Json(match refreshed.refresh {
        Some(refresh) => json!({"access": refreshed.access, "refresh": refresh}),
        None => json!({"access": refreshed.access}),
    }))
}

pub(crate) async fn verify(
    State(tessera): State<Tessera>,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let raw = token_field(&data, "token")?;
    tessera.auth().verify(&raw).await?;
    Ok(Json(json!({})))
}

pub(super) async fn blacklist(
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let raw = token_field(&data, "refresh")?;
    tessera.auth().blacklist(&raw, &client).await?;
    Ok(Json(json!({})))
}

pub(super) async fn obtain_sliding(
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let user = credentials(&tessera, &client, &data).await?;
    let answer = tessera.auth().obtain_sliding(&user, &client).await?;
    Ok(Json(Value::Object(answer)))
}

pub(super) async fn refresh_sliding(
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let raw = token_field(&data, "token")?;
    Ok(Json(
        json!({"token": tessera.auth().refresh_sliding(&raw, &client).await?}),
    ))
}
