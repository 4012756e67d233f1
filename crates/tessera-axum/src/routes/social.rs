//! Social login (docs/API.md §Social login), under `auth/social/`: the providers, the start
//! and the provider's callback (a browser's redirects), the one-time code a single-page
//! application exchanges for tokens, the pending link, and the identities of the signed-in
//! user.
//!
//! The start sets a browser-binding cookie per login (`tessera_social_` and the state's
//! [`state_tag`]: HttpOnly, SameSite=Lax, ten minutes, under the social routes' path; at
//! most [`MAX_PARALLEL_LOGINS`] at once); the callback refuses a request without it, so a
//! callback URL replayed in another browser fails, while logins started in two tabs both
//! finish. A callback that ends in a pending link moves the binding value to
//! [`LINK_COOKIE`], which `POST social/link/` requires: a link URL or `link_token` sent to
//! someone else links nothing in their browser.

use std::collections::HashMap;

use axum::extract::{FromRef, OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use cookie::{Cookie, SameSite};
use serde_json::{Value, json};
use tessera_auth::AuthError;
use tessera_auth::datetime::drf_datetime;
use tessera_auth::mfa::{LoginStep, MfaPurpose, MfaRoute};
use tessera_auth::social::{
    CallbackParams, SocialExchange, SocialFinish, SocialMode, SocialResult, SocialSignIn, state_tag,
};
use tessera_auth::tokens::{LoginMethod, TokenPair};
use tessera_store::SocialIdentity;

use crate::api_key::SessionUser;
use crate::client::Client;
use crate::cookies::read_cookie;
use crate::error::ApiError;
use crate::payload::Payload;
use crate::state::Tessera;

/// The browser-binding cookies' name prefix: a login's is `tessera_social_` and its
/// state's [`state_tag`].
pub const BINDING_COOKIE: &str = "tessera_social";
/// The cookie of a pending link: the binding value of the login that found it.
pub const LINK_COOKIE: &str = "tessera_social_link";
/// The most logins one browser may have under way: a start beyond it drops the others'
/// cookies.
pub const MAX_PARALLEL_LOGINS: usize = 5;
/// Where the account page lives (cookie mode lands there).
const ACCOUNT_PAGE: &str = "/account/";
/// The longest query parameter read from a callback.
const MAX_PARAM_CHARS: usize = 2048;

/// `auth/social/providers/`, `…/{provider}/start/`, `…/{provider}/callback/`,
/// `…/{provider}/connect/`, `…/exchange/`, `…/link/`, `…/identities/` and
/// `…/identities/{id}/`, relative to the API's mount point (`/api`).
pub fn social_routes<S>() -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/auth/social/providers/", get(providers))
        .route("/auth/social/{provider}/start/", get(start))
        .route("/auth/social/{provider}/callback/", get(callback))
        .route("/auth/social/{provider}/connect/", post(connect))
        .route("/auth/social/exchange/", post(exchange))
        .route("/auth/social/link/", post(link))
        .route("/auth/social/identities/", get(identities))
        .route("/auth/social/identities/{id}/", delete(unlink))
}

/// The path of the social routes (`/api/auth/social/`) from a request to one of them.
fn social_base(uri: &OriginalUri) -> String {
    let path = uri.0.path();
    match path.find("/auth/social/") {
        Some(at) => path[..at + "/auth/social/".len()].to_owned(),
        None => "/api/auth/social/".to_owned(),
    }
}

fn callback_path(uri: &OriginalUri, provider: &str) -> String {
    format!("{}{provider}/callback/", social_base(uri))
}

/// The browser-binding cookie's name of the login whose state's tag is `tag`.
fn binding_name(tag: &str) -> String {
    format!("{BINDING_COOKIE}_{tag}")
}

/// The names of the browser-binding cookies the request carries.
fn binding_names(headers: &HeaderMap) -> Vec<String> {
    let prefix = format!("{BINDING_COOKIE}_");
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('=').map(|(name, _)| name))
        .filter(|name| {
            name.strip_prefix(&prefix)
                .is_some_and(|tag| tag.len() == 16 && tag.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .map(str::to_owned)
        .collect()
}

/// The cookies a start sets: its own, and — when the browser already has
/// [`MAX_PARALLEL_LOGINS`] logins under way — the others' deleted.
fn start_cookies(
    tessera: &Tessera,
    uri: &OriginalUri,
    headers: &HeaderMap,
    started: &tessera_auth::social::SocialStart,
) -> Vec<HeaderValue> {
    let mut cookies = Vec::new();
    let others = binding_names(headers);
    if others.len() >= MAX_PARALLEL_LOGINS {
        cookies.extend(others.iter().map(|name| cleared_cookie(tessera, uri, name)));
    }
    cookies.push(binding_cookie(
        tessera,
        uri,
        &binding_name(&started.tag),
        &started.binding,
    ));
    cookies
}

/// `Set-Cookie` for a browser-binding cookie.
fn binding_cookie(tessera: &Tessera, uri: &OriginalUri, name: &str, value: &str) -> HeaderValue {
    let cookie = Cookie::build((name.to_owned(), value.to_owned()))
        .path(social_base(uri))
        .http_only(true)
        .secure(tessera.browser().secure())
        .same_site(SameSite::Lax)
        .max_age(cookie::time::Duration::minutes(10))
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// Deletes a browser-binding cookie.
fn cleared_cookie(tessera: &Tessera, uri: &OriginalUri, name: &str) -> HeaderValue {
    let cookie = Cookie::build((name.to_owned(), String::new()))
        .path(social_base(uri))
        .http_only(true)
        .secure(tessera.browser().secure())
        .same_site(SameSite::Lax)
        .max_age(cookie::time::Duration::ZERO)
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// A 302 to `location` with `cookies`.
fn redirect(location: &str, cookies: Vec<HeaderValue>) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// `base` with `name=value` added to its query (before any fragment).
fn with_param(base: &str, name: &str, value: &str) -> String {
    let (base, fragment) = match base.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (base, None),
    };
    let pair = serde_urlencoded::to_string([(name, value)]).unwrap_or_default();
    let separator = if base.contains('?') { '&' } else { '?' };
    match fragment {
        Some(fragment) => format!("{base}{separator}{pair}#{fragment}"),
        None => format!("{base}{separator}{pair}"),
    }
}

/// An identity as listed.
fn identity_object(identity: &SocialIdentity) -> Value {
    json!({
        "id": identity.id,
        "provider": identity.provider,
        "email": identity.email,
        "created_at": drf_datetime(identity.created_at),
        "last_login": identity.last_login.map(drf_datetime),
    })
}

#[utoipa::path(
    get,
    path = "/auth/social/providers/",
    tag = "social",
    summary = "Lists the social login providers (the account page's buttons)",
    responses(
        (status = 200, description = "`[{\"name\", \"display_name\", \"start_url\"}]`", body = Object),
    )
)]
async fn providers(State(tessera): State<Tessera>, uri: OriginalUri) -> Json<Value> {
    let base = social_base(&uri);
    Json(Value::Array(
        tessera
            .auth()
            .social_providers()
            .into_iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "display_name": p.display_name,
                    "start_url": format!("{base}{}/start/", p.name),
                })
            })
            .collect(),
    ))
}

#[utoipa::path(
    get,
    path = "/auth/social/{provider}/start/",
    tag = "social",
    summary = "Starts a social login: a redirect to the provider",
    params(
        ("provider" = String, Path, description = "The provider's name"),
        ("mode" = Option<String>, Query, description = "`token` (default: a one-time code to `social_frontend_url`) or `cookie` (the account page's session cookies)"),
    ),
    responses(
        (status = 302, description = "To the provider's authorization URL; sets the browser-binding cookie"),
        (status = 400, description = "An unknown mode", body = crate::openapi::FieldErrors),
        (status = 404, description = "No such provider (or `token` mode without `social_frontend_url`)", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
        (status = 503, description = "The provider cannot be reached", body = crate::openapi::Detail),
    )
)]
async fn start(
    State(tessera): State<Tessera>,
    Client(client): Client,
    uri: OriginalUri,
    headers: HeaderMap,
    Path(provider): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let mode = match query.get("mode").map(String::as_str) {
        None | Some("token") => SocialMode::Token,
        Some("cookie") => SocialMode::Cookie,
        Some(_) => {
            return Err(AuthError::field("mode", "Must be \"token\" or \"cookie\".").into());
        }
    };
    let started = tessera
        .auth()
        .start_social(
            &provider,
            mode,
            None,
            &callback_path(&uri, &provider),
            &client,
        )
        .await?;
    Ok(redirect(
        &started.authorize_url,
        start_cookies(&tessera, &uri, &headers, &started),
    ))
}

#[utoipa::path(
    post,
    path = "/auth/social/{provider}/connect/",
    tag = "social",
    summary = "Links another provider to the signed-in account: the URL to send the browser to",
    params(("provider" = String, Path, description = "The provider's name")),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "`{\"authorize_url\"}`; sets the browser-binding cookie", body = Object),
        (status = 401, description = "Not authenticated", body = crate::openapi::Detail),
        (status = 404, description = "No such provider", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn connect(
    State(tessera): State<Tessera>,
    auth: SessionUser,
    Client(client): Client,
    uri: OriginalUri,
    headers: HeaderMap,
    Path(provider): Path<String>,
) -> Result<Response, ApiError> {
    let started = tessera
        .auth()
        .start_social(
            &provider,
            SocialMode::Connect,
            Some(&auth.user),
            &callback_path(&uri, &provider),
            &client,
        )
        .await?;
    let mut response = Json(json!({"authorize_url": started.authorize_url})).into_response();
    for cookie in start_cookies(&tessera, &uri, &headers, &started) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

#[utoipa::path(
    get,
    path = "/auth/social/{provider}/callback/",
    tag = "social",
    summary = "The provider's redirect back: signs in, or sends the browser on with a code",
    params(
        ("provider" = String, Path, description = "The provider's name"),
        ("code" = Option<String>, Query, description = "The authorization code"),
        ("state" = Option<String>, Query, description = "The state of the start"),
        ("error" = Option<String>, Query, description = "The provider's refusal"),
    ),
    responses(
        (status = 302, description = "`token` mode: to `social_frontend_url` with `code`, or `error`. `cookie` mode: to `/account/` with the session cookies, or with `link` (and `link_provider`, `link_email`; sets the `tessera_social_link` cookie), `mfa_token` (and `mfa_purpose=setup` for a staff TOTP setup) or `social_error`. Connect: to `/account/` with `linked` or `social_error`"),
        (status = 400, description = "`{\"state\": [\"Invalid or expired state.\"]}`: an unknown, used or expired state, or another browser's", body = crate::openapi::FieldErrors),
        (status = 404, description = "No such provider", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn callback(
    State(tessera): State<Tessera>,
    Client(client): Client,
    uri: OriginalUri,
    headers: HeaderMap,
    Path(provider): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let param = |name: &str| {
        query
            .get(name)
            .filter(|v| v.len() <= MAX_PARAM_CHARS)
            .cloned()
    };
    let params = CallbackParams {
        code: param("code"),
        state: param("state"),
        error: query.get("error").map(|_| "error".to_owned()),
    };
    let name = binding_name(&state_tag(params.state.as_deref().unwrap_or_default()));
    let binding = read_cookie(&headers, &name);
    let SocialFinish {
        mode,
        binding,
        result,
    } = tessera
        .auth()
        .finish_social(
            &provider,
            &params,
            binding,
            &callback_path(&uri, &provider),
            &client,
        )
        .await?;
    let cleared = cleared_cookie(&tessera, &uri, &name);
    let frontend = tessera.auth().social_settings().social_frontend_url.clone();
    let landing = match (mode, &frontend) {
        (SocialMode::Token, Some(frontend)) => frontend.clone(),
        _ => ACCOUNT_PAGE.to_owned(),
    };
    let error_param = if mode == SocialMode::Token {
        "error"
    } else {
        "social_error"
    };
    let result = match result {
        Ok(result) => result,
        Err(failure) => {
            return Ok(redirect(
                &with_param(&landing, error_param, failure.as_str()),
                vec![cleared],
            ));
        }
    };
    // A pending link is for this browser only: the binding value moves to the link cookie.
    let link_cookie = || binding_cookie(&tessera, &uri, LINK_COOKIE, &binding);
    Ok(match result {
        SocialResult::Code(code) => redirect(&with_param(&landing, "code", &code), vec![cleared]),
        SocialResult::LinkCode(code) => redirect(
            &with_param(&landing, "code", &code),
            vec![cleared, link_cookie()],
        ),
        SocialResult::LinkRequired {
            ticket,
            provider,
            email,
        } => {
            let location = with_param(
                &with_param(
                    &with_param(&landing, "link", &ticket),
                    "link_provider",
                    &provider,
                ),
                "link_email",
                &email,
            );
            redirect(&location, vec![cleared, link_cookie()])
        }
        SocialResult::Connected => {
            redirect(&with_param(&landing, "linked", &provider), vec![cleared])
        }
        SocialResult::SignIn(sign_in) => {
            cookie_sign_in(&tessera, &client, &sign_in, cleared).await?
        }
    })
}

/// Cookie mode's sign-in: the second step first, if the user has one (to the account page
/// with `mfa_token`, and `mfa_purpose=setup` when a staff member must set TOTP up first),
/// else the cookie login's session cookies and the account page.
async fn cookie_sign_in(
    tessera: &Tessera,
    client: &tessera_auth::ClientInfo,
    sign_in: &SocialSignIn,
    cleared: HeaderValue,
) -> Result<Response, ApiError> {
    let user = &sign_in.user;
    let route = MfaRoute::SocialCookie {
        identity: sign_in.identity,
    };
    if let LoginStep::Pending(pending) = tessera.auth().login_step(user, route, client).await? {
        let mut location = with_param(ACCOUNT_PAGE, "mfa_token", &pending.mfa_token);
        if pending.purpose == MfaPurpose::Setup {
            location = with_param(&location, "mfa_purpose", "setup");
        }
        return Ok(redirect(&location, vec![cleared]));
    }
    let TokenPair { refresh, access } = tessera
        .auth()
        .issue_account_pair_by(user, client, LoginMethod::Social)
        .await?;
    let mut cookies = super::cookie::session_cookies(tessera, &access, Some(&refresh), true);
    cookies.push(cleared);
    Ok(redirect(ACCOUNT_PAGE, cookies))
}

#[utoipa::path(
    post,
    path = "/auth/social/exchange/",
    tag = "social",
    summary = "Exchanges the one-time code of a social login for the token pair",
    request_body(content = Object, content_type = "application/json", description = "`{\"code\"}`"),
    responses(
        (status = 200, description = "What `POST token/` answers", body = Object),
        (status = 400, description = "`{\"code\": [\"Invalid or expired code.\"]}`", body = crate::openapi::FieldErrors),
        (status = 401, description = "`mfa_required` with an `mfa_token` (continue at `auth/mfa/verify/`), or the account was deactivated", body = crate::openapi::Detail),
        (status = 409, description = "`{\"detail\", \"code\": \"link_required\", \"link_token\", \"provider\", \"email\"}`: an account has this address (the link needs the browser that signed in at the provider)", body = Object),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn exchange(
    State(tessera): State<Tessera>,
    Client(client): Client,
    data: Payload,
) -> Result<Response, ApiError> {
    match tessera
        .auth()
        .exchange_social_code(&data.0, &client)
        .await?
    {
        SocialExchange::LinkRequired {
            link_token,
            provider,
            email,
        } => Ok((
            StatusCode::CONFLICT,
            Json(SocialExchange::link_required_json(
                &link_token,
                &provider,
                &email,
            )),
        )
            .into_response()),
        SocialExchange::Login(sign_in) => {
            let route = MfaRoute::SocialPair {
                identity: sign_in.identity,
            };
            let user = &sign_in.user;
            if let LoginStep::Pending(pending) =
                tessera.auth().login_step(user, route, &client).await?
            {
                return Ok(super::mfa::mfa_required(&pending));
            }
            let answer = tessera
                .auth()
                .obtain_pair_by(user, &client, LoginMethod::Social)
                .await?;
            Ok(Json(Value::Object(answer)).into_response())
        }
    }
}

#[utoipa::path(
    post,
    path = "/auth/social/link/",
    tag = "social",
    summary = "Links a pending identity (the `link_token` of a social login) to the signed-in account",
    request_body(content = Object, content_type = "application/json", description = "`{\"link_token\"}`"),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 201, description = "The identity linked", body = Object),
        (status = 400, description = "`{\"link_token\": [\"Invalid or expired link token.\"]}`: unknown, used, expired, another user's, or sent without the `tessera_social_link` cookie of the browser that signed in at the provider", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn link(
    State(tessera): State<Tessera>,
    auth: SessionUser,
    Client(client): Client,
    uri: OriginalUri,
    headers: HeaderMap,
    data: Payload,
) -> Result<Response, ApiError> {
    let identity = tessera
        .auth()
        .link_social(
            &auth.user,
            &data.0,
            read_cookie(&headers, LINK_COOKIE),
            &client,
        )
        .await?;
    let mut response = (StatusCode::CREATED, Json(identity_object(&identity))).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        cleared_cookie(&tessera, &uri, LINK_COOKIE),
    );
    Ok(response)
}

#[utoipa::path(
    get,
    path = "/auth/social/identities/",
    tag = "social",
    summary = "Lists the providers linked to the signed-in account",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "`[{\"id\", \"provider\", \"email\", \"created_at\", \"last_login\"}]`", body = Object),
        (status = 401, description = "Not authenticated", body = crate::openapi::Detail),
    )
)]
async fn identities(
    State(tessera): State<Tessera>,
    auth: SessionUser,
) -> Result<Json<Value>, ApiError> {
    let identities = tessera.auth().social_identities(&auth.user).await?;
    Ok(Json(Value::Array(
        identities.iter().map(identity_object).collect(),
    )))
}

#[utoipa::path(
    delete,
    path = "/auth/social/identities/{id}/",
    tag = "social",
    summary = "Unlinks a provider from the signed-in account (never the last way in)",
    params(("id" = i64, Path, description = "The identity's id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 400, description = "The last way into the account (`non_field_errors`)", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated", body = crate::openapi::Detail),
        (status = 404, description = "Not one of the user's identities", body = crate::openapi::Detail),
    )
)]
async fn unlink(
    State(tessera): State<Tessera>,
    auth: SessionUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    tessera
        .auth()
        .unlink_social(&auth.user, id, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// This module's routes in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    providers, start, connect, callback, exchange, link, identities, unlink
))]
pub(super) struct Doc;
