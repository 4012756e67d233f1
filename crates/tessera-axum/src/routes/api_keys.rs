//! API keys over HTTP: a user's own keys, staff's view of everyone's, and the
//! client-credentials grant that trades a key for a short-lived access token.
//!
//! Managing keys needs the credential of a login: a key (or a token minted from one) gets
//! 403 on every route here but the grant.

use axum::extract::{FromRef, OriginalUri, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tessera_auth::api_keys::ApiKeyRequest;
use tessera_auth::audit::{Audit, event};
use tessera_auth::datetime::{drf_datetime, parse_drf_datetime};
use tessera_auth::form::{Fields, Trim};
use tessera_store::ApiKey;

use crate::api_key::{SessionUser, raw_api_key};
use crate::client::Client;
use crate::error::ApiError;
use crate::payload::Payload;
use crate::permission::AdminUser;
use crate::requires::Requires;
use crate::routes::pagination::{Page, RequestHost};
use crate::routes::staff;
use crate::state::Tessera;

/// Relative to the API's mount point (`/api`):
///
/// * `GET auth/api-keys/` — the caller's keys, newest first (revoked and expired ones
///   included, until upkeep deletes them), paginated as the admin lists are
///   (`{"count","next","previous","results"}`, `?page=N`, `page_size` a page);
/// * `POST auth/api-keys/` `{"name", "expires_at"?, "scopes"?}` — 201 with the new key in
///   `key`, shown this once (`Cache-Control: no-store`); throttled by `api_key_create`,
///   per user;
/// * `DELETE auth/api-keys/{prefix}/` — revokes one of the caller's keys: 204, or 404;
/// * `GET admin/api-keys/?user=ID&page=N` (paginated) and `DELETE admin/api-keys/{prefix}/`
///   — staff, under the admin privilege rules: only a superuser lists or revokes a
///   superuser's keys (403 otherwise), and the list of everyone's leaves them out for
///   other staff;
/// * `POST token/client/` — the client-credentials grant: the key in `Authorization:
///   Api-Key …` or as `client_secret` (JSON or form, `grant_type=client_credentials`
///   optional) gives `{"access": "…"}` (`Cache-Control: no-store`).
///
/// All but the grant need the credential of a login (see [`SessionUser`]).
pub fn api_key_routes<S>() -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route(
            "/auth/api-keys/",
            get(list_own).post(create).requires::<SessionUser>(),
        )
        .route(
            "/auth/api-keys/{prefix}/",
            delete(revoke_own).requires::<SessionUser>(),
        )
        .route("/admin/api-keys/", get(list_any).requires::<AdminUser>())
        .route(
            "/admin/api-keys/{prefix}/",
            delete(revoke_any).requires::<AdminUser>(),
        )
        .route("/token/client/", post(client_credentials))
}

/// A key as the API shows it (never its hash); `with_owner` adds the staff's columns.
fn key_object(key: &ApiKey, with_owner: bool) -> Value {
    let mut object = json!({
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": key.scopes,
        "created_at": drf_datetime(key.created_at),
        "expires_at": key.expires_at.map(drf_datetime),
        "revoked_at": key.revoked_at.map(drf_datetime),
        "last_used_at": key.last_used_at.map(drf_datetime),
    });
    if with_owner && let Value::Object(map) = &mut object {
        map.insert("user_id".into(), key.user_id.into());
        map.insert("last_used_ip".into(), json!(key.last_used_ip));
    }
    object
}

/// `?page=N` of the own list.
#[derive(Debug, Deserialize)]
struct PageQuery {
    page: Option<String>,
}

/// The page size of the key lists: the admin lists' `page_size`.
fn page_size(tessera: &Tessera) -> i64 {
    i64::try_from(tessera.auth().accounts().page_size).unwrap_or(20)
}

#[utoipa::path(
    get,
    path = "/auth/api-keys/",
    tag = "api_keys",
    summary = "The caller's API keys",
    params(("page" = Option<u64>, Query, description = "The page (DRF page-number pagination)")),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "`{\"count\", \"next\", \"previous\", \"results\"}`", body = Object),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 404, description = "Not found, or `Invalid page.`", body = crate::openapi::Detail),
    )
)]
async fn list_own(
    State(tessera): State<Tessera>,
    auth: SessionUser,
    OriginalUri(uri): OriginalUri,
    host: RequestHost,
    Query(query): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = Page::read(query.page.as_deref(), page_size(&tessera))?;
    let (count, keys) = tessera
        .auth()
        .own_api_keys(&auth.user, page.size(), page.offset())
        .await?;
    let results = keys.iter().map(|k| key_object(k, false)).collect();
    page.body(count, &host, &uri, results)
}

/// The request body of a new key.
fn key_request(data: &Map<String, Value>) -> Result<ApiKeyRequest, ApiError> {
    let mut fields = Fields::new(data);
    let name = fields.required("name", Trim::Yes).unwrap_or_default();
    let expires_at = match data.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.trim().is_empty() => None,
        Some(Value::String(text)) => match parse_drf_datetime(text.trim()) {
            Some(at) => Some(at),
            None => {
                fields.fail(
                    "expires_at",
                    "Datetime has wrong format. Use one of these formats instead: \
                     YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].",
                );
                None
            }
        },
        Some(_) => {
            fields.fail("expires_at", "Datetime has wrong format.");
            None
        }
    };
    // A JSON list, or (from a form) one string of names separated by commas or spaces.
    let scopes = match data.get("scopes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let names: Option<Vec<String>> = items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect();
            names.unwrap_or_else(|| {
                fields.fail("scopes", "Not a valid string.");
                Vec::new()
            })
        }
        Some(Value::String(text)) => text
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(_) => {
            fields.fail("scopes", "Expected a list of items.");
            Vec::new()
        }
    };
    fields.finish()?;
    Ok(ApiKeyRequest {
        name,
        expires_at,
        scopes,
    })
}

/// The new key, with `Cache-Control: no-store`: it is shown once, and kept by no cache.
#[utoipa::path(
    post,
    path = "/auth/api-keys/",
    tag = "api_keys",
    summary = "Creates an API key, shown this once",
    request_body(
        content = ApiKeyCreate,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 201, description = "The key, with its secret in `key`", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn create(
    State(tessera): State<Tessera>,
    auth: SessionUser,
    Client(client): Client,
    data: Payload,
) -> Result<Response, ApiError> {
    let request = key_request(&data.0)?;
    let created = tessera
        .auth()
        .create_api_key(
            &auth.user,
            &request,
            Audit::new(event::API_KEY_CREATED).client(&client),
        )
        .await?;
    let mut object = key_object(&created.api_key, false);
    if let Value::Object(map) = &mut object {
        map.insert("key".into(), created.key.into());
    }
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(object),
    )
        .into_response())
}

/// Whether `prefix` can name a key at all (anything else is not looked up).
fn could_be_prefix(prefix: &str) -> bool {
    (1..=64).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[utoipa::path(
    delete,
    path = "/auth/api-keys/{prefix}/",
    tag = "api_keys",
    summary = "Revokes one of the caller's keys",
    params(("prefix" = String, Path, description = "The key's prefix")),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 404, description = "Not found.", body = crate::openapi::Detail),
    )
)]
async fn revoke_own(
    State(tessera): State<Tessera>,
    auth: SessionUser,
    Client(client): Client,
    Path(prefix): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !could_be_prefix(&prefix) {
        return Err(ApiError::NotFound);
    }
    tessera
        .auth()
        .revoke_api_key(
            &prefix,
            Some(&auth.user),
            Audit::new(event::API_KEY_REVOKED).client(&client),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `?user=ID&page=N` of the admin list.
#[derive(Debug, Deserialize)]
struct OwnerQuery {
    user: Option<String>,
    page: Option<String>,
}

#[utoipa::path(
    get,
    path = "/admin/api-keys/",
    tag = "api_keys",
    summary = "Everyone's API keys (staff)",
    params(("user" = Option<i64>, Query, description = "Only this user's keys"), ("page" = Option<u64>, Query, description = "The page (DRF page-number pagination)")),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "`{\"count\", \"next\", \"previous\", \"results\"}`", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed (staff only, or a privilege rule)", body = crate::openapi::Detail),
        (status = 404, description = "Not found, or `Invalid page.`", body = crate::openapi::Detail),
    )
)]
async fn list_any(
    State(tessera): State<Tessera>,
    admin: AdminUser,
    Client(client): Client,
    OriginalUri(uri): OriginalUri,
    host: RequestHost,
    Query(query): Query<OwnerQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = Page::read(query.page.as_deref(), page_size(&tessera))?;
    let owner = match query.user.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => {
            let id = text
                .parse::<i64>()
                .map_err(|_| ApiError::field("user", "A valid integer is required."))?;
            match tessera.auth().store().user_by_id(id).await? {
                Some(user) => Some(user),
                // No such user: no keys, as a filter on a missing user answers.
                None => return page.body(0, &host, &uri, Vec::new()),
            }
        }
    };
    let (count, keys) = tessera
        .auth()
        .staff_api_keys(
            owner.as_ref(),
            staff(&admin, &client),
            page.size(),
            page.offset(),
        )
        .await?;
    let results = keys.iter().map(|k| key_object(k, true)).collect();
    page.body(count, &host, &uri, results)
}

#[utoipa::path(
    delete,
    path = "/admin/api-keys/{prefix}/",
    tag = "api_keys",
    summary = "Revokes any key (staff)",
    params(("prefix" = String, Path, description = "The key's prefix")),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed (staff only, or a privilege rule)", body = crate::openapi::Detail),
        (status = 404, description = "Not found.", body = crate::openapi::Detail),
    )
)]
async fn revoke_any(
    State(tessera): State<Tessera>,
    admin: AdminUser,
    Client(client): Client,
    Path(prefix): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !could_be_prefix(&prefix) {
        return Err(ApiError::NotFound);
    }
    tessera
        .auth()
        .revoke_api_key_as(&prefix, staff(&admin, &client))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The key of a client-credentials request: the header's, else the body's `client_secret`.
fn client_key(
    tessera: &Tessera,
    parts: &Parts,
    data: &Map<String, Value>,
) -> Result<String, ApiError> {
    if let Some(key) = raw_api_key(tessera, parts)? {
        return Ok(key.to_owned());
    }
    let mut fields = Fields::new(data);
    let grant = fields.optional("grant_type", Trim::Yes);
    if let Some(grant) = grant.filter(|g| g != "client_credentials") {
        fields.fail("grant_type", format!("\"{grant}\" is not a valid choice."));
    }
    let secret = fields.optional("client_secret", Trim::Yes);
    fields.finish()?;
    secret
        .filter(|s| !s.is_empty())
        .ok_or(ApiError::NotAuthenticated)
}

/// `POST token/client/`: an access token for the key's user (no refresh token, no
/// session), never cached (RFC 6749 §5.1's `Cache-Control: no-store`), or 401.
#[utoipa::path(
    post,
    path = "/token/client/",
    tag = "api_keys",
    summary = "The client-credentials grant: an access token for an API key",
    request_body(
        content = ClientCredentials,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    security(("api_key" = []), ()),
    responses(
        (status = 200, description = "`{\"access\"}`, never cached", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 429, description = "Throttled", body = crate::openapi::Detail),
    )
)]
async fn client_credentials(
    State(tessera): State<Tessera>,
    Client(client): Client,
    parts: Parts,
    data: Payload,
) -> Result<Response, ApiError> {
    let key = client_key(&tessera, &parts, &data.0)?;
    let access = tessera.auth().issue_client_token(&key, &client).await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "access": access })),
    )
        .into_response())
}

/// This module's routes in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_own, create, revoke_own, list_any, revoke_any, client_credentials))]
pub(super) struct Doc;

/// A new API key.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct ApiKeyCreate {
    /// The key's name.
    name: String,
    /// When it stops working (ISO 8601); never when left out.
    expires_at: Option<String>,
    /// What it may do.
    scopes: Option<Vec<String>>,
}

/// The client-credentials grant's body: the key, unless `Authorization: Api-Key` carries it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct ClientCredentials {
    /// `client_credentials`.
    grant_type: Option<String>,
    /// The API key.
    client_secret: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_alphanumeric_text_can_be_a_prefix() {
        assert!(could_be_prefix("AbCd1234"));
        for bad in ["", "a b", "é", "a.b", &"a".repeat(65)] {
            assert!(!could_be_prefix(bad), "{bad:?}");
        }
    }

    #[test]
    fn scopes_come_as_a_list_or_as_one_string() {
        let data = |v: Value| v.as_object().cloned().unwrap();
        let list = key_request(&data(json!({"name": "a", "scopes": ["x", "y"]}))).unwrap();
        let text = key_request(&data(json!({"name": "a", "scopes": "x, y"}))).unwrap();
        assert_eq!(list.scopes, ["x", "y"]);
        assert_eq!(text.scopes, ["x", "y"]);
        assert!(key_request(&data(json!({"name": "a", "scopes": [1]}))).is_err());
        assert!(key_request(&data(json!({"scopes": []}))).is_err());
        assert!(key_request(&data(json!({"name": "a", "expires_at": "soon"}))).is_err());
    }
}
