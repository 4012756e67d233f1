//! The account flows by e-mail, in dj-rest-auth's dialect, under `auth/`: password reset
//! (by link or by typed code), e-mail verification, e-mail change, and login by code.
//!
//! Every request that sends a mail answers the same whether or not the address belongs to
//! someone; links carry a token that only a `POST` consumes, so a link scanner that fetches
//! them consumes nothing.

use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera_auth::{LoginMethod, SESSION_CLAIM};

use crate::api_key::SessionUser;
use crate::client::Client;
use crate::error::ApiError;
use crate::payload::Payload;
use crate::state::Tessera;

/// dj-rest-auth's answer to a reset request, sent whether or not the address is known.
pub const RESET_SENT: &str = "Password reset e-mail has been sent.";
/// dj-rest-auth's answer to a reset confirmation.
pub const RESET_DONE: &str = "Password has been reset with the new password.";
/// The answer to an e-mail change request.
pub const CHANGE_SENT: &str = "Confirmation e-mail sent.";
/// dj-rest-auth's answer to a registration under mandatory verification
/// (`require_verified_email = "login"`): the account exists, but no session is opened
/// until the address is verified.
pub const VERIFICATION_SENT: &str = "Verification e-mail sent.";

/// `password/reset/`, `password/reset/confirm/`, `verify-email/`, `verify-email/resend/`,
/// `email/change/` (authenticated), `email/change/confirm/`, and — with `login_by_code` on,
/// 404 otherwise — `code/request/` and `code/login/`, all `POST`, under `auth/` relative to
/// the API's mount point (`/api`). [`account_routes`](super::account_routes) includes them.
///
/// With `email_backend = "off"` every one of them answers 404 `Not found.` to every method
/// (before authentication), as a route that is not mounted.
pub fn email_routes<S>() -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route(
            "/auth/password/reset/",
            post(request_password_reset).fallback(mail_route_fallback),
        )
        .route(
            "/auth/password/reset/confirm/",
            post(confirm_password_reset).fallback(mail_route_fallback),
        )
        .route(
            "/auth/verify-email/",
            post(verify_email).fallback(mail_route_fallback),
        )
        .route(
            "/auth/verify-email/resend/",
            post(resend_verification).fallback(mail_route_fallback),
        )
        .route(
            "/auth/email/change/",
            post(request_email_change).fallback(signed_in_mail_route_fallback::<S>),
        )
        .route(
            "/auth/email/change/confirm/",
            post(confirm_email_change).fallback(mail_route_fallback),
        )
        .route(
            "/auth/code/request/",
            post(request_login_code).fallback(code_route_fallback),
        )
        .route(
            "/auth/code/login/",
            post(login_with_code).fallback(code_route_fallback),
        )
}

/// Present when mail is on (`email_backend` is not `off`); otherwise the route answers 404
/// `Not found.` to every method, as a route that is not mounted.
struct MailOn;

impl<S> FromRequestParts<S> for MailOn
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(_parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if Tessera::from_ref(state).auth().mail_enabled() {
            Ok(Self)
        } else {
            Err(ApiError::NotFound)
        }
    }
}

/// The other methods of a mail route: 404 while mail is off (as for a route that is not
/// mounted, `OPTIONS` included), else a bare 405 (the conventions give it its body and
/// `Allow`, or answer `OPTIONS`).
async fn mail_route_fallback(_on: MailOn) -> StatusCode {
    StatusCode::METHOD_NOT_ALLOWED
}

/// [`mail_route_fallback`] for a route that requires a login (see
/// [`Requires`](crate::Requires) and [`SessionUser`]): 404 while mail is off, then the
/// authentication's rejection (but for `OPTIONS`), then a bare 405.
async fn signed_in_mail_route_fallback<S>(State(state): State<S>, request: Request) -> Response
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    let (mut parts, _body) = request.into_parts();
    if let Err(off) = MailOn::from_request_parts(&mut parts, &state).await {
        return off.into_response();
    }
    if parts.method != Method::OPTIONS
        && let Err(rejection) = SessionUser::from_request_parts(&mut parts, &state).await
    {
        return rejection.into_response();
    }
    StatusCode::METHOD_NOT_ALLOWED.into_response()
}

/// Present when mail is on and `login_by_code` too; otherwise the route answers 404
/// `Not found.` to every method, as a route that is not mounted.
struct LoginByCode;

impl<S> FromRequestParts<S> for LoginByCode
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(_parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let tessera = Tessera::from_ref(state);
        let auth = tessera.auth();
        if auth.mail_enabled() && auth.email_flow_settings().login_by_code {
            Ok(Self)
        } else {
            Err(ApiError::NotFound)
        }
    }
}

/// The other methods of the code routes: 404 when they are off, as for a route that is not
/// mounted (`OPTIONS` included), else a bare 405 (the conventions give it its body and
/// `Allow`, or answer `OPTIONS`).
async fn code_route_fallback(_on: LoginByCode) -> StatusCode {
    StatusCode::METHOD_NOT_ALLOWED
}

/// `{"detail": "<text>"}`.
fn detail(text: &str) -> Json<Value> {
    Json(json!({ "detail": text }))
}

/// `POST password/reset/` `{email}`: the same 200 for every well-formed address.
#[utoipa::path(
    post,
    path = "/auth/password/reset/",
    tag = "email",
    summary = "Mails a password reset link or code",
    request_body(
        content = EmailRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    responses(
        (status = 200, description = "`{\"detail\": \"…\"}`", body = crate::openapi::Detail),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 404, description = "E-mail is switched off, or the key or code does not work", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn request_password_reset(
    _on: MailOn,
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    tessera
        .auth()
        .request_password_reset(&data.0, &client)
        .await?;
    Ok(detail(RESET_SENT))
}

/// `POST password/reset/confirm/` `{uid, token, new_password1, new_password2}` or
/// `{email, code, new_password1, new_password2}`.
#[utoipa::path(
    post,
    path = "/auth/password/reset/confirm/",
    tag = "email",
    summary = "Sets a new password with a reset link's uid and token, or a code",
    request_body(
        content = PasswordResetConfirm,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    responses(
        (status = 200, description = "`{\"detail\": \"…\"}`", body = crate::openapi::Detail),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 404, description = "E-mail is switched off, or the key or code does not work", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn confirm_password_reset(
    _on: MailOn,
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    tessera
        .auth()
        .confirm_password_reset(&data.0, &client)
        .await?;
    Ok(detail(RESET_DONE))
}

/// `POST verify-email/` `{key}` or `{email, code}`: 404 for a key that does not work.
#[utoipa::path(
    post,
    path = "/auth/verify-email/",
    tag = "email",
    summary = "Verifies an address with a key or a code",
    request_body(
        content = KeyOrCode,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    responses(
        (status = 200, description = "`{\"detail\": \"…\"}`", body = crate::openapi::Detail),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 404, description = "E-mail is switched off, or the key or code does not work", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn verify_email(
    _on: MailOn,
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    tessera.auth().verify_email(&data.0, &client).await?;
    Ok(detail("ok"))
}

/// `POST verify-email/resend/` `{email}`: the same 200 for every well-formed address.
#[utoipa::path(
    post,
    path = "/auth/verify-email/resend/",
    tag = "email",
    summary = "Mails the verification again",
    request_body(
        content = EmailRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    responses(
        (status = 200, description = "`{\"detail\": \"…\"}`", body = crate::openapi::Detail),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 404, description = "E-mail is switched off, or the key or code does not work", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn resend_verification(
    _on: MailOn,
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    tessera
        .auth()
        .resend_email_verification(&data.0, &client)
        .await?;
    Ok(detail("ok"))
}

/// `POST email/change/` `{new_email, password}`, by the caller, with the credential of a
/// login (an API key gets 403).
#[utoipa::path(
    post,
    path = "/auth/email/change/",
    tag = "email",
    summary = "Mails a confirmation to a new address",
    request_body(
        content = EmailChangeRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "`{\"detail\": \"…\"}`", body = crate::openapi::Detail),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 404, description = "E-mail is switched off, or the key or code does not work", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn request_email_change(
    _on: MailOn,
    State(tessera): State<Tessera>,
    auth: SessionUser,
    Client(client): Client,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let session = auth.token.get(SESSION_CLAIM).and_then(Value::as_str);
    tessera
        .auth()
        .request_email_change(&auth.user, &data.0, &client, session)
        .await?;
    Ok(detail(CHANGE_SENT))
}

/// `POST email/change/confirm/` `{key}` or `{email, code}` (the new address): 404 for a
/// key that does not work.
#[utoipa::path(
    post,
    path = "/auth/email/change/confirm/",
    tag = "email",
    summary = "Confirms the new address with a key or a code",
    request_body(
        content = KeyOrCode,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    responses(
        (status = 200, description = "`{\"detail\": \"…\"}`", body = crate::openapi::Detail),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 404, description = "E-mail is switched off, or the key or code does not work", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn confirm_email_change(
    _on: MailOn,
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    tessera
        .auth()
        .confirm_email_change(&data.0, &client)
        .await?;
    Ok(detail("ok"))
}

/// `POST code/request/` `{email}`: the same 200 for every well-formed address.
#[utoipa::path(
    post,
    path = "/auth/code/request/",
    tag = "email",
    summary = "Mails a login code (`login_by_code`)",
    request_body(
        content = EmailRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    responses(
        (status = 200, description = "`{\"detail\": \"…\"}`", body = crate::openapi::Detail),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 404, description = "E-mail is switched off, or the key or code does not work", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn request_login_code(
    State(tessera): State<Tessera>,
    _on: LoginByCode,
    Client(client): Client,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    tessera.auth().request_login_code(&data.0, &client).await?;
    Ok(detail("ok"))
}

/// `POST code/login/` `{email, code}`: what `POST auth/login/` answers.
#[utoipa::path(
    post,
    path = "/auth/code/login/",
    tag = "email",
    summary = "Logs in with a mailed code (`login_by_code`)",
    request_body(
        content = CodeLogin,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    responses(
        (status = 200, description = "`{\"refresh\", \"access\", \"user\"}`", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "The code does not work", body = crate::openapi::Detail),
        (status = 404, description = "E-mail is switched off, or the key or code does not work", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn login_with_code(
    State(tessera): State<Tessera>,
    _on: LoginByCode,
    Client(client): Client,
    data: Payload,
) -> Result<Response, ApiError> {
    let user = tessera.auth().login_with_code(&data.0, &client).await?;
    if let tessera_auth::mfa::LoginStep::Pending(pending) = tessera
        .auth()
        .login_step(&user, tessera_auth::mfa::MfaRoute::CodeLogin, &client)
        .await?
    {
        return Ok(super::mfa::mfa_required(&pending));
    }
    Ok(
        super::account::login_answer(&tessera, &user, &client, LoginMethod::Code)
            .await?
            .into_response(),
    )
}

/// This module's routes in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    request_password_reset,
    confirm_password_reset,
    verify_email,
    resend_verification,
    request_email_change,
    confirm_email_change,
    request_login_code,
    login_with_code
))]
pub(super) struct Doc;

/// An e-mail address.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct EmailRequest {
    /// The address.
    email: String,
}

/// A password reset: the link's `uid` and `token`, or the address and a code.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct PasswordResetConfirm {
    /// From the link.
    uid: Option<String>,
    /// From the link.
    token: Option<String>,
    /// With `code`.
    email: Option<String>,
    /// The mailed code.
    code: Option<String>,
    /// The new password.
    new_password1: String,
    /// The new password again.
    new_password2: String,
}

/// A link's `key`, or the address and a code.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct KeyOrCode {
    /// From the link.
    key: Option<String>,
    /// With `code`.
    email: Option<String>,
    /// The mailed code.
    code: Option<String>,
}

/// A new address, confirmed with the password.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct EmailChangeRequest {
    /// The new address.
    new_email: String,
    /// The current password.
    password: String,
}

/// A login by code.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct CodeLogin {
    /// The address.
    email: String,
    /// The mailed code.
    code: String,
}
