//! Beyond simplejwt: the caller's login sessions, listed and ended one by one.

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{Value, json};

use tessera_auth::SESSION_CLAIM;
use tessera_auth::datetime::drf_datetime;

use crate::api_key::SessionUser;
use crate::client::Client;
use crate::error::ApiError;
use crate::requires::Requires;
use crate::state::Tessera;

/// `GET auth/sessions/` and `DELETE auth/sessions/{id}/`, relative to the API's mount
/// point (`/api`); the credential of a login only (an API key gets 403, see
/// [`SessionUser`]).
pub fn session_routes<S>() -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/auth/sessions/", get(list).requires::<SessionUser>())
        .route(
            "/auth/sessions/{id}/",
            delete(end).requires::<SessionUser>(),
        )
}

/// The live sessions, newest first; `current` marks the one the request's token belongs to.
#[utoipa::path(
    get,
    path = "/auth/sessions/",
    tag = "sessions",
    summary = "The caller's live sessions",
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "The sessions, newest first, the current one marked", body = Object),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
    )
)]
async fn list(State(tessera): State<Tessera>, auth: SessionUser) -> Result<Json<Value>, ApiError> {
    let current = auth.token.get(SESSION_CLAIM).and_then(Value::as_str);
    let sessions = tessera.auth().live_sessions(&auth.user).await?;
    let list: Vec<Value> = sessions
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "created_at": drf_datetime(s.created_at),
                "last_used_at": drf_datetime(s.last_used_at),
                "expires_at": drf_datetime(s.expires_at),
                "user_agent": s.user_agent,
                "ip": s.ip,
                "current": Some(s.id.as_str()) == current,
            })
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

/// Whether `id` can name a session at all: session ids are short ASCII tokens (32 hex
/// digits as issued), so anything else is not looked up.
fn could_be_session_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Ends one of the caller's sessions: 204, or 404 when it is not a live session of theirs
/// (or no session id at all: a NUL or 3,000 characters never reach the database).
#[utoipa::path(
    delete,
    path = "/auth/sessions/{id}/",
    tag = "sessions",
    summary = "Ends one of the caller's sessions",
    params(("id" = String, Path, description = "The session's id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, description = "Not authenticated, or the credential is invalid", body = crate::openapi::Detail),
        (status = 404, description = "Not found.", body = crate::openapi::Detail),
    )
)]
async fn end(
    State(tessera): State<Tessera>,
    auth: SessionUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !could_be_session_id(&id) {
        return Err(ApiError::NotFound);
    }
    tessera
        .auth()
        .end_own_session(&auth.user, &id, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// This module's routes in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, end))]
pub(super) struct Doc;

#[cfg(test)]
mod tests {
    use super::could_be_session_id;

    #[test]
    fn only_short_ascii_tokens_can_be_session_ids() {
        assert!(could_be_session_id("0123456789abcdef0123456789abcdef"));
        assert!(could_be_session_id("legacy-id_1"));
        for bad in ["", "a\u{0}b", "a b", "é", "a/b", &"f".repeat(65)] {
            assert!(!could_be_session_id(bad), "{bad:?}");
        }
    }
}
