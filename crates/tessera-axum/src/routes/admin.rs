//! The admin API for staff (`IsAdminUser`) under `admin/users/`: list with search and DRF
//! page-number pagination, retrieve, partial update (groups and permissions included),
//! delete, ending a user's sessions, lifting a lockout and sending a verification mail
//! again; and the groups under `admin/groups/` (`groups.rs`). Every change is audited with the staff member as the actor. The
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
use tessera_store::{Grants, User};

use crate::client::Client;
use crate::error::ApiError;
use crate::payload::Payload;
use crate::permission::AdminUser;
use crate::requires::Requires;
use crate::routes::pagination::{Page, RequestHost};
use crate::routes::staff;
use crate::state::Tessera;

/// `GET admin/users/`, `GET|PATCH|DELETE admin/users/{id}/`,
/// `POST admin/users/{id}/revoke_sessions/`, `POST admin/users/{id}/unlock/` and
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
        .merge(super::groups::group_routes())
}

/// The user object with what staff also see, `groups` (names) and `user_permissions`
/// included, its grants read.
async fn admin_object(tessera: &Tessera, user: &User) -> Result<Value, ApiError> {
    let grants = tessera.auth().grants_of(user).await?;
    Ok(admin_object_with(tessera, user, &grants))
}

/// The user object with what staff also see, `groups` (names) and `user_permissions`
/// from `grants`.
fn admin_object_with(tessera: &Tessera, user: &User, grants: &Grants) -> Value {
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
    }
    object
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    search: Option<String>,
    page: Option<String>,
}

/// DRF's `PageNumberPagination`: `{"count","next","previous","results"}`.
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
    let (count, users) = tessera
        .auth()
        .search_users(search, page.size(), page.offset())
        .await?;
    let grants = tessera.auth().grants_of_users(&users).await?;
    let none = Grants::default();
    let results = users
        .iter()
        .map(|u| admin_object_with(&tessera, u, grants.get(&u.id).unwrap_or(&none)))
        .collect();
    page.body(count, &host, &uri, results)
}

async fn find(tessera: &Tessera, id: &str) -> Result<User, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    Ok(tessera.auth().user(id).await?)
}

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

/// Queues a verification mail to the user's address: `{"detail": "ok"}`.
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
