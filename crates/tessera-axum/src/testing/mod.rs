//! Testing an application built on Tessera the way DRF's test tools do (feature `testing`).
//!
//! - [`TestClient`], like DRF's `APIClient`: sends requests to a finished [`axum::Router`]
//!   in process (no port), keeps cookies like a browser, and has
//!   [`credentials`](TestClient::credentials) and
//!   [`force_authenticate`](TestClient::force_authenticate).
//! - [`TestResponse`]: a response read to the end, with DRF-aware assertions.
//! - [`TestApp`]: the application under test — a fresh database (SQLite unless told
//!   otherwise, from [`tessera_store::testing`]), a manual clock at [`NOW`], the settings
//!   the test asks for and the routers it mounts — built with [`TestApp::builder`].
//! - [`serve`]: for the few tests that need a real socket (a JWKS another service fetches).
//!
//! ```
//! use axum::routing::get;
//! use tessera_axum::routes::token_routes;
//! use tessera_axum::testing::TestApp;
//! use tessera_axum::AuthUser;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = TestApp::builder()
//!     .nest("/api", token_routes())
//!     .route("/api/me/", get(|user: AuthUser| async move { user.user.email }))
//!     .build()
//!     .await;
//! app.create_user("ada@example.com", "correct horse battery staple").await;
//!
//! let client = app.client();
//! client.get("/api/me/").send().await.assert_status(401);
//! let login = client
//!     .post("/api/token/")
//!     .json(&serde_json::json!({"email": "ada@example.com", "password": "correct horse battery staple"}))
//!     .send()
//!     .await;
//! client.credentials(Some(&format!("Bearer {}", login.field("access"))));
//! assert_eq!(client.get("/api/me/").send().await.text(), "ada@example.com");
//! # }
//! ```

#![warn(missing_docs)]

mod app;
mod client;
mod cookies;
mod response;

use std::net::SocketAddr;

use axum::Router;
use tessera_core::Timestamp;

pub use app::{TestApp, TestAppBuilder};
pub use client::{RequestBuilder, TestClient};
pub use cookies::SetCookie;
pub use response::TestResponse;
pub use tessera_store::testing::TestDatabase;

/// The instant a [`TestApp`]'s clock starts at: 2025-06-15T15:06:40Z.
pub const NOW: Timestamp = Timestamp::from_secs(1_750_000_000);

/// The HMAC secret a [`TestApp`] signs tokens with unless its settings say otherwise.
pub const SIGNING_KEY: &str = "test-key-that-is-at-least-32-bytes-long";

/// The host a [`TestClient`] sends requests to (`Host: testserver`), as Django's test client
/// does.
pub const TEST_HOST: &str = "testserver";

/// Serves `router` on a random port of 127.0.0.1, with the client's address available to
/// it (`ConnectInfo<SocketAddr>`), until the runtime ends; returns the address it listens on.
///
/// Only for what needs a real socket — a JWKS fetched by another service, say; everything
/// else goes through a [`TestClient`], in process.
///
/// # Panics
/// When no port can be bound.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("binding 127.0.0.1:0");
    let address = listener.local_addr().expect("the bound address");
    tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(error) = axum::serve(listener, service).await {
            tracing::error!(%error, "the test server stopped");
        }
    });
    address
}
