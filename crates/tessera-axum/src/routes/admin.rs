//! The admin API for staff (`IsAdminUser`) under `/api/admin/users/`: list with search and
//! DRF page-number pagination, retrieve, partial update, delete, and ending a user's sessions;
//! and the audit log at `/api/admin/audit/`. Every change is audited with the staff member
//! as the actor.

use axum::extract::{FromRef, OriginalUri, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_auth::accounts::AdminUpdate;
use tessera_auth::datetime::drf_datetime;
use tessera_auth::{Actor, ClientInfo};
use tessera_store::User;

use crate::client::Client;
use crate::error::ApiError;
use crate::payload::Payload;
use crate::permission::AdminUser;
use crate::state::Tessera;

/// `GET admin/users/`, `GET|PATCH|DELETE admin/users/{id}/`,
/// `POST admin/users/{id}/revoke_sessions/`, `POST admin/users/{id}/unlock/` and
/// `GET admin/audit/`, for staff only; relative to the API's mount point (`/api`).
pub fn admin_routes<S>() -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/admin/users/", get(list))
        .route(
            "/admin/users/{id}/",
            get(retrieve).patch(update).delete(destroy),
        )
        .route("/admin/users/{id}/revoke_sessions/", post(revoke_sessions))
        .route("/admin/users/{id}/unlock/", post(unlock))
        .route("/admin/audit/", get(super::audit::list))
}

/// The user object with what staff also see.
fn admin_object(tessera: &Tessera, user: &User) -> Value {
    let mut object = tessera.user_object(user);
    if let Value::Object(map) = &mut object {
        map.insert("username".into(), json!(user.username));
        map.insert("is_staff".into(), json!(user.is_staff));
        map.insert("is_superuser".into(), json!(user.is_superuser));
        map.insert(
            "last_login".into(),
            json!(user.last_login.map(drf_datetime)),
        );
    }
    object
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    search: Option<String>,
    page: Option<String>,
}

/// DRF's `PageNumberPagination` for one request: which page, of how many results.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page {
    number: i64,
    size: i64,
    offset: i64,
}

fn invalid_page() -> ApiError {
    ApiError::NotFoundDetail("Invalid page.".into())
}

impl Page {
    /// The `page` parameter as DRF reads it: absent or blank is page 1; anything but a
    /// positive integer is 404 `Invalid page.`. `size` is at least 1.
    pub(crate) fn read(page: Option<&str>, size: i64) -> Result<Self, ApiError> {
        let number: i64 = match page.map(str::trim) {
            None | Some("") => 1,
            Some(text) => text
                .parse()
                .ok()
                .filter(|p| *p >= 1)
                .ok_or_else(invalid_page)?,
        };
        let size = size.max(1);
        let offset = (number - 1).checked_mul(size).ok_or_else(invalid_page)?;
        Ok(Self {
            number,
            size,
            offset,
        })
    }

    /// How many results a page holds (the query's `LIMIT`).
    pub(crate) fn size(&self) -> i64 {
        self.size
    }

    /// How many results come before this page (the query's `OFFSET`).
    pub(crate) fn offset(&self) -> i64 {
        self.offset
    }

    /// `{"count","next","previous","results"}` with absolute links to the neighbouring
    /// pages; 404 `Invalid page.` past the last page (page 1 always exists).
    pub(crate) fn body(
        &self,
        count: i64,
        host: &RequestHost,
        uri: &Uri,
        results: Vec<Value>,
    ) -> Result<Json<Value>, ApiError> {
        let (page, size) = (self.number, self.size);
        let pages = ((count + size - 1) / size).max(1);
        if page > pages {
            return Err(invalid_page());
        }
        let link = |target: i64| page_link(&host.0, uri, target);
        Ok(Json(json!({
            "count": count,
            "next": (page < pages).then(|| link(page + 1)),
            "previous": (page > 1).then(|| link(page - 1)),
            "results": results,
        })))
    }
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
    let (count, users) = tessera
        .auth()
        .store()
        .search_users(search, page.size(), page.offset())
        .await?;
    let results = users.iter().map(|u| admin_object(&tessera, u)).collect();
    page.body(count, &host, &uri, results)
}

/// The absolute URL of another page, other query parameters kept (page 1 has no `page`).
fn page_link(host: &str, uri: &Uri, page: i64) -> String {
    let mut pairs: Vec<(String, String)> = uri
        .query()
        .map(|q| serde_urlencoded::from_str(q).unwrap_or_default())
        .unwrap_or_default();
    pairs.retain(|(k, _)| k != "page");
    if page > 1 {
        pairs.push(("page".into(), page.to_string()));
    }
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    let path = uri.path();
    if query.is_empty() {
        format!("http://{host}{path}")
    } else {
        format!("http://{host}{path}?{query}")
    }
}

/// The request's `Host`, for DRF's absolute pagination links.
pub(crate) struct RequestHost(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestHost {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
            })
            .unwrap_or("localhost");
        Ok(Self(host.to_owned()))
    }
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
    Ok(Json(admin_object(&tessera, &user)))
}

/// The staff member acting, from their client.
fn staff<'a>(admin: &'a AdminUser, client: &'a ClientInfo) -> Actor<'a> {
    Actor::Staff {
        user: &admin.user,
        client,
    }
}

/// PATCH: `is_active`, `is_staff`, `first_name`, `last_name`. Deactivating ends every session.
async fn update(
    State(tessera): State<Tessera>,
    admin: AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let user = find(&tessera, &id).await?;
    let update = AdminUpdate::parse(&data.0)?;
    let (updated, _) = tessera
        .auth()
        .update_user(&user, update, staff(&admin, &client))
        .await?;
    Ok(Json(admin_object(&tessera, &updated)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_keep_other_parameters_and_drop_page_one() {
        let uri: Uri = "/api/admin/users/?search=ada&page=2".parse().unwrap();
        assert_eq!(
            page_link("h:8000", &uri, 3),
            "http://h:8000/api/admin/users/?search=ada&page=3"
        );
        assert_eq!(
            page_link("h:8000", &uri, 1),
            "http://h:8000/api/admin/users/?search=ada"
        );
        let bare: Uri = "/api/admin/users/".parse().unwrap();
        assert_eq!(page_link("h", &bare, 2), "http://h/api/admin/users/?page=2");
    }
}
