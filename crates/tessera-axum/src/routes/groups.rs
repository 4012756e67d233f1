//! The admin API's groups under `admin/groups/`: Django's `Group` as
//! `{"id","name","permissions"}`, listed with DRF page-number pagination and retrieved by
//! staff (`IsAdminUser`); created, replaced, partly updated and deleted by superusers only
//! — other staff get 403 `{"detail": "Only a superuser may create, change or delete
//! groups."}`, audited as `admin.permission_denied`. Every change is audited with the
//! staff member as the actor. A user's groups and own permissions are fields of the admin
//! user object (`admin/users/{id}/`), which only superusers change too.

use axum::extract::{FromRef, OriginalUri, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_auth::accounts::GroupInput;
use tessera_store::Group;

use crate::client::Client;
use crate::error::ApiError;
use crate::payload::Payload;
use crate::permission::AdminUser;
use crate::requires::Requires;
use crate::routes::pagination::{Page, RequestHost};
use crate::routes::staff;
use crate::state::Tessera;

/// `GET|POST admin/groups/` and `GET|PUT|PATCH|DELETE admin/groups/{id}/`, for staff only
/// (writes for superusers only); merged into [`admin_routes`](super::admin_routes).
pub(super) fn group_routes<S>() -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route(
            "/admin/groups/",
            get(list).post(create).requires::<AdminUser>(),
        )
        .route(
            "/admin/groups/{id}/",
            get(retrieve)
                .put(replace)
                .patch(update)
                .delete(destroy)
                .requires::<AdminUser>(),
        )
}

/// `{"id","name","permissions"}`.
fn group_object(group: &Group) -> Value {
    json!({"id": group.id, "name": group.name, "permissions": group.permissions})
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    page: Option<String>,
}

/// DRF's `PageNumberPagination`: `{"count","next","previous","results"}`, oldest first.
#[utoipa::path(
    get,
    path = "/admin/groups/",
    tag = "groups",
    summary = "The groups, oldest first",
    params(("page" = Option<u64>, Query, description = "The page (DRF page-number pagination)")),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "`{\"count\", \"next\", \"previous\", \"results\"}`", body = Object),
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
    let (count, groups) = tessera
        .auth()
        .groups_page(page.size(), page.offset())
        .await?;
    let results = groups.iter().map(group_object).collect();
    page.body(count, &host, &uri, results)
}

/// POST: `name` (required) and `permissions` (a list, empty when left out): 201 with the
/// group.
#[utoipa::path(
    post,
    path = "/admin/groups/",
    tag = "groups",
    summary = "Creates a group (superusers)",
    request_body(
        content = GroupRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "The group", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed (staff only, or a privilege rule)", body = crate::openapi::Detail),
    )
)]
async fn create(
    State(tessera): State<Tessera>,
    admin: AdminUser,
    Client(client): Client,
    data: Payload,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input = GroupInput::parse(&data.0, false)?;
    let group = tessera
        .auth()
        .create_group(input, staff(&admin, &client))
        .await?;
    Ok((StatusCode::CREATED, Json(group_object(&group))))
}

async fn find(tessera: &Tessera, id: &str) -> Result<Group, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    Ok(tessera.auth().group(id).await?)
}

#[utoipa::path(
    get,
    path = "/admin/groups/{id}/",
    tag = "groups",
    summary = "One group",
    params(("id" = String, Path, description = "The group's id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "`{\"id\", \"name\", \"permissions\"}`", body = Object),
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
    Ok(Json(group_object(&find(&tessera, &id).await?)))
}

/// PUT: as POST, the whole group; `permissions`, which is not required, is left as it is
/// when left out (DRF leaves an omitted field that is not required out of
/// `validated_data`).
#[utoipa::path(
    put,
    path = "/admin/groups/{id}/",
    tag = "groups",
    summary = "Replaces a group (superusers)",
    params(("id" = String, Path, description = "The group's id")),
    request_body(
        content = GroupRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "`{\"id\", \"name\", \"permissions\"}`", body = Object),
        (status = 400, description = "Field errors", body = crate::openapi::FieldErrors),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 403, description = "Not allowed (staff only, or a privilege rule)", body = crate::openapi::Detail),
        (status = 404, description = "Not found.", body = crate::openapi::Detail),
    )
)]
async fn replace(
    State(tessera): State<Tessera>,
    admin: AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    change(&tessera, &admin, &client, &id, &data, false).await
}

/// PATCH: `name` and/or `permissions`, what is given.
#[utoipa::path(
    patch,
    path = "/admin/groups/{id}/",
    tag = "groups",
    summary = "Changes a group (superusers)",
    params(("id" = String, Path, description = "The group's id")),
    request_body(
        content = GroupRequest,
        content_type = "application/json",
        description = "JSON, or the same fields form-encoded or as multipart"
    ),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "`{\"id\", \"name\", \"permissions\"}`", body = Object),
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
    change(&tessera, &admin, &client, &id, &data, true).await
}

async fn change(
    tessera: &Tessera,
    admin: &AdminUser,
    client: &tessera_auth::ClientInfo,
    id: &str,
    data: &Payload,
    partial: bool,
) -> Result<Json<Value>, ApiError> {
    let group = find(tessera, id).await?;
    let input = GroupInput::parse(&data.0, partial)?;
    let updated = tessera
        .auth()
        .update_group(&group, input, staff(admin, client))
        .await?;
    Ok(Json(group_object(&updated)))
}

/// DELETE: the group; its members leave it. 204.
#[utoipa::path(
    delete,
    path = "/admin/groups/{id}/",
    tag = "groups",
    summary = "Deletes a group; its members leave it (superusers)",
    params(("id" = String, Path, description = "The group's id")),
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
    let group = find(&tessera, &id).await?;
    tessera
        .auth()
        .delete_group(&group, staff(&admin, &client))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// This module's routes in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, create, retrieve, replace, update, destroy))]
pub(super) struct Doc;

/// A group: its name and permissions (`app_label.codename`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct GroupRequest {
    /// The name (required but on PATCH).
    name: Option<String>,
    /// The permissions.
    permissions: Option<Vec<String>>,
}
