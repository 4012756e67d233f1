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
mod browser;
mod client;
mod conventions;
mod cookies;
mod cors;
mod csrf;
mod error;
mod limits;
mod middleware;
mod observe;
mod payload;
mod permission;
mod remote;
mod representation;
pub mod routes;
mod state;
mod throttle_layer;
pub mod verifier;

use axum::Router;

pub use auth::{
    AllowAny, AuthUser, TokenUser, authenticate_token, raw_token, user_for_token, validated_token,
};
pub use browser::BrowserSettings;
pub use client::{Client, client_info};
pub use conventions::{drf_conventions, not_found};
pub use cookies::{csrf_cookie, new_csrf_token, read_cookie};
pub use cors::cors_layer;
pub use csrf::csrf_refusal;
pub use error::{ApiError, throttled_detail};
pub use limits::{MAX_HEADER_BYTES, oversized_headers};
pub use middleware::tessera_middleware;
pub use observe::track_requests;
pub use payload::{MAX_BODY_BYTES, Payload};
pub use permission::{AdminUser, IsAdminUser, IsAuthenticated, Permission, Require};
pub use remote::{JwksFetchError, MAX_JWKS_BYTES, RemoteJwks, fetch_remote_keys};
pub use representation::{login_user_object, user_object};
pub use state::{Tessera, TesseraBuilder};
pub use tessera_auth::accounts::AccountSettings;
pub use tessera_auth::audit::AuditSettings;
pub use tessera_auth::guard::{ThrottleSettings, ThrottleStorage};
pub use tessera_auth::{Auth, AuthError, ClientInfo};
pub use throttle_layer::check_rates;

/// Finishes an application's router: DRF's 404 fallback and response conventions, CSRF
/// protection for cookie-authenticated requests, the `anon`/`user` throttles, CORS from the
/// settings, and `tessera` as the state.
pub fn finish(router: Router<Tessera>, tessera: Tessera) -> Router {
    let app = router
        .route_layer(axum::middleware::from_fn(track_requests))
        .fallback(not_found)
        .with_state(tessera.clone());
    let cors = cors_layer(tessera.browser());
    // The middleware wraps the finished router as one service, so that the conventions see
    // each response as the client will (axum adds `Allow` to a 405 outside per-route
    // layers). A `ServiceBuilder` stack rather than `Router::layer`, which would box it
    // anew and clone every box below it on each request.
    let finished = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(
            tessera,
            tessera_middleware,
        ))
        .service(app);
    // CORS is outermost: preflights are answered before anything else runs.
    match cors {
        Some(cors) => {
            let with_cors = tower::Layer::layer(&cors, finished.clone());
            // tower-http answers every OPTIONS request as a preflight; only a real one (with
            // `Access-Control-Request-Method`, as django-cors-headers tells them apart) goes
            // there, so that other OPTIONS requests keep DRF's 200 with `Allow`.
            Router::new().fallback_service(tower::service_fn(
                move |request: axum::extract::Request| {
                    let plain_options = request.method() == axum::http::Method::OPTIONS
                        && !request
                            .headers()
                            .contains_key(axum::http::header::ACCESS_CONTROL_REQUEST_METHOD);
                    let finished = finished.clone();
                    let with_cors = with_cors.clone();
                    async move {
                        if plain_options {
                            tower::ServiceExt::oneshot(finished, request)
                                .await
                                .map(axum::response::IntoResponse::into_response)
                        } else {
                            tower::ServiceExt::oneshot(with_cors, request)
                                .await
                                .map(axum::response::IntoResponse::into_response)
                        }
                    }
                },
            ))
        }
        None => Router::new().fallback_service(finished),
    }
}
