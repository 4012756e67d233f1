//! Passkeys (WebAuthn) over HTTP: a user's own passkeys, a passkey as the second factor of
//! a password login, and — with `passkey_login` on, 404 otherwise — signing in with a
//! passkey alone.
//!
//! Options are WebAuthn's JSON form (`PublicKeyCredentialCreationOptionsJSON` /
//! `…RequestOptionsJSON`): binary fields in base64url, ready for
//! `PublicKeyCredential.parseCreationOptionsFromJSON()`; credentials come back as the
//! browser's `credential.toJSON()`.

use axum::extract::{FromRef, FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera_auth::datetime::drf_datetime;
use tessera_auth::passkeys::PasskeyChallenge;
use tessera_auth::tokens::{LoginMethod, TokenPair};
use tessera_store::StoredPasskey;

use crate::api_key::SessionUser;
use crate::client::Client;
use crate::csrf::CookieRouteCsrf;
use crate::error::ApiError;
use crate::payload::Payload;
use crate::requires::Requires;
use crate::state::Tessera;

/// Relative to the API's mount point (`/api`):
///
/// * `GET auth/passkeys/` — the caller's passkeys, oldest first;
/// * `POST auth/passkeys/register/begin/` — `{"challenge_id", "publicKey"}`, the creation
///   options; `POST auth/passkeys/register/finish/` `{challenge_id, name, credential,
///   password}` (`password`, the current one, when the account has a usable one) — 201
///   with the passkey;
/// * `PATCH auth/passkeys/{id}/` `{name}` — renames; `DELETE auth/passkeys/{id}/` — 204;
///   another user's id is 404;
/// * `POST auth/mfa/passkey/begin/` `{mfa_token}` — the request options for the pending
///   login's passkeys (finished by `POST auth/mfa/verify/` with `passkey`);
/// * with `passkey_login` on (404 otherwise): `POST auth/passkeys/login/begin/` — the
///   options of a discoverable sign-in; `POST auth/passkeys/login/finish/`
///   `{challenge_id, credential}` — what `POST token/` answers; `POST auth/cookie/passkey/`
///   — the same for cookie mode: the tokens in HttpOnly cookies, as `auth/cookie/login/`.
///
/// Managing passkeys needs the credential of a login (see [`SessionUser`]).
pub fn passkey_routes<S>() -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/auth/passkeys/", get(list).requires::<SessionUser>())
        .route(
            "/auth/passkeys/register/begin/",
            post(register_begin).requires::<SessionUser>(),
        )
        .route(
            "/auth/passkeys/register/finish/",
            post(register_finish).requires::<SessionUser>(),
        )
        .route(
            "/auth/passkeys/{id}/",
            patch(rename).delete(remove).requires::<SessionUser>(),
        )
        .route("/auth/mfa/passkey/begin/", post(second_factor_begin))
        .route(
            "/auth/passkeys/login/begin/",
            post(login_begin).fallback(login_route_fallback),
        )
        .route(
            "/auth/passkeys/login/finish/",
            post(login_finish).fallback(login_route_fallback),
        )
        .route(
            "/auth/cookie/passkey/",
            post(cookie_login).fallback(login_route_fallback),
        )
}

/// Present when `passkey_login` is on; otherwise the route answers 404 `Not found.` to
/// every method, as a route that is not mounted.
struct PasskeyLogin;

impl<S> FromRequestParts<S> for PasskeyLogin
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(_parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if Tessera::from_ref(state)
            .auth()
            .passkey_settings()
            .passkey_login
        {
            Ok(Self)
        } else {
            Err(ApiError::NotFound)
        }
    }
}

/// The other methods of the passwordless routes: 404 when they are off, else a bare 405.
async fn login_route_fallback(_on: PasskeyLogin) -> StatusCode {
    StatusCode::METHOD_NOT_ALLOWED
}

/// A passkey as the API shows it.
fn passkey_object(passkey: &StoredPasskey) -> Value {
    json!({
        "id": passkey.id,
        "name": passkey.name,
        "created_at": drf_datetime(passkey.created_at),
        "last_used_at": passkey.last_used_at.map(drf_datetime),
    })
}

/// `{"challenge_id", "publicKey"}`.
fn challenge_body(challenge: PasskeyChallenge) -> Json<Value> {
    Json(json!({"challenge_id": challenge.challenge_id, "publicKey": challenge.public_key}))
}

/// The id of a passkey route: a positive integer, else the route matches nothing (404).
fn passkey_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(ApiError::NotFound)
}

#[utoipa::path(
    get,
    path = "/auth/passkeys/",
    tag = "passkeys",
    summary = "The caller's passkeys",
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "`[{\"id\", \"name\", \"created_at\", \"last_used_at\"}]`, oldest first", body = Object),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
    )
)]
async fn list(State(tessera): State<Tessera>, auth: SessionUser) -> Result<Json<Value>, ApiError> {
    let passkeys = tessera.auth().own_passkeys(&auth.user).await?;
    Ok(Json(Value::Array(
        passkeys.iter().map(passkey_object).collect(),
    )))
}

#[utoipa::path(
    post,
    path = "/auth/passkeys/register/begin/",
    tag = "passkeys",
    summary = "Begins registering a passkey: the creation options",
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "`{\"challenge_id\", \"publicKey\"}`: the options for `navigator.credentials.create()`, binary fields in base64url", body = Object),
        (status = 400, description = "Too many passkeys", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 503, description = "Too many ceremonies under way", body = crate::openapi::Detail),
    )
)]
async fn register_begin(
    State(tessera): State<Tessera>,
    auth: SessionUser,
) -> Result<Json<Value>, ApiError> {
    let challenge = tessera
        .auth()
        .begin_passkey_registration(&auth.user)
        .await?;
    Ok(challenge_body(challenge))
}

#[utoipa::path(
    post,
    path = "/auth/passkeys/register/finish/",
    tag = "passkeys",
    summary = "Finishes registering a passkey",
    request_body(content = RegisterFinish, content_type = "application/json"),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 201, description = "The passkey", body = Object),
        (status = 400, description = "Field errors: the name, the current password (required when the account has a usable one), the challenge, a credential that does not verify or is registered already; or passkeys are not configured (`detail`)", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
    )
)]
async fn register_finish(
    State(tessera): State<Tessera>,
    auth: SessionUser,
    Client(client): Client,
    data: Payload,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let stored = tessera
        .auth()
        .finish_passkey_registration(&auth.user, &data.0, &client)
        .await?;
    Ok((StatusCode::CREATED, Json(passkey_object(&stored))))
}

#[utoipa::path(
    patch,
    path = "/auth/passkeys/{id}/",
    tag = "passkeys",
    summary = "Renames one of the caller's passkeys",
    params(("id" = i64, Path, description = "The passkey's id")),
    request_body(content = PasskeyName, content_type = "application/json"),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "The passkey", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 404, description = "No such passkey of the caller", body = crate::openapi::Detail),
    )
)]
async fn rename(
    State(tessera): State<Tessera>,
    auth: SessionUser,
    Client(client): Client,
    Path(id): Path<String>,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let id = passkey_id(&id)?;
    let renamed = tessera
        .auth()
        .rename_passkey(&auth.user, id, &data.0, &client)
        .await?;
    Ok(Json(passkey_object(&renamed)))
}

#[utoipa::path(
    delete,
    path = "/auth/passkeys/{id}/",
    tag = "passkeys",
    summary = "Deletes one of the caller's passkeys",
    params(("id" = i64, Path, description = "The passkey's id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The last way into the account (`non_field_errors`)", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 404, description = "No such passkey of the caller", body = crate::openapi::Detail),
    )
)]
async fn remove(
    State(tessera): State<Tessera>,
    auth: SessionUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = passkey_id(&id)?;
    tessera
        .auth()
        .delete_passkey(&auth.user, id, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/auth/mfa/passkey/begin/",
    tag = "passkeys",
    summary = "Begins a passkey second factor for a pending login",
    request_body(content = MfaToken, content_type = "application/json"),
    responses(
        (status = 200, description = "`{\"challenge_id\", \"publicKey\"}`: the options for `navigator.credentials.get()`", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "The `mfa_token` does not work, or its user has no passkey (`mfa_token_not_valid`)", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn second_factor_begin(
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let challenge = tessera
        .auth()
        .begin_passkey_second_factor(&data.0, &client)
        .await?;
    Ok(challenge_body(challenge))
}

#[utoipa::path(
    post,
    path = "/auth/passkeys/login/begin/",
    tag = "passkeys",
    summary = "Begins a passkey sign-in (`passkey_login`)",
    responses(
        (status = 200, description = "`{\"challenge_id\", \"publicKey\"}`: discoverable request options", body = Object),
        (status = 404, description = "`passkey_login` is off", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn login_begin(
    _on: PasskeyLogin,
    State(tessera): State<Tessera>,
    Client(client): Client,
) -> Result<Json<Value>, ApiError> {
    let challenge = tessera.auth().begin_passkey_login(&client).await?;
    Ok(challenge_body(challenge))
}

#[utoipa::path(
    post,
    path = "/auth/passkeys/login/finish/",
    tag = "passkeys",
    summary = "Signs in with a passkey (`passkey_login`): what `POST token/` answers",
    request_body(content = PasskeyAssertion, content_type = "application/json"),
    responses(
        (status = 200, description = "`{\"refresh\", \"access\"}` (and what `[token_obtain]` adds)", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "The passkey does not sign anyone in", body = crate::openapi::Detail),
        (status = 404, description = "`passkey_login` is off", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn login_finish(
    _on: PasskeyLogin,
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let user = tessera
        .auth()
        .finish_passkey_login(&data.0, &client)
        .await?;
    let answer = tessera
        .auth()
        .obtain_pair_by(&user, &client, LoginMethod::Passkey)
        .await?;
    Ok(Json(Value::Object(answer)))
}

#[utoipa::path(
    post,
    path = "/auth/cookie/passkey/",
    tag = "cookie",
    summary = "Signs in with a passkey (`passkey_login`); the tokens go to HttpOnly cookies",
    request_body(content = PasskeyAssertion, content_type = "application/json"),
    security(("csrf" = [])),
    responses(
        (status = 200, description = "`{\"message\": \"Login successful\", \"user\"}` (tokens only in `Set-Cookie`)", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "The passkey does not sign anyone in", body = crate::openapi::Detail),
        (status = 403, description = "CSRF failed", body = crate::openapi::Detail),
        (status = 404, description = "`passkey_login` is off", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn cookie_login(
    _on: PasskeyLogin,
    _csrf: CookieRouteCsrf,
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<Response, ApiError> {
    let user = tessera
        .auth()
        .finish_passkey_login(&data.0, &client)
        .await?;
    let TokenPair { refresh, access } = tessera
        .auth()
        .issue_account_pair_by(&user, &client, LoginMethod::Passkey)
        .await?;
    let body = json!({"message": "Login successful", "user": tessera.user_object(&user)});
    Ok(super::cookie::with_cookies(
        StatusCode::OK,
        body,
        super::cookie::session_cookies(&tessera, &access, Some(&refresh), true),
    )
    .into_response())
}

/// This module's routes in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list,
    register_begin,
    register_finish,
    rename,
    remove,
    second_factor_begin,
    login_begin,
    login_finish,
    cookie_login
))]
pub(super) struct Doc;

/// The end of a passkey registration.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct RegisterFinish {
    /// From `register/begin/`.
    challenge_id: String,
    /// The passkey's name: 1 to 64 characters.
    name: String,
    /// The browser's `credential.toJSON()`.
    credential: Value,
    /// The current password: required when the account has a usable one.
    password: Option<String>,
}

/// A passkey's new name.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct PasskeyName {
    /// 1 to 64 characters.
    name: String,
}

/// The pending login's token.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct MfaToken {
    /// From the login's `mfa_required` answer.
    mfa_token: String,
}

/// A passkey assertion.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct PasskeyAssertion {
    /// From `login/begin/`.
    challenge_id: String,
    /// The browser's `credential.toJSON()`.
    credential: Value,
}
