//! Cookie mode (docs/API.md §6): the same checks as the JSON
//! routes, tokens only in HttpOnly cookies, never in the body.
//!
//! `POST auth/cookie/register/`, `…/login/`, `…/refresh/`, `…/logout/`, relative to the
//! API's mount point. The refresh cookie's path (`auth_cookie_refresh_path`, `/api/auth/` by
//! default) must cover where they are mounted.

use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::client::Client;
use crate::cookies::{csrf_cookie, expired_cookie, new_csrf_token, read_cookie, token_cookie};
use crate::csrf::CookieRouteCsrf;
use crate::error::ApiError;
use crate::payload::Payload;
use crate::state::Tessera;
use tessera_auth::AuthError;
use tessera_auth::mfa::MfaRoute;
use tessera_auth::tokens::TokenPair;
use tessera_core::UsernameField;
use tessera_store::RevokeReason;

/// The four cookie routes, `auth/cookie/{register,login,refresh,logout}/`, relative to the
/// API's mount point (`/api`). Each is CSRF-protected wherever it is mounted.
pub fn cookie_routes<S>() -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/auth/cookie/register/", post(register))
        .route("/auth/cookie/login/", post(login))
        .route("/auth/cookie/refresh/", post(refresh))
        .route("/auth/cookie/logout/", post(logout))
}

/// A JSON body with cookies set.
pub(super) fn with_cookies(status: StatusCode, body: Value, cookies: Vec<HeaderValue>) -> Response {
    let mut response = (status, Json(body)).into_response();
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// Both token cookies, and a new CSRF token (rotated at login, as Django does).
pub(super) fn session_cookies(
    tessera: &Tessera,
    access: &str,
    refresh: Option<&str>,
    rotate_csrf: bool,
) -> Vec<HeaderValue> {
    let (browser, settings) = (tessera.browser(), tessera.settings());
    let mut cookies = vec![token_cookie(
        browser,
        &browser.auth_cookie_access_name,
        &browser.auth_cookie_access_path,
        access,
        settings.access_token_lifetime,
    )];
    if let Some(refresh) = refresh {
        cookies.push(token_cookie(
            browser,
            &browser.auth_cookie_refresh_name,
            &browser.auth_cookie_refresh_path,
            refresh,
            settings.refresh_token_lifetime,
        ));
    }
    if rotate_csrf {
        cookies.push(csrf_cookie(browser, &new_csrf_token()));
    }
    cookies
}

/// Deletes both token cookies.
fn cleared_cookies(tessera: &Tessera) -> Vec<HeaderValue> {
    let browser = tessera.browser();
    vec![
        expired_cookie(
            browser,
            &browser.auth_cookie_access_name,
            &browser.auth_cookie_access_path,
        ),
        expired_cookie(
            browser,
            &browser.auth_cookie_refresh_name,
            &browser.auth_cookie_refresh_path,
        ),
    ]
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

#[utoipa::path(
    post,
    path = "/auth/cookie/register/",
    tag = "cookie",
    summary = "Registers an account; the tokens go to HttpOnly cookies",
    request_body(
        content = super::account::RegisterRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    security(("csrf" = [])),
    responses(
        (status = 201, description = "The account (tokens only in `Set-Cookie`)", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 403, description = "CSRF failed", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn register(
    _csrf: CookieRouteCsrf,
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<Response, ApiError> {
    let user = tessera.auth().register(&data.0, &client).await?;
    if tessera.auth().check_email_verified(&user).is_err() {
        // No session until the address is verified (`require_verified_email = "login"`).
        let body = json!({"detail": super::VERIFICATION_SENT});
        return Ok((StatusCode::CREATED, Json(body)).into_response());
    }
    let TokenPair { refresh, access } = tessera.auth().issue_account_pair(&user, &client).await?;
    let body =
        json!({"message": "User registered successfully", "user": tessera.user_object(&user)});
    Ok(with_cookies(
        StatusCode::CREATED,
        body,
        session_cookies(&tessera, &access, Some(&refresh), true),
    ))
}

/// The cookie login's body shapes (`{"error": …}`), with the JSON login's checks: the same hashing
/// work for unknown accounts, and no hint whether an account exists or is disabled. It reads
/// the login field of `username_field` (`email`, or `username`: then a missing one answers
/// "Username and password are required").
#[utoipa::path(
    post,
    path = "/auth/cookie/login/",
    tag = "cookie",
    summary = "Logs in; the tokens go to HttpOnly cookies",
    request_body(
        content = super::token::ObtainRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    security(("csrf" = [])),
    responses(
        (status = 200, description = "The user (tokens only in `Set-Cookie`)", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "No active account found with the given credentials, or `mfa_required` / `mfa_setup_required` with an `mfa_token`", body = crate::openapi::Detail),
        (status = 403, description = "CSRF failed", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn login(
    _csrf: CookieRouteCsrf,
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<Response, ApiError> {
    tessera
        .auth()
        .throttles()
        .check("login", client.ident())
        .await?;
    let text = |name: &str| match data.0.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let login_field = tessera.settings().username_field;
    let (Some(name), Some(password)) = (text(login_field.as_str()), text("password")) else {
        let message = match login_field {
            UsernameField::Email => "Email and password are required",
            UsernameField::Username => "Username and password are required",
        };
        return Ok(error(StatusCode::BAD_REQUEST, message));
    };
    let Some(user) = tessera
        .auth()
        .check_credentials(name.trim(), &password, &client)
        .await?
    else {
        return Ok(error(StatusCode::UNAUTHORIZED, "Invalid credentials"));
    };
    if let tessera_auth::mfa::LoginStep::Pending(pending) = tessera
        .auth()
        .login_step(&user, MfaRoute::CookieLogin, &client)
        .await?
    {
        return Ok(super::mfa::mfa_required(&pending));
    }
    let (body, cookies) = login_success(
        &tessera,
        &user,
        &client,
        tessera_auth::LoginMethod::Password,
    )
    .await?;
    Ok(with_cookies(StatusCode::OK, body, cookies))
}

/// The cookie login's success for `user`, whose credentials (and second factor) were
/// checked by `method`: a new session's token cookies with a fresh CSRF cookie, and the
/// body.
pub(super) async fn login_success(
    tessera: &Tessera,
    user: &tessera_store::User,
    client: &tessera_auth::ClientInfo,
    method: tessera_auth::LoginMethod,
) -> Result<(Value, Vec<HeaderValue>), ApiError> {
    let TokenPair { refresh, access } = tessera
        .auth()
        .issue_account_pair_by(user, client, method)
        .await?;
    let body = json!({"message": "Login successful", "user": tessera.user_object(user)});
    Ok((
        body,
        session_cookies(tessera, &access, Some(&refresh), true),
    ))
}

/// Rotates with the JSON route's atomic rules; refuses deactivated users; a failure clears
/// the cookies.
#[utoipa::path(
    post,
    path = "/auth/cookie/refresh/",
    tag = "cookie",
    summary = "Refreshes the access cookie from the refresh cookie",
    security(("csrf" = [])),
    responses(
        (status = 200, description = "Refreshed (new cookies in `Set-Cookie`)", body = Object),
        (status = 401, description = "No or an invalid refresh cookie", body = crate::openapi::TokenError),
        (status = 403, description = "CSRF failed", body = crate::openapi::Detail),
    )
)]
async fn refresh(
    _csrf: CookieRouteCsrf,
    State(tessera): State<Tessera>,
    Client(client): Client,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(raw) = read_cookie(&headers, &tessera.browser().auth_cookie_refresh_name) else {
        return Ok(error(StatusCode::UNAUTHORIZED, "Refresh token not found"));
    };
    match tessera.auth().refresh(raw, &client).await {
        Ok(refreshed) => {
            let cookies = session_cookies(
                &tessera,
                &refreshed.access,
                refreshed.refresh.as_deref(),
                false,
            );
            Ok(with_cookies(
                StatusCode::OK,
                json!({"message": "Token refreshed successfully"}),
                cookies,
            ))
        }
        Err(
            AuthError::Token(_)
            | AuthError::NoActiveAccount
            | AuthError::NoValidTokenKind(_)
            | AuthError::UserNotFound
            | AuthError::UserInactive
            | AuthError::PasswordChanged,
        ) => Ok(with_cookies(
            StatusCode::UNAUTHORIZED,
            json!({"error": "Invalid or expired refresh token"}),
            cleared_cookies(&tessera),
        )),
        Err(other) => Err(other.into()),
    }
}

/// Ends the session of the refresh cookie, if it is still live, and clears both cookies. It
/// needs no access cookie: an expired one must not trap the user.
#[utoipa::path(
    post,
    path = "/auth/cookie/logout/",
    tag = "cookie",
    summary = "Ends the session and clears the cookies",
    security(("csrf" = [])),
    responses(
        (status = 200, description = "Logged out", body = Object),
        (status = 403, description = "CSRF failed", body = crate::openapi::Detail),
    )
)]
async fn logout(
    _csrf: CookieRouteCsrf,
    State(tessera): State<Tessera>,
    Client(client): Client,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(raw) = read_cookie(&headers, &tessera.browser().auth_cookie_refresh_name) {
        match tessera
            .auth()
            .end_session(raw, None, RevokeReason::Logout, &client)
            .await
        {
            Ok(()) | Err(AuthError::Token(_)) => {}
            Err(other) => return Err(other.into()),
        }
    }
    Ok(with_cookies(
        StatusCode::OK,
        json!({"message": "Successfully logged out"}),
        cleared_cookies(&tessera),
    ))
}

/// This module's routes in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(register, login, refresh, logout))]
pub(super) struct Doc;
