//! `GET /api/auth/profile/`: the authenticated user's own object.

use axum::extract::FromRef;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use crate::auth::AuthUser;
use crate::representation::user_object;
use crate::state::Tessera;

/// `GET /api/auth/profile/` (Bearer): the user object of API.md §5.
pub fn profile_routes<S>() -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new().route("/api/auth/profile/", get(profile))
}

async fn profile(auth: AuthUser) -> Json<Value> {
    Json(user_object(&auth.user))
}
