//! An axum application on Tessera: every Tessera route under `/api`, and a route of its own
//! for signed-in users. The README's "Using the library" section is this file.
//!
//! Run with `SIGNING_KEY=$(openssl rand -base64 48) cargo run -p tessera-axum --example quickstart`.

use std::net::SocketAddr;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera_axum::{AuthUser, Settings, Store, Tessera, install, routes};

/// Any signed-in user (simplejwt's `JWTAuthentication` with DRF's `IsAuthenticated`).
async fn me(user: AuthUser) -> Json<Value> {
    Json(json!({"id": user.user.id, "email": user.user.email}))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // SQLite file, created if missing; `postgres://…` for several instances.
    let store = Store::connect("sqlite://./quickstart.db").await?;
    store.migrate().await?;
    let settings = Settings {
        signing_key: Some(std::env::var("SIGNING_KEY")?.into()),
        ..Settings::default()
    };
    let tessera = Tessera::builder(settings, store).build().await?;

    let router = Router::new()
        .nest("/api", routes::api_routes()) // /api/token/, /api/auth/login/, …
        .route("/api/me/", get(me));
    let app = install(router, tessera);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
    // With ConnectInfo, throttles and the audit log see each client's address.
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service).await?;
    Ok(())
}
