//! The demo application's own resources, the tutorials' protected endpoints, written the
//! way any axum application uses Tessera: an extractor in the handler's arguments.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera_auth::accounts::full_name;
use tessera_axum::{AdminUser, AuthUser, Tessera, TokenUser};

/// `GET /api/hello/` (seeds/003), `GET /api/protected/` and `GET /api/admin-only/` (seeds/004),
/// and `GET /api/claims/`, which trusts the token alone.
pub fn routes() -> Router<Tessera> {
    Router::new()
        .route("/api/hello/", get(hello))
        .route("/api/claims/", get(claims))
        .route("/api/protected/", get(protected))
        .route("/api/admin-only/", get(admin_only))
}

/// Any authenticated user (DRF's `IsAuthenticated`).
async fn hello(auth: AuthUser) -> Json<Value> {
    Json(json!({"message": format!("Hello, {}", auth.user.email)}))
}

/// The token's user with no store lookup (simplejwt's `JWTStatelessUserAuthentication`).
async fn claims(user: TokenUser) -> Json<Value> {
    Json(json!({"user_id": user.id, "token_type": user.token.get("token_type")}))
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
