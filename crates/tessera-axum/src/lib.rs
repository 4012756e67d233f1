//! Tessera for axum: simplejwt's authentication, DRF's permissions and error bodies, and
//! the token, account, cookie and admin routes of a DRF + simplejwt backend, over the
//! service layer of `tessera-auth`.
//!
//! An application keeps its own state; Tessera's [`Tessera`] state is reached from it with
//! `FromRef`, the routers nest under any prefix, and [`install`] puts the DRF conventions,
//! CSRF, throttling and CORS around the finished router (its documentation has an example).
//!
//! Features: `store` (default) is everything above, over `tessera-auth` and
//! `tessera-store`. Without it the crate is the JWKS verifier alone ([`verifier`]): no
//! database, no password hashing.
//! `testing` adds the module `testing`: DRF's `APIClient` for the application, in
//! process, and a harness that builds an application on a fresh database with a manual clock.

#[cfg(feature = "store")]
pub mod api_key;
#[cfg(feature = "store")]
mod auth;
#[cfg(feature = "store")]
mod browser;
#[cfg(feature = "store")]
mod client;
#[cfg(feature = "store")]
mod conventions;
#[cfg(feature = "store")]
pub mod cookies;
#[cfg(feature = "store")]
mod cors;
#[cfg(feature = "store")]
mod csrf;
#[cfg(feature = "store")]
mod deployment;
mod error;
#[cfg(feature = "store")]
mod limits;
#[cfg(feature = "store")]
mod middleware;
#[cfg(feature = "store")]
mod observe;
#[cfg(feature = "store")]
pub mod openapi;
#[cfg(feature = "store")]
mod payload;
#[cfg(feature = "store")]
mod permission;
mod remote;
#[cfg(feature = "store")]
mod representation;
#[cfg(feature = "store")]
mod requires;
#[cfg(feature = "store")]
pub mod routes;
#[cfg(feature = "store")]
mod state;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "store")]
mod throttle_layer;
pub mod verifier;
#[cfg(feature = "store")]
pub mod websocket;

#[cfg(feature = "store")]
use axum::Router;
#[cfg(feature = "store")]
use axum::extract::FromRef;

#[cfg(feature = "store")]
pub use api_key::{
    ApiKeyInfo, ApiKeyUser, AuthVia, HasScope, SESSION_REQUIRED, Scope, SessionUser, raw_api_key,
};
#[cfg(feature = "store")]
pub use auth::{
    AllowAny, AuthRejection, AuthUser, Claims, TokenUser, authenticate_token, raw_token,
    user_for_token, validated_token,
};
#[cfg(feature = "store")]
pub use browser::{BrowserSettings, CookieSameSite, HEALTH_CHECK_PATHS};
#[cfg(feature = "store")]
pub use client::{Client, client_info};
pub use error::{ApiError, throttled_detail};
#[cfg(feature = "store")]
pub use limits::MAX_HEADER_BYTES;
#[cfg(feature = "store")]
pub use observe::{MAX_LOGGED_CHARS, loggable, loggable_path, method_label};
#[cfg(feature = "store")]
pub use payload::{MAX_BODY_BYTES, Payload};
#[cfg(feature = "store")]
#[doc(hidden)]
pub use permission::is_perm_name as __is_perm_name;
#[cfg(feature = "store")]
pub use permission::{
    AdminUser, HasPerm, IsAdminUser, IsAuthenticated, PermName, Permission, Require,
};
pub use remote::{JwksFetchError, MAX_JWKS_BYTES, RemoteJwks};
#[cfg(feature = "store")]
pub use representation::{
    UserObject, login_user_object, login_user_object_with, user_object, user_object_with,
};
#[cfg(feature = "store")]
pub use requires::Requires;
#[cfg(feature = "store")]
pub use state::{Tessera, TesseraBuilder};
#[cfg(feature = "store")]
pub use tessera_auth::accounts::AccountSettings;
#[cfg(feature = "store")]
pub use tessera_auth::audit::AuditSettings;
#[cfg(feature = "store")]
pub use tessera_auth::guard::{ThrottleSettings, ThrottleStorage};
#[cfg(feature = "store")]
pub use tessera_auth::{Auth, AuthError, ClientInfo};
pub use tessera_core::Settings;
#[cfg(feature = "store")]
pub use tessera_store::{Store, User};
#[cfg(feature = "store")]
pub use websocket::{WsCredential, WsUser};

#[cfg(feature = "store")]
use conventions::not_found;
#[cfg(feature = "store")]
use cors::cors_layer;
#[cfg(feature = "store")]
use middleware::tessera_middleware;
#[cfg(feature = "store")]
use observe::track_requests;

#[cfg(feature = "store")]
/// Installs Tessera on an application's finished router, with the application's own state
/// (anything Tessera's state is reached from with `FromRef`): request metrics per route,
/// DRF's 404 fallback and response conventions (JSON 404/405 bodies, `OPTIONS`,
/// `WWW-Authenticate`), the header size limit, CSRF protection for cookie-authenticated
/// requests, the `anon`/`user` throttles, the remote JWKS, and CORS from the settings.
///
/// It wraps the router as one service rather than through `Router::layer`, so that the
/// conventions see each response as the client will (axum adds `Allow` to a 405 outside
/// per-route layers).
///
/// ```no_run
/// use axum::extract::FromRef;
/// use axum::routing::get;
/// use axum::{Json, Router};
/// use tessera_axum::{AuthUser, Tessera, install, routes};
///
/// #[derive(Clone, FromRef)]
/// struct AppState {
///     tessera: Tessera,
///     greeting: &'static str,
/// }
///
/// async fn me(user: AuthUser, axum::extract::State(greeting): axum::extract::State<&'static str>) -> Json<serde_json::Value> {
///     Json(serde_json::json!({"greeting": greeting, "email": user.user.email}))
/// }
///
/// # async fn run(tessera: Tessera) -> std::io::Result<()> {
/// let state = AppState { tessera, greeting: "hello" };
/// let router = Router::new()
///     .nest("/api", routes::api_routes())
///     .route("/api/me/", get(me));
/// let app = install(router, state);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
/// // The client's address keys throttles: serve with `ConnectInfo`.
/// axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
/// # }
/// ```
pub fn install<S>(router: Router<S>, state: S) -> Router
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    let tessera = Tessera::from_ref(&state);
    // Request metrics for the matched routes, and for the fallback (as `unmatched`).
    let app = router
        .route_layer(axum::middleware::from_fn(track_requests))
        .fallback(axum::handler::Handler::layer(
            not_found,
            axum::middleware::from_fn(track_requests),
        ))
        .with_state(state);
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
