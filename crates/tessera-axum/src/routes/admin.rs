//! The admin API for staff (`IsAdminUser`) under `admin/users/`: list with search, flag
//! filters and DRF page-number pagination, retrieve, a user's live sessions, partial
//! update (groups and permissions included), delete, ending a user's sessions, lifting a
//! lockout and sending a verification mail again; and the groups under `admin/groups/`
//! (`groups.rs`). Every change is audited with the staff member as the actor. The
//! service's privilege rules (only superusers act on superusers or on staff status; the last
//! active superuser stays) refuse with 403 `{"detail": "<why>"}`.

use axum::extract::{FromRef, OriginalUri, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_auth::accounts::AdminUpdate;
use tessera_auth::datetime::drf_datetime;
use tessera_auth::form::FieldErrors;
use tessera_auth::rules::drf_bool;
use tessera_store::{Grants, User, UserFilter};

use crate::client::Client;
use crate::error::ApiError;
use crate::payload::Payload;
use crate::permission::AdminUser;
use crate::requires::Requires;
use crate::routes::pagination::{Page, RequestHost};
use crate::routes::staff;
use crate::state::Tessera;

/// `GET admin/users/`, `GET|PATCH|DELETE admin/users/{id}/`, `GET admin/users/{id}/sessions/`,
/// `POST admin/users/{id}/revoke_sessions/`, `POST admin/users/{id}/unlock/`,
/// `POST admin/users/{id}/reset-mfa/` and
/// `POST admin/users/{id}/resend-verification/`, and the groups (`GET|POST admin/groups/`,
/// `GET|PUT|PATCH|DELETE admin/groups/{id}/`), for staff only; relative to the API's mount point (`/api`). The audit log is
/// [`audit_routes`](super::audit_routes).
pub fn admin_routes<S>() -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/admin/users/", get(list).requires::<AdminUser>())
        .route(
            "/admin/users/{id}/",
            get(retrieve)
                .patch(update)
                .delete(destroy)
                .requires::<AdminUser>(),
        )
        .route(
            "/admin/users/{id}/sessions/",
            get(sessions).requires::<AdminUser>(),
        )
        .route(
            "/admin/users/{id}/revoke_sessions/",
            post(revoke_sessions).requires::<AdminUser>(),
        )
        .route(
            "/admin/users/{id}/unlock/",
            post(unlock).requires::<AdminUser>(),
        )
        .route(
            "/admin/users/{id}/resend-verification/",
            post(resend_verification).requires::<AdminUser>(),
        )
        .route(
            "/admin/users/{id}/reset-mfa/",
            post(reset_mfa).requires::<AdminUser>(),
        )
        .merge(super::groups::group_routes())
}

/// The user object with what staff also see, `groups` (names) and `user_permissions`
/// included, its grants read.
async fn admin_object(tessera: &Tessera, user: &User) -> Result<Value, ApiError> {
    let grants = tessera.auth().grants_of(user).await?;
    let totp = tessera
        .auth()
        .users_with_totp(std::slice::from_ref(user))
        .await?;
    Ok(admin_object_with(
        tessera,
        user,
        &grants,
        totp.contains(&user.id),
    ))
}

/// The user object with what staff also see, `groups` (names) and `user_permissions`
/// from `grants`, and `mfa_enabled` (TOTP on, what `reset-mfa/` removes).
fn admin_object_with(tessera: &Tessera, user: &User, grants: &Grants, mfa_enabled: bool) -> Value {
    let mut object = tessera.user_object(user);
    if let Value::Object(map) = &mut object {
        map.insert("username".into(), json!(user.username));
        map.insert("is_staff".into(), json!(user.is_staff));
        map.insert("is_superuser".into(), json!(user.is_superuser));
        map.insert(
            "last_login".into(),
            json!(user.last_login.map(drf_datetime)),
        );
        map.insert("groups".into(), json!(grants.groups));
        map.insert("user_permissions".into(), json!(grants.permissions));
        map.insert("mfa_enabled".into(), json!(mfa_enabled));
    }
    object
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    search: Option<String>,
    page: Option<String>,
    is_active: Option<String>,
    is_staff: Option<String>,
    email_verified: Option<String>,
}

/// The flag filters of the list, each blank or absent for either; DRF's booleans
/// (`true`/`false`, `1`/`0` …), else a field error.
fn flag_filters(query: &ListQuery) -> Result<UserFilter, ApiError> {
    let mut errors = FieldErrors::default();
    let mut flag = |name: &str, value: Option<&String>| {
        let text = value.map(|v| v.trim()).filter(|v| !v.is_empty())?;
        let parsed = drf_bool(&Value::String(text.to_owned()));
        if parsed.is_none() {
            errors.add(name, "Must be a valid boolean.");
        }
        parsed
    };
    let filter = UserFilter {
        search: None,
        is_active: flag("is_active", query.is_active.as_ref()),
        is_staff: flag("is_staff", query.is_staff.as_ref()),
        email_verified: flag("email_verified", query.email_verified.as_ref()),
    };
    errors.into_result()?;
    Ok(filter)
}

/// DRF's `PageNumberPagination`: `{"count","next","previous","results"}`.
#[utoipa::path(
    get,
    path = "/admin/users/",
    tag = "admin",
    summary = "The users (staff only)",
    params(("search" = Option<String>, Query, description = "Matches the e-mail address, username and names"), ("page" = Option<u64>, Query, description = "The page (DRF page-number pagination)"), ("is_active" = Option<bool>, Query, description = "Only active (or inactive) users"), ("is_staff" = Option<bool>, Query, description = "Only staff (or non-staff)"), ("email_verified" = Option<bool>, Query, description = "Only verified (or unverified) addresses")),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "`{\"count\", \"next\", \"previous\", \"results\"}`", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed (staff only, or a privilege rule)", body = crate::openapi::Detail),
        (status = 404, description = "Not found, or `Invalid page.`", body = crate::openapi::Detail),
    )
)]
async fn list(
    State(tessera): State<Tessera>,
    _admin: AdminUser,
    OriginalUri(uri): OriginalUri,
    host: RequestHost,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let size = i64::try_from(tessera.auth().accounts().page_size).unwrap_or(20);
    let page = Page::read(query.page.as_deref(), size)?;
    let search = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    // Nothing longer than an address is worth searching for; no NUL reaches the database.
    if let Some(message) = search.and_then(|s| tessera_auth::form::check_line(s, 255)) {
        return Err(ApiError::field("search", message));
    }
    let filter = UserFilter {
        search: search.map(str::to_owned),
        ..flag_filters(&query)?
    };
    let (count, users) = tessera
        .auth()
        .filter_users(&filter, page.size(), page.offset())
        .await?;
    let grants = tessera.auth().grants_of_users(&users).await?;
    let totp = tessera.auth().users_with_totp(&users).await?;
    let none = Grants::default();
    let results = users
        .iter()
        .map(|u| {
            let grants = grants.get(&u.id).unwrap_or(&none);
            admin_object_with(&tessera, u, grants, totp.contains(&u.id))
        })
        .collect();
    page.body(count, &host, &uri, results)
}

async fn find(tessera: &Tessera, id: &str) -> Result<User, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    Ok(tessera.auth().user(id).await?)
}

#[utoipa::path(
    get,
    path = "/admin/users/{id}/",
    tag = "admin",
    summary = "One user, with groups and permissions",
    params(("id" = String, Path, description = "The user's id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The user object", body = Object),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed (staff only, or a privilege rule)", body = crate::openapi::Detail),
        (status = 404, description = "Not found.", body = crate::openapi::Detail),
    )
)]
async fn retrieve(
    State(tessera): State<Tessera>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = find(&tessera, &id).await?;
    Ok(Json(admin_object(&tessera, &user).await?))
}

/// PATCH: `is_active`, `is_staff`, `email_verified`, `first_name`, `last_name`, `groups`,
/// `user_permissions` and every custom user field, read-only ones included. Deactivating
/// ends every session.
#[utoipa::path(
    patch,
    path = "/admin/users/{id}/",
    tag = "admin",
    summary = "Changes a user; deactivating ends every session",
    params(("id" = String, Path, description = "The user's id")),
    request_body(
        content = AdminUserUpdate,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The user object", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed (staff only, or a privilege rule)", body = crate::openapi::Detail),
        (status = 404, description = "Not found.", body = crate::openapi::Detail),
    )
)]
async fn update(
    State(tessera): State<Tessera>,
    admin: AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let user = find(&tessera, &id).await?;
    let update = AdminUpdate::parse(&data.0, &tessera.auth().accounts().user_fields)?;
    let (updated, _) = tessera
        .auth()
        .update_user(&user, update, staff(&admin, &client))
        .await?;
    Ok(Json(admin_object(&tessera, &updated).await?))
}

/// DELETE: the account and its sessions; the audit event keeps its e-mail address.
#[utoipa::path(
    delete,
    path = "/admin/users/{id}/",
    tag = "admin",
    summary = "Deletes a user and their sessions",
    params(("id" = String, Path, description = "The user's id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed (staff only, or a privilege rule)", body = crate::openapi::Detail),
        (status = 404, description = "Not found.", body = crate::openapi::Detail),
    )
)]
async fn destroy(
    State(tessera): State<Tessera>,
    admin: AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = find(&tessera, &id).await?;
    tessera
        .auth()
        .delete_user(&user, staff(&admin, &client))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The user's live sessions, newest first, as the user's own list shows them (without
/// `current`).
#[utoipa::path(
    get,
    path = "/admin/users/{id}/sessions/",
    tag = "admin",
    summary = "A user's live sessions",
    params(("id" = String, Path, description = "The user's id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The sessions, newest first", body = Object),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed (staff only, or a privilege rule)", body = crate::openapi::Detail),
        (status = 404, description = "Not found.", body = crate::openapi::Detail),
    )
)]
async fn sessions(
    State(tessera): State<Tessera>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = find(&tessera, &id).await?;
    let sessions = tessera.auth().live_sessions(&user).await?;
    let list = sessions
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "created_at": drf_datetime(s.created_at),
                "last_used_at": drf_datetime(s.last_used_at),
                "expires_at": drf_datetime(s.expires_at),
                "user_agent": s.user_agent,
                "ip": s.ip,
            })
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

#[utoipa::path(
    post,
    path = "/admin/users/{id}/revoke_sessions/",
    tag = "admin",
    summary = "Ends every session of a user",
    params(("id" = String, Path, description = "The user's id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "How many sessions ended", body = Object),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed (staff only, or a privilege rule)", body = crate::openapi::Detail),
        (status = 404, description = "Not found.", body = crate::openapi::Detail),
    )
)]
async fn revoke_sessions(
    State(tessera): State<Tessera>,
    admin: AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = find(&tessera, &id).await?;
    let ended = tessera
        .auth()
        .revoke_sessions(&user, staff(&admin, &client))
        .await?;
    Ok(Json(
        json!({"message": "Sessions ended", "sessions_ended": ended}),
    ))
}

/// Lifts a login lockout at once.
#[utoipa::path(
    post,
    path = "/admin/users/{id}/unlock/",
    tag = "admin",
    summary = "Lifts a login lockout",
    params(("id" = String, Path, description = "The user's id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Unlocked", body = Object),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed (staff only, or a privilege rule)", body = crate::openapi::Detail),
        (status = 404, description = "Not found.", body = crate::openapi::Detail),
    )
)]
async fn unlock(
    State(tessera): State<Tessera>,
    admin: AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = find(&tessera, &id).await?;
    tessera.auth().unlock(&user, staff(&admin, &client)).await?;
    Ok(Json(json!({"message": "Login unlocked"})))
}

/// Removes the user's second factors (TOTP, recovery codes, passkeys, pending second
/// steps): for a lost phone. `{"message": "MFA reset", "totp": <whether TOTP was on>,
/// "passkeys": <how many passkeys went>, "no_way_in": <whether they were the last way in>}`.
/// Passkeys that are the account's last way in go only with `{"force": true}`.
#[utoipa::path(
    post,
    path = "/admin/users/{id}/reset-mfa/",
    tag = "admin",
    summary = "Removes the user's second factors",
    params(("id" = String, Path, description = "The user's id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Reset", body = Object),
        (status = 400, description = "The passkeys are the last way in and `force` is not set (`non_field_errors`), or `force` is not a boolean", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed (staff only, or a privilege rule)", body = crate::openapi::Detail),
        (status = 404, description = "Not found.", body = crate::openapi::Detail),
    )
)]
async fn reset_mfa(
    State(tessera): State<Tessera>,
    admin: AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let force = match data.0.get("force") {
        None | Some(Value::Null) => false,
        Some(value) => drf_bool(value)
            .ok_or_else(|| tessera_auth::AuthError::field("force", "Must be a valid boolean."))?,
    };
    let user = find(&tessera, &id).await?;
    let reset = tessera
        .auth()
        .reset_mfa(&user, staff(&admin, &client), force)
        .await?;
    Ok(Json(json!({
        "message": "MFA reset",
        "totp": reset.totp,
        "passkeys": reset.passkeys,
        "no_way_in": reset.no_way_in,
    })))
}

/// Queues a verification mail to the user's address: `{"detail": "ok"}`.
#[utoipa::path(
    post,
    path = "/admin/users/{id}/resend-verification/",
    tag = "admin",
    summary = "Mails the verification again",
    params(("id" = String, Path, description = "The user's id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "`{\"detail\": \"ok\"}`", body = crate::openapi::Detail),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed (staff only, or a privilege rule)", body = crate::openapi::Detail),
        (status = 404, description = "Not found.", body = crate::openapi::Detail),
    )
)]
async fn resend_verification(
    State(tessera): State<Tessera>,
    admin: AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = find(&tessera, &id).await?;
    tessera
        .auth()
        .staff_resend_verification(&user, staff(&admin, &client))
        .await?;
    Ok(Json(json!({"detail": "ok"})))
}

/// This module's routes in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list,
    retrieve,
    update,
    destroy,
    sessions,
    revoke_sessions,
    unlock,
    reset_mfa,
    resend_verification
))]
pub(super) struct Doc;

/// What staff may change on a user (and any custom user field).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct AdminUserUpdate {
    /// Whether the account may log in.
    is_active: Option<bool>,
    /// Whether the user is staff.
    is_staff: Option<bool>,
    /// Whether the address is verified.
    email_verified: Option<bool>,
    /// The first name.
    first_name: Option<String>,
    /// The last name.
    last_name: Option<String>,
    /// The groups' names.
    groups: Option<Vec<String>>,
    /// The permissions (`app_label.codename`).
    user_permissions: Option<Vec<String>>,
}
