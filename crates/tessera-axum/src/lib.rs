//! Tessera for axum: simplejwt's authentication, permissions and token routes, with DRF's
//! error bodies.
//!
//! ```no_run
//! use axum::{Json, Router, routing::get};
//! use tessera_axum::{AuthUser, Tessera, finish, routes::token_routes};
//!
//! async fn me(user: AuthUser) -> Json<serde_json::Value> {
//!     Json(serde_json::json!({"email": user.user.email}))
//! }
//!
//! # async fn run(tessera: Tessera) {
//! let app: Router = finish(token_routes().route("/api/me/", get(me)), tessera);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await.unwrap();
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await.unwrap();
//! # }
//! ```

mod auth;
mod client;
mod conventions;
mod error;
mod fields;
mod payload;
mod permission;
mod representation;
pub mod routes;
mod sessions;
mod state;

use axum::Router;

pub use auth::{
    AllowAny, AuthUser, TokenUser, authenticate_token, raw_token, user_for_token, validated_token,
};
pub use client::ClientInfo;
pub use conventions::{drf_conventions, not_found};
pub use error::ApiError;
pub use fields::{FieldErrors, Fields, Trim};
pub use payload::{MAX_BODY_BYTES, Payload};
pub use permission::{AdminUser, IsAdminUser, IsAuthenticated, Permission, Require};
pub use representation::{drf_datetime, full_name, user_object};
pub use sessions::{Refreshed, SESSION_CLAIM, TokenPair, reason};
pub use state::Tessera;

/// Finishes an application's router: DRF's 404 fallback and response conventions, and
/// `tessera` as the state.
pub fn finish(router: Router<Tessera>, tessera: Tessera) -> Router {
    let app = router.fallback(not_found).with_state(tessera.clone());
    // The conventions wrap the finished router as one service, so they see each response
    // as the client will (axum adds `Allow` to a 405 outside per-route layers).
    Router::new()
        .fallback_service(app)
        .layer(axum::middleware::from_fn_with_state(
            tessera,
            drf_conventions,
        ))
}
