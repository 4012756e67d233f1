//! The tutorial's API versioning: the same view in two versions, under `/api/v1/` and
//! `/api/v2/`, where the same tokens work.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera_axum::AuthUser;

use crate::state::AppState;

/// `GET data/` answering in the old format (relative to `/api/v1`).
pub fn v1() -> Router<AppState> {
    Router::new().route("/data/", get(data_v1))
}

/// `GET data/` answering in the new format (relative to `/api/v2`).
pub fn v2() -> Router<AppState> {
    Router::new().route("/data/", get(data_v2))
}

async fn data_v1(_: AuthUser) -> Json<Value> {
    Json(json!({"version": "v1", "data": "old format"}))
}

async fn data_v2(_: AuthUser) -> Json<Value> {
    Json(json!({"version": "v2", "data": "new format"}))
}
