//! The tutorials' protected resources, written the way any axum application uses Tessera:
//! an extractor in the handler's arguments.

use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_auth::accounts::full_name;
use tessera_axum::{AdminUser, ApiError, AuthUser, Claims, Permission, Require, TokenUser};

use crate::state::AppState;

/// `GET hello/`, `claims/`, `claims/typed/`, `protected/`, `admin-only/` and `premium/`,
/// relative to the API's mount point (`/api`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/hello/", get(hello))
        .route("/claims/", get(claims))
        .route("/claims/typed/", get(typed_claims))
        .route("/protected/", get(protected))
        .route("/admin-only/", get(admin_only))
        .route("/premium/", get(premium))
}

/// Any authenticated user (DRF's `IsAuthenticated`).
async fn hello(auth: AuthUser) -> Json<Value> {
    Json(json!({"message": format!("Hello, {}", auth.user.email)}))
}

/// The token's user with no store lookup (simplejwt's `JWTStatelessUserAuthentication`).
async fn claims(user: TokenUser) -> Json<Value> {
    Json(json!({"user_id": user.id, "token_type": user.token.get("token_type")}))
}

/// The claims this application reads, as its own type.
#[derive(Debug, Deserialize)]
struct AccountClaims {
    user_id: String,
    email: String,
    full_name: String,
}

/// The login's account claims, typed, with no store lookup.
async fn typed_claims(Claims(claims): Claims<AccountClaims>) -> Json<Value> {
    Json(json!({"user_id": claims.user_id, "email": claims.email, "full_name": claims.full_name}))
}

/// Any authenticated user.
async fn protected(auth: AuthUser) -> Json<Value> {
    let user = &auth.user;
    Json(json!({
        "message": "This is a protected endpoint",
        "user": {"id": user.id, "email": user.email, "full_name": full_name(user)},
    }))
}

/// Staff only (DRF's `IsAdminUser`): 401 without credentials, 403 for other users.
async fn admin_only(admin: AdminUser) -> Json<Value> {
    let user = &admin.user;
    Json(json!({
        "message": "This is an admin-only endpoint",
        "user": {"id": user.id, "email": user.email, "is_staff": user.is_staff},
    }))
}

/// The tutorial's `IsPremiumUser`: the `is_premium` custom user field is true.
#[derive(Debug)]
pub struct IsPremiumUser;

impl<S: Send + Sync> Permission<S> for IsPremiumUser {
    async fn has_permission(
        user: &AuthUser,
        _parts: &mut Parts,
        _state: &S,
    ) -> Result<bool, ApiError> {
        Ok(user.user.extra.get("is_premium").and_then(Value::as_bool) == Some(true))
    }
}

/// Premium users only: 401 without credentials, 403 for the others.
async fn premium(user: Require<IsPremiumUser>) -> Json<Value> {
    Json(json!({"message": format!("Premium content for {}", user.user.email)}))
}
