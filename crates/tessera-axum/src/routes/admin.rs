//! The admin API for staff (`IsAdminUser`) under `/api/admin/users/`: list with search and
//! DRF page-number pagination, retrieve, partial update, delete, and ending a user's sessions.

use axum::extract::{FromRef, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_store::{User, UserFlags, UserUpdate};

use crate::error::ApiError;
use crate::fields::{Fields, Trim};
use crate::payload::Payload;
use crate::permission::AdminUser;
use crate::representation::drf_datetime;
use crate::sessions::reason;
use crate::state::Tessera;
use crate::user_fields::drf_bool;

/// `GET /api/admin/users/`, `GET|PATCH|DELETE /api/admin/users/{id}/`,
/// `POST /api/admin/users/{id}/revoke_sessions/` and `POST /api/admin/users/{id}/unlock/`,
/// for staff only.
pub fn admin_routes<S>() -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/api/admin/users/", get(list))
        .route(
            "/api/admin/users/{id}/",
            get(retrieve).patch(update).delete(destroy),
        )
        .route(
            "/api/admin/users/{id}/revoke_sessions/",
            post(revoke_sessions),
        )
        .route("/api/admin/users/{id}/unlock/", post(unlock))
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

/// DRF's `PageNumberPagination`: `{"count","next","previous","results"}`.
async fn list(
    State(tessera): State<Tessera>,
    _admin: AdminUser,
    uri: Uri,
    parts: RequestHost,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let invalid_page = || ApiError::NotFoundDetail("Invalid page.".into());
    let page: i64 = match query.page.as_deref().map(str::trim) {
        None | Some("") => 1,
        Some(text) => text
            .parse()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(invalid_page)?,
    };
    let size = i64::try_from(tessera.accounts().page_size).unwrap_or(20);
    let search = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let offset = (page - 1).checked_mul(size).ok_or_else(invalid_page)?;
    let (count, users) = tessera.store().search_users(search, size, offset).await?;
    let pages = ((count + size - 1) / size).max(1);
    if page > pages {
        return Err(invalid_page());
    }
    let link = |target: i64| page_link(&parts.0, &uri, target);
    Ok(Json(json!({
        "count": count,
        "next": (page < pages).then(|| link(page + 1)),
        "previous": (page > 1).then(|| link(page - 1)),
        "results": users.iter().map(|u| admin_object(&tessera, u)).collect::<Vec<_>>(),
    })))
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
struct RequestHost(String);

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
    tessera
        .store()
        .user_by_id(id)
        .await?
        .ok_or(ApiError::NotFound)
}

async fn retrieve(
    State(tessera): State<Tessera>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = find(&tessera, &id).await?;
    Ok(Json(admin_object(&tessera, &user)))
}

/// A DRF `BooleanField`.
fn read_bool(
    fields: &mut Fields<'_>,
    data: &serde_json::Map<String, Value>,
    name: &str,
) -> Option<bool> {
    let value = data.get(name)?;
    if let Some(flag) = drf_bool(value) {
        return Some(flag);
    }
    match value {
        Value::Null => {
            fields.fail(name, "This field may not be null.");
            None
        }
        _ => {
            fields.fail(name, "Must be a valid boolean.");
            None
        }
    }
}

/// PATCH: `is_active`, `is_staff`, `first_name`, `last_name`. Deactivating ends every session.
async fn update(
    State(tessera): State<Tessera>,
    _admin: AdminUser,
    Path(id): Path<String>,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let user = find(&tessera, &id).await?;
    let mut fields = Fields::new(&data.0);
    let is_active = read_bool(&mut fields, &data.0, "is_active");
    let is_staff = read_bool(&mut fields, &data.0, "is_staff");
    let mut name = |field: &str| {
        let value = fields.optional(field, Trim::Yes)?;
        if value.chars().count() > 150 {
            fields.fail(field, "Ensure this field has no more than 150 characters.");
            return None;
        }
        Some(value)
    };
    let first_name = name("first_name");
    let last_name = name("last_name");
    fields.finish()?;
    let store = tessera.store();
    store
        .set_user_flags(
            user.id,
            &UserFlags {
                is_active,
                is_staff,
                is_superuser: None,
            },
        )
        .await?;
    let update = UserUpdate {
        first_name,
        last_name,
        ..UserUpdate::default()
    };
    let updated = store
        .update_user(user.id, &update)
        .await?
        .ok_or(ApiError::NotFound)?;
    if is_active == Some(false) {
        let ended = store
            .revoke_user_sessions(user.id, reason::DEACTIVATED, tessera.now_micros())
            .await?;
        tracing::info!(
            user = user.id,
            sessions = ended,
            "user deactivated by staff"
        );
    }
    Ok(Json(admin_object(&tessera, &updated)))
}

async fn destroy(
    State(tessera): State<Tessera>,
    admin: AdminUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = find(&tessera, &id).await?;
    tessera.store().delete_user(user.id).await?;
    tracing::info!(user = user.id, by = admin.user.id, "user deleted by staff");
    Ok(StatusCode::NO_CONTENT)
}

async fn revoke_sessions(
    State(tessera): State<Tessera>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = find(&tessera, &id).await?;
    let ended = tessera
        .store()
        .revoke_user_sessions(user.id, reason::ADMIN, tessera.now_micros())
        .await?;
    Ok(Json(
        json!({"message": "Sessions ended", "sessions_ended": ended}),
    ))
}

/// Lifts a login lockout at once.
async fn unlock(
    State(tessera): State<Tessera>,
    admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = find(&tessera, &id).await?;
    tessera.clear_login_failures_of(&user);
    tracing::info!(
        user = user.id,
        by = admin.user.id,
        "login lockout lifted by staff"
    );
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
