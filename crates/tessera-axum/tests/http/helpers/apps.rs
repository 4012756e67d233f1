//! The applications the tests build, as [`TestApp`](tessera_axum::testing::TestApp)
//! builders: each mounts some of the library's routers and views of its own; a test adds
//! the settings it needs and builds.

use std::time::Duration;

use axum::Json;
use axum::routing::get;
use serde_json::{Value, json};
use tessera_axum::routes::{
    account_routes, api_routes, cookie_routes, session_routes, token_routes,
};
use tessera_axum::testing::{TestApp, TestAppBuilder};
use tessera_axum::{AdminUser, AuthUser, TokenUser};
use tessera_core::Settings;

/// `GET /api/protected/`: authenticated users (`AuthUser`).
async fn protected(user: AuthUser) -> Json<Value> {
    Json(json!({"id": user.user.id, "email": user.user.email}))
}

/// `GET /api/stateless/`: any valid access token (`TokenUser`), no store.
async fn stateless(user: TokenUser) -> Json<Value> {
    Json(json!({"user_id": user.id}))
}

/// `GET /api/admin/`: staff (`AdminUser`).
async fn admin(_: AdminUser) -> Json<Value> {
    Json(json!({"ok": true}))
}

/// `GET /api/public/`: anyone.
async fn public() -> Json<Value> {
    Json(json!({"ok": true}))
}

/// The token routes and three protected routes: `/api/protected/`, `/api/stateless/` and
/// `/api/admin/`.
pub fn token_app() -> TestAppBuilder {
    TestApp::builder()
        .nest("/api", token_routes())
        .route("/api/protected/", get(protected))
        .route("/api/stateless/", get(stateless))
        .route("/api/admin/", get(admin))
}

/// Rotation, blacklisting after rotation, and this reuse grace.
pub fn rotating(grace_secs: u64) -> impl FnOnce(&mut Settings) + Send + 'static {
    move |s| {
        s.rotate_refresh_tokens = true;
        s.blacklist_after_rotation = true;
        s.refresh_reuse_grace = Duration::from_secs(grace_secs);
    }
}

/// The token, account and session routes (docs/API.md §3, §5 and the sessions routes).
pub fn accounts_app() -> TestAppBuilder {
    TestApp::builder().nest(
        "/api",
        token_routes()
            .merge(account_routes())
            .merge(session_routes()),
    )
}

/// The token, account, session and cookie routes, `/api/protected/` and `/api/stateless/`,
/// with the server's defaults for rotation (on, with blacklisting after rotation): for
/// browsers — cookie mode, CSRF and CORS (docs/API.md §6).
pub fn browser_app() -> TestAppBuilder {
    TestApp::builder()
        .settings(|s| {
            s.rotate_refresh_tokens = true;
            s.blacklist_after_rotation = true;
        })
        .nest(
            "/api",
            token_routes()
                .merge(account_routes())
                .merge(session_routes())
                .merge(cookie_routes()),
        )
        .route("/api/protected/", get(protected))
        .route("/api/stateless/", get(stateless))
}

/// The token, account, session and cookie routes, `/api/protected/` (authenticated) and
/// `/api/public/` (anyone): for abuse resistance — throttles, lockout, back-pressure and
/// limits. The library's throttling defaults apply unless a test changes them:
/// no throttle, lockout after 5.
pub fn throttled_app() -> TestAppBuilder {
    TestApp::builder()
        .nest(
            "/api",
            token_routes()
                .merge(account_routes())
                .merge(session_routes())
                .merge(cookie_routes()),
        )
        .route("/api/protected/", get(protected))
        .route("/api/public/", get(public))
}

/// Every router of the library (`api_routes`: token, account, session, cookie, admin, audit
/// and key routes), with rotation and blacklisting after rotation, and signing keys kept in
/// the store (EdDSA): for the audit log.
pub fn audit_app() -> TestAppBuilder {
    TestApp::builder()
        .settings(|settings| {
            settings.rotate_refresh_tokens = true;
            settings.blacklist_after_rotation = true;
            settings.key_source = tessera_core::KeyOrigin::Store;
            settings.algorithm = tessera_core::Algorithm::EdDSA;
            settings.signing_key = None;
        })
        .nest("/api", api_routes())
}
