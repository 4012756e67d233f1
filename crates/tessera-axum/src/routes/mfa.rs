//! Multi-factor authentication (docs/API.md §MFA), under `auth/mfa/`: the status, TOTP
//! setup, confirmation and removal, recovery codes, and the login's second step, which
//! answers exactly what the login route it started at would have.

use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera_auth::mfa::{MfaActor, MfaPassed, MfaPending, MfaRoute, TotpSetup};
use tessera_auth::{ClientInfo, LoginMethod};

use crate::api_key::SessionUser;
use crate::client::Client;
use crate::csrf::csrf_refusal;
use crate::error::ApiError;
use crate::payload::Payload;
use crate::requires::Requires;
use crate::state::Tessera;

/// `auth/mfa/` (GET), `auth/mfa/totp/setup/`, `…/totp/confirm/`, `…/totp/disable/`,
/// `auth/mfa/recovery-codes/` and `auth/mfa/verify/` (POST), relative to the API's mount
/// point (`/api`). Every route but the second step needs the credential of a login (a
/// session's token: never an API key nor a token minted from one, see [`SessionUser`]);
/// setup and confirmation take instead the `mfa_token` of a staff login that must set TOTP
/// up; the second step takes only its `mfa_token`.
pub fn mfa_routes<S>() -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/auth/mfa/", get(status).requires::<SessionUser>())
        .route("/auth/mfa/totp/setup/", post(setup))
        .route("/auth/mfa/totp/confirm/", post(confirm))
        .route(
            "/auth/mfa/totp/disable/",
            post(disable).requires::<SessionUser>(),
        )
        .route(
            "/auth/mfa/recovery-codes/",
            post(recovery_codes).requires::<SessionUser>(),
        )
        .route("/auth/mfa/verify/", post(verify))
}

/// The 401 a login route gives instead of tokens while the second step is owed.
pub(crate) fn mfa_required(pending: &MfaPending) -> Response {
    (StatusCode::UNAUTHORIZED, Json(pending.to_json())).into_response()
}

/// The request's CSRF verdict for a cookie route, kept for when the second step turns out
/// to complete a cookie login.
struct CookieCsrf(Option<Response>);

impl<S> FromRequestParts<S> for CookieCsrf
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(csrf_refusal(&Tessera::from_ref(state), parts, true)))
    }
}

/// What the route the login started at answers on success, for `passed.user`.
async fn route_answer(
    tessera: &Tessera,
    passed: &MfaPassed,
    client: &ClientInfo,
) -> Result<(StatusCode, Vec<axum::http::HeaderValue>, Value), ApiError> {
    let (auth, user) = (tessera.auth(), &passed.user);
    let body = match passed.route {
        MfaRoute::Pair => Value::Object(auth.obtain_pair(user, client).await?),
        MfaRoute::Sliding => Value::Object(auth.obtain_sliding(user, client).await?),
        MfaRoute::Login => {
            super::account::login_answer(tessera, user, client, LoginMethod::Password)
                .await?
                .0
        }
        MfaRoute::CodeLogin => {
            super::account::login_answer(tessera, user, client, LoginMethod::Code)
                .await?
                .0
        }
        MfaRoute::SocialPair { .. } => Value::Object(
            auth.obtain_pair_by(user, client, LoginMethod::Social)
                .await?,
        ),
        MfaRoute::CookieLogin | MfaRoute::SocialCookie { .. } => {
            let method = if passed.route.social_identity().is_some() {
                LoginMethod::Social
            } else {
                LoginMethod::Password
            };
            let (body, cookies) =
                super::cookie::login_success(tessera, user, client, method).await?;
            return Ok((StatusCode::OK, cookies, body));
        }
        _ => return Err(ApiError::Internal("a login route without an answer".into())),
    };
    Ok((StatusCode::OK, Vec::new(), body))
}

/// A status, cookies and a JSON body (credentials, and maybe recovery codes: never cached).
fn answer(status: StatusCode, cookies: Vec<axum::http::HeaderValue>, body: Value) -> Response {
    let mut response = (
        status,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response();
    for cookie in cookies {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, cookie);
    }
    response
}

/// The `mfa_token` of a body, if it is a string.
fn mfa_token(data: &Payload) -> Option<&str> {
    data.0
        .get("mfa_token")
        .and_then(Value::as_str)
        .map(str::trim)
}

/// Refuses a request that fails the cookie routes' CSRF check when `token` belongs to a
/// cookie login (which the answer would complete with cookies).
async fn check_cookie_csrf(
    tessera: &Tessera,
    token: Option<&str>,
    csrf: CookieCsrf,
) -> Result<Option<Response>, ApiError> {
    let Some(token) = token else { return Ok(None) };
    let Some(refused) = csrf.0 else {
        return Ok(None);
    };
    let challenge = tessera.auth().peek_mfa_challenge(token).await?;
    Ok(challenge
        .filter(|c| {
            matches!(
                c.route,
                MfaRoute::CookieLogin | MfaRoute::SocialCookie { .. }
            )
        })
        .map(|_| refused))
}

#[utoipa::path(
    get,
    path = "/auth/mfa/",
    tag = "mfa",
    summary = "The caller's second factors",
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "`{\"totp\", \"recovery_codes_left\", \"methods\", \"has_usable_password\"}`", body = Object),
        (status = 401, description = "Not authenticated", body = crate::openapi::Detail),
        (status = 403, description = "An API key, or a token minted from one (`client_id`): these routes need a login session", body = crate::openapi::Detail),
    )
)]
async fn status(
    State(tessera): State<Tessera>,
    auth: SessionUser,
) -> Result<Json<Value>, ApiError> {
    let status = tessera.auth().mfa_status(&auth.user).await?;
    Ok(Json(json!({
        "totp": status.totp,
        "recovery_codes_left": status.recovery_codes_left,
        "methods": status.methods,
        "has_usable_password": status.has_usable_password,
    })))
}

#[utoipa::path(
    post,
    path = "/auth/mfa/totp/setup/",
    tag = "mfa",
    summary = "A new pending TOTP secret, its otpauth URL and QR code",
    request_body(content = Object, description = "Nothing, or `{\"mfa_token\"}` of a staff login that must set TOTP up"),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ()),
    responses(
        (status = 200, description = "`{\"secret\", \"otpauth_url\", \"qr_svg\"}`", body = Object),
        (status = 400, description = "TOTP is on already", body = crate::openapi::Detail),
        (status = 401, description = "Not authenticated, or an invalid `mfa_token`", body = crate::openapi::Detail),
        (status = 403, description = "An API key, or a token minted from one (`client_id`): these routes need a login session", body = crate::openapi::Detail),
    )
)]
async fn setup(
    State(tessera): State<Tessera>,
    auth: Option<SessionUser>,
    Client(client): Client,
    data: Payload,
) -> Result<Response, ApiError> {
    let setup = match (&auth, mfa_token(&data)) {
        (Some(auth), _) => {
            tessera
                .auth()
                .setup_totp(MfaActor::User(&auth.user), &client)
                .await?
        }
        (None, Some(token)) => {
            tessera
                .auth()
                .setup_totp(MfaActor::Pending(token), &client)
                .await?
        }
        (None, None) => return Err(ApiError::NotAuthenticated),
    };
    let TotpSetup {
        secret,
        otpauth_url,
        qr_svg,
    } = setup;
    Ok((
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(json!({"secret": secret, "otpauth_url": otpauth_url, "qr_svg": qr_svg})),
    )
        .into_response())
}

#[utoipa::path(
    post,
    path = "/auth/mfa/totp/confirm/",
    tag = "mfa",
    summary = "Confirms the pending TOTP secret with a code; ten recovery codes",
    request_body(content = Object, description = "`{\"code\"}`, and `mfa_token` for a staff login setting TOTP up"),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ()),
    responses(
        (status = 200, description = "`{\"recovery_codes\": [...]}` (with an `mfa_token`: the login route's answer, plus `recovery_codes`)", body = Object),
        (status = 400, description = "`{\"code\": [\"Invalid code.\"]}`, or nothing to confirm", body = Object),
        (status = 401, description = "Not authenticated, or an invalid `mfa_token`", body = crate::openapi::Detail),
        (status = 403, description = "An API key, or a token minted from one (`client_id`): these routes need a login session", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn confirm(
    State(tessera): State<Tessera>,
    auth: Option<SessionUser>,
    Client(client): Client,
    csrf: CookieCsrf,
    data: Payload,
) -> Result<Response, ApiError> {
    let confirmed = match (&auth, mfa_token(&data)) {
        (Some(auth), _) => {
            tessera
                .auth()
                .confirm_totp(MfaActor::User(&auth.user), &data.0, &client)
                .await?
        }
        (None, Some(token)) => {
            if let Some(refused) = check_cookie_csrf(&tessera, Some(token), csrf).await? {
                return Ok(refused);
            }
            tessera
                .auth()
                .confirm_totp(MfaActor::Pending(token), &data.0, &client)
                .await?
        }
        (None, None) => return Err(ApiError::NotAuthenticated),
    };
    let codes = json!(confirmed.recovery_codes);
    let Some(login) = confirmed.login else {
        return Ok((
            [(axum::http::header::CACHE_CONTROL, "no-store")],
            Json(json!({"recovery_codes": codes})),
        )
            .into_response());
    };
    let (status, cookies, mut body) = route_answer(&tessera, &login, &client).await?;
    if let Value::Object(fields) = &mut body {
        fields.insert("recovery_codes".into(), codes);
    }
    Ok(answer(status, cookies, body))
}

#[utoipa::path(
    post,
    path = "/auth/mfa/totp/disable/",
    tag = "mfa",
    summary = "Removes TOTP and the recovery codes",
    request_body(content = Object, description = "`{\"password\", \"code\"}` (a TOTP or a recovery code)"),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "`{\"detail\": \"Two-factor authentication disabled.\"}`", body = crate::openapi::Detail),
        (status = 400, description = "Field errors, or TOTP is off", body = Object),
        (status = 401, description = "Not authenticated", body = crate::openapi::Detail),
        (status = 403, description = "An API key, or a token minted from one (`client_id`): these routes need a login session", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn disable(
    State(tessera): State<Tessera>,
    auth: SessionUser,
    Client(client): Client,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    tessera
        .auth()
        .disable_totp(&auth.user, &data.0, &client)
        .await?;
    Ok(Json(
        json!({"detail": "Two-factor authentication disabled."}),
    ))
}

#[utoipa::path(
    post,
    path = "/auth/mfa/recovery-codes/",
    tag = "mfa",
    summary = "Ten new recovery codes; the old ones die",
    request_body(content = Object, description = "`{\"password\"}`"),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "`{\"recovery_codes\": [...]}`", body = Object),
        (status = 400, description = "Field errors, or TOTP is off", body = Object),
        (status = 401, description = "Not authenticated", body = crate::openapi::Detail),
        (status = 403, description = "An API key, or a token minted from one (`client_id`): these routes need a login session", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn recovery_codes(
    State(tessera): State<Tessera>,
    auth: SessionUser,
    Client(client): Client,
    data: Payload,
) -> Result<Response, ApiError> {
    let codes = tessera
        .auth()
        .regenerate_recovery_codes(&auth.user, &data.0, &client)
        .await?;
    Ok((
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(json!({"recovery_codes": codes})),
    )
        .into_response())
}

#[utoipa::path(
    post,
    path = "/auth/mfa/verify/",
    tag = "mfa",
    summary = "The login's second step: answers as the login route would have",
    request_body(content = Object, description = "`{\"mfa_token\", \"code\"}` (TOTP or recovery code) or `{\"mfa_token\", \"passkey\": {...}}`"),
    responses(
        (status = 200, description = "The login route's answer (pair, sliding token, login body, or the cookie login's cookies and body)", body = Object),
        (status = 400, description = "`{\"code\": [\"Invalid code.\"]}` or missing fields", body = Object),
        (status = 401, description = "`{\"detail\": \"Invalid or expired MFA token.\", \"code\": \"mfa_token_not_valid\"}`", body = crate::openapi::Detail),
        (status = 403, description = "CSRF failed (a cookie login's second step)", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn verify(
    State(tessera): State<Tessera>,
    Client(client): Client,
    csrf: CookieCsrf,
    data: Payload,
) -> Result<Response, ApiError> {
    if let Some(refused) = check_cookie_csrf(&tessera, mfa_token(&data), csrf).await? {
        return Ok(refused);
    }
    let passed = tessera.auth().verify_mfa(&data.0, &client).await?;
    let (status, cookies, body) = route_answer(&tessera, &passed, &client).await?;
    Ok(answer(status, cookies, body))
}

/// This module's routes in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(status, setup, confirm, disable, recovery_codes, verify))]
pub(super) struct Doc;
