//! simplejwt's token views: obtain pair, refresh, verify, blacklist, and the sliding pair.
//! They ignore any `Authorization` header.

use axum::extract::{FromRef, State};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{Value, json};

use utoipa::{OpenApi, ToSchema};

use crate::client::Client;
use crate::error::ApiError;
use crate::openapi::{Detail, FieldErrors, TokenError};
use crate::payload::Payload;
use crate::state::Tessera;
use tessera_auth::ClientInfo;
use tessera_auth::form::{Fields, Trim};
use tessera_auth::mfa::{LoginStep, MfaRoute};

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

/// The token views' documentation.
#[derive(OpenApi)]
#[openapi(paths(
    obtain_pair,
    refresh,
    verify,
    blacklist,
    obtain_sliding,
    refresh_sliding
))]
pub(super) struct Doc;

/// The username field (`email` unless `username_field` says otherwise: see
/// [`crate::openapi::username_field`]) and password.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ObtainRequest {
    /// The user's username field.
    email: String,
    /// The password.
    password: String,
}

/// A refresh token.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct RefreshRequest {
    /// The refresh token.
    refresh: String,
}

/// A token to check or refresh.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct VerifyRequest {
    /// The token.
    token: String,
}

/// simplejwt's pair (with any claims an obtain hook adds).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct TokenPair {
    /// The access token.
    access: String,
    /// The refresh token.
    refresh: String,
}

/// A refreshed access token; with rotation, a new refresh token too.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Refreshed {
    /// The new access token.
    access: String,
    /// The new refresh token, when `rotate_refresh_tokens` is on.
    refresh: Option<String>,
}

/// A sliding token.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct SlidingToken {
    /// The sliding token.
    token: String,
}

/// `{}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Empty {}

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

/// `TokenObtainPairView`: an access and a refresh token for a username field and password.
#[utoipa::path(
    post,
    path = "/token/",
    tag = "token",
    request_body(
        content = ObtainRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    responses(
        (status = 200, description = "The pair", body = TokenPair),
        (status = 400, description = "A field is missing or blank", body = FieldErrors),
        (status = 401, description = "No active account found with the given credentials, or `mfa_required` / `mfa_setup_required` with an `mfa_token`", body = Detail),
        (status = 429, description = "Throttled", body = Detail),
    )
)]
pub(super) async fn obtain_pair(
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<Response, ApiError> {
    let user = credentials(&tessera, &client, &data).await?;
    if let LoginStep::Pending(pending) = tessera
        .auth()
        .login_step(&user, MfaRoute::Pair, &client)
        .await?
    {
        return Ok(super::mfa::mfa_required(&pending));
    }
    let answer = tessera.auth().obtain_pair(&user, &client).await?;
    Ok(Json(Value::Object(answer)).into_response())
}

/// `TokenRefreshView`: a new access token (and, with rotation, a new refresh token).
#[utoipa::path(
    post,
    path = "/token/refresh/",
    tag = "token",
    request_body(
        content = RefreshRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    responses(
        (status = 200, description = "The new access token (and refresh token when rotating)", body = Refreshed),
        (status = 400, description = "`refresh` is missing or blank", body = FieldErrors),
        (status = 401, description = "The refresh token is invalid, expired or blacklisted", body = TokenError),
    )
)]
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

/// `TokenVerifyView`: `{}` when the token is valid.
#[utoipa::path(
    post,
    path = "/token/verify/",
    tag = "token",
    request_body(
        content = VerifyRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    responses(
        (status = 200, description = "The token is valid", body = Empty),
        (status = 400, description = "`token` is missing or blank", body = FieldErrors),
        (status = 401, description = "The token is invalid or expired", body = TokenError),
    )
)]
pub(crate) async fn verify(
    State(tessera): State<Tessera>,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let raw = token_field(&data, "token")?;
    tessera.auth().verify(&raw).await?;
    Ok(Json(json!({})))
}

/// `TokenBlacklistView`: blacklists a refresh token.
#[utoipa::path(
    post,
    path = "/token/blacklist/",
    tag = "token",
    request_body(
        content = RefreshRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    responses(
        (status = 200, description = "Blacklisted", body = Empty),
        (status = 400, description = "`refresh` is missing or blank", body = FieldErrors),
        (status = 401, description = "The refresh token is invalid, expired or blacklisted", body = TokenError),
    )
)]
pub(super) async fn blacklist(
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let raw = token_field(&data, "refresh")?;
    tessera.auth().blacklist(&raw, &client).await?;
    Ok(Json(json!({})))
}

/// `TokenObtainSlidingView`: a sliding token for a username field and password.
#[utoipa::path(
    post,
    path = "/token/sliding/",
    tag = "token",
    request_body(
        content = ObtainRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    responses(
        (status = 200, description = "The sliding token", body = SlidingToken),
        (status = 400, description = "A field is missing or blank", body = FieldErrors),
        (status = 401, description = "No active account found with the given credentials, or `mfa_required` / `mfa_setup_required` with an `mfa_token`", body = Detail),
        (status = 429, description = "Throttled", body = Detail),
    )
)]
pub(super) async fn obtain_sliding(
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<Response, ApiError> {
    let user = credentials(&tessera, &client, &data).await?;
    if let LoginStep::Pending(pending) = tessera
        .auth()
        .login_step(&user, MfaRoute::Sliding, &client)
        .await?
    {
        return Ok(super::mfa::mfa_required(&pending));
    }
    let answer = tessera.auth().obtain_sliding(&user, &client).await?;
    Ok(Json(Value::Object(answer)).into_response())
}

/// `TokenRefreshSlidingView`: the sliding token with a new expiry.
#[utoipa::path(
    post,
    path = "/token/sliding/refresh/",
    tag = "token",
    request_body(
        content = VerifyRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    responses(
        (status = 200, description = "The refreshed sliding token", body = SlidingToken),
        (status = 400, description = "`token` is missing or blank", body = FieldErrors),
        (status = 401, description = "The token is invalid, expired or past its refresh lifetime", body = TokenError),
    )
)]
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
