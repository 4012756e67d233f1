//! The account routes of a DRF + simplejwt service (docs/API.md §5), under `auth/`:
//! register, login, logout, log out everywhere, profile, password change, the token
//! refresh and verify views, and the account flows by e-mail (`email`).

use axum::extract::{FromRef, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera_auth::accounts::{LogoutAnswer, RegisterAnswer};
use tessera_auth::mfa::{LoginStep, MfaRoute};
use tessera_auth::{AuthError, ClientInfo, LoginMethod, SESSION_CLAIM};
use tessera_store::{RevokeReason, User};

use crate::api_key::SessionUser;
use crate::auth::AuthUser;
use crate::client::Client;
use crate::error::ApiError;
use crate::payload::Payload;
use crate::requires::Requires;
use crate::routes::token::{credentials, refresh, verify};
use crate::state::Tessera;

/// `register/`, `login/`, `logout/`, `logout/all/`, `token/refresh/`, `token/verify/`,
/// `profile/` (GET, PUT, PATCH), `password/change/` and `ws-ticket/` under `auth/`, relative to the API's
/// mount point (`/api`), and the e-mail flows ([`email_routes`](super::email_routes)).
/// Logout, password change, profile changes and tickets need the credential of a login:
/// an API key (or a token minted from one) gets 403 (see [`SessionUser`]); reading the
/// profile takes a key.
pub fn account_routes<S>() -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/auth/register/", post(register))
        .route("/auth/login/", post(login))
        .route("/auth/logout/", post(logout).requires::<SessionUser>())
        .route(
            "/auth/logout/all/",
            post(logout_all).requires::<SessionUser>(),
        )
        .route("/auth/token/refresh/", post(refresh))
        .route("/auth/token/verify/", post(verify))
        .route(
            "/auth/profile/",
            get(profile)
                .put(replace_profile)
                .patch(update_profile)
                .requires::<AuthUser>(),
        )
        .route(
            "/auth/password/change/",
            post(change_password).requires::<SessionUser>(),
        )
        .route(
            "/auth/ws-ticket/",
            post(ws_ticket).requires::<SessionUser>(),
        )
        .merge(super::email_routes())
}

/// A single-use WebSocket ticket for the caller, valid 30 seconds (see
/// [`crate::WsUser`]): `{"ticket": "…", "expires_in": 30}`, never cached.
#[utoipa::path(
    post,
    path = "/auth/ws-ticket/",
    tag = "account",
    summary = "A single-use WebSocket ticket",
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "`{\"ticket\", \"expires_in\"}`, never cached", body = WsTicket),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn ws_ticket(
    State(tessera): State<Tessera>,
    auth: SessionUser,
    Client(client): Client,
) -> Result<Response, ApiError> {
    let session = auth.token.get(SESSION_CLAIM).and_then(Value::as_str);
    let issued = tessera
        .auth()
        .issue_ws_ticket(&auth.user, session, &client)
        .await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({"ticket": issued.ticket, "expires_in": issued.expires_in})),
    )
        .into_response())
}

#[utoipa::path(
    post,
    path = "/auth/register/",
    tag = "account",
    summary = "Registers an account",
    request_body(
        content = RegisterRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    responses(
        (status = 201, description = "The account and its tokens (or the tokens alone, or a verification notice)", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn register(
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let auth = tessera.auth();
    let user = auth.register(&data.0, &client).await?;
    if auth.check_email_verified(&user).is_err() {
        // dj-rest-auth with mandatory verification: the account exists, the login waits
        // for the address to be verified.
        return Ok((
            StatusCode::CREATED,
            Json(json!({"detail": super::VERIFICATION_SENT})),
        ));
    }
    let pair = auth.issue_account_pair(&user, &client).await?;
    let body = match auth.accounts().register_answer {
        RegisterAnswer::Account => json!({
            "message": "User registered successfully",
            "user": tessera.user_object(&user),
            "tokens": {"refresh": pair.refresh, "access": pair.access},
        }),
        RegisterAnswer::Tokens => json!({"refresh": pair.refresh, "access": pair.access}),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

#[utoipa::path(
    post,
    path = "/auth/login/",
    tag = "account",
    summary = "Logs in with the username field and password",
    request_body(
        content = super::token::ObtainRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    responses(
        (status = 200, description = "`{\"refresh\", \"access\", \"user\"}`", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "No active account found with the given credentials, or `mfa_required` / `mfa_setup_required` with an `mfa_token`", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn login(
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<Response, ApiError> {
    let user = credentials(&tessera, &client, &data).await?;
    if let LoginStep::Pending(pending) = tessera
        .auth()
        .login_step(&user, MfaRoute::Login, &client)
        .await?
    {
        return Ok(super::mfa::mfa_required(&pending));
    }
    Ok(
        login_answer(&tessera, &user, &client, LoginMethod::Password)
            .await?
            .into_response(),
    )
}

/// The login answer for `user`, whose credentials (or code) were checked: a new session's
/// pair and the short user object.
pub(super) async fn login_answer(
    tessera: &Tessera,
    user: &User,
    client: &ClientInfo,
    method: LoginMethod,
) -> Result<Json<Value>, ApiError> {
    let pair = tessera
        .auth()
        .issue_account_pair_by(user, client, method)
        .await?;
    Ok(Json(
        json!({"refresh": pair.refresh, "access": pair.access, "user": tessera.login_user_object(user)}),
    ))
}

/// The account logout: blacklists the caller's own refresh token.
#[utoipa::path(
    post,
    path = "/auth/logout/",
    tag = "account",
    summary = "Ends the caller's session (blacklists its refresh token)",
    request_body(
        content = super::token::RefreshRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "`{\"message\": \"Successfully logged out\"}`", body = Object),
        (status = 205, description = "Logged out (`logout_answer = \"reset_content\"`)"),
        (status = 400, description = "`{\"error\": \"Refresh token is required\"}` or an invalid token", body = Object),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
    )
)]
async fn logout(
    State(tessera): State<Tessera>,
    auth: SessionUser,
    Client(client): Client,
    data: Payload,
) -> Result<Response, (StatusCode, Json<Value>)> {
    let bad_request = |message: &str| (StatusCode::BAD_REQUEST, Json(json!({"error": message})));
    let raw = match data.0.get("refresh") {
        None | Some(Value::Null) => return Err(bad_request("Refresh token is required")),
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err(bad_request("Refresh token is required"));
        }
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(_) => return Err(bad_request("Invalid or expired token")),
    };
    match tessera
        .auth()
        .end_session(&raw, Some(auth.user.id), RevokeReason::Logout, &client)
        .await
    {
        Ok(()) => Ok(match tessera.auth().accounts().logout_answer {
            LogoutAnswer::Message => {
                Json(json!({"message": "Successfully logged out"})).into_response()
            }
            LogoutAnswer::ResetContent => StatusCode::RESET_CONTENT.into_response(),
        }),
        Err(AuthError::Token(_)) => Err(bad_request("Invalid or expired token")),
        Err(other) => {
            tracing::error!(error = ?other, "logout failed");
            Err((
                ApiError::from(other).status(),
                Json(json!({"detail": "A server error occurred."})),
            ))
        }
    }
}

/// The caller's session, from the token that authenticated the request.
fn session_of(auth: &AuthUser) -> Option<&str> {
    auth.token.get(SESSION_CLAIM).and_then(Value::as_str)
}

/// Beyond simplejwt: ends every session of the caller; tokens issued before stop working.
#[utoipa::path(
    post,
    path = "/auth/logout/all/",
    tag = "account",
    summary = "Ends every session of the caller",
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "How many sessions ended", body = Object),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
    )
)]
async fn logout_all(
    State(tessera): State<Tessera>,
    auth: SessionUser,
    Client(client): Client,
) -> Result<Json<Value>, ApiError> {
    let ended = tessera
        .auth()
        .log_out_everywhere(&auth.user, &client, session_of(&auth))
        .await?;
    Ok(Json(
        json!({"message": "Successfully logged out of all sessions", "sessions_ended": ended}),
    ))
}

#[utoipa::path(
    get,
    path = "/auth/profile/",
    tag = "account",
    summary = "The caller's user object",
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The user object", body = Object),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
    )
)]
async fn profile(State(tessera): State<Tessera>, auth: AuthUser) -> Response {
    Json(tessera.user_object_view(&auth.user)).into_response()
}

/// PUT: every writable field; `id`, `date_joined` and `is_active` are read-only and ignored.
#[utoipa::path(
    put,
    path = "/auth/profile/",
    tag = "account",
    summary = "Replaces the caller's editable fields",
    request_body(
        content = ProfileRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The user object", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
    )
)]
async fn replace_profile(
    State(tessera): State<Tessera>,
    auth: SessionUser,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let user = tessera
        .auth()
        .update_profile(&auth.user, &data.0, false)
        .await?;
    Ok(Json(tessera.user_object(&user)))
}

/// PATCH: the writable fields present.
#[utoipa::path(
    patch,
    path = "/auth/profile/",
    tag = "account",
    summary = "Changes some of the caller's editable fields",
    request_body(
        content = ProfileRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The user object", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
    )
)]
async fn update_profile(
    State(tessera): State<Tessera>,
    auth: SessionUser,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let user = tessera
        .auth()
        .update_profile(&auth.user, &data.0, true)
        .await?;
    Ok(Json(tessera.user_object(&user)))
}

/// The password change, which also ends every session of the user.
#[utoipa::path(
    post,
    path = "/auth/password/change/",
    tag = "account",
    summary = "Changes the caller's password",
    request_body(
        content = PasswordChangeRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "`{\"detail\": \"…\"}`", body = crate::openapi::Detail),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn change_password(
    State(tessera): State<Tessera>,
    auth: SessionUser,
    Client(client): Client,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    tessera
        .auth()
        .change_password(&auth.user, &data.0, &client, session_of(&auth))
        .await?;
    Ok(Json(
        json!({"message": "Password changed successfully. Please log in again."}),
    ))
}

/// This module's routes in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    register,
    login,
    logout,
    logout_all,
    token_refresh,
    token_verify,
    profile,
    replace_profile,
    update_profile,
    change_password,
    ws_ticket
))]
pub(super) struct Doc;

/// A registration: the e-mail address, the password twice, and the user model's fields.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct RegisterRequest {
    /// The e-mail address.
    email: String,
    /// The password.
    password: String,
    /// The password again.
    password_confirm: String,
    /// The first name.
    first_name: Option<String>,
    /// The last name.
    last_name: Option<String>,
}

/// The fields a user may edit on their own profile (and any custom user field).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct ProfileRequest {
    /// The first name.
    first_name: Option<String>,
    /// The last name.
    last_name: Option<String>,
}

/// A password change.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct PasswordChangeRequest {
    /// The current password.
    old_password: String,
    /// The new password.
    new_password: String,
    /// The new password again.
    new_password_confirm: String,
}

/// A WebSocket ticket.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct WsTicket {
    /// The ticket, for `?ticket=` on the WebSocket's URL.
    ticket: String,
    /// Seconds it stays valid.
    expires_in: u64,
}

#[utoipa::path(
    post,
    path = "/auth/token/refresh/",
    tag = "account",
    summary = "Refreshes an access token (the account routes' path of `TokenRefreshView`)",
    request_body(
        content = super::token::RefreshRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    responses(
        (status = 200, description = "The new access token (and refresh token when rotating)", body = super::token::Refreshed),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "The refresh token is invalid, expired or blacklisted", body = crate::openapi::TokenError),
    )
)]
#[allow(dead_code)]
fn token_refresh() {}

#[utoipa::path(
    post,
    path = "/auth/token/verify/",
    tag = "account",
    summary = "Verifies a token (the account routes' path of `TokenVerifyView`)",
    request_body(
        content = super::token::VerifyRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    responses(
        (status = 200, description = "The token is valid", body = super::token::Empty),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "The token is invalid or expired", body = crate::openapi::TokenError),
    )
)]
#[allow(dead_code)]
fn token_verify() {}
