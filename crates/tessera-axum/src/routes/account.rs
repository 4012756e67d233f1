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

async fn login(
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let user = credentials(&tessera, &client, &data).await?;
    login_answer(&tessera, &user, &client, LoginMethod::Password).await
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

async fn profile(State(tessera): State<Tessera>, auth: AuthUser) -> Json<Value> {
    Json(tessera.user_object(&auth.user))
}

/// PUT: every writable field; `id`, `date_joined` and `is_active` are read-only and ignored.
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
