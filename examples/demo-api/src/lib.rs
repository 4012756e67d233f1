//! `demo-api`: an application built on the Tessera library alone — no server crate — the
//! way a Rust team builds theirs on axum:
//!
//! * its own state ([`AppState`]) next to Tessera's, reached with `FromRef`;
//! * Tessera's routes under `/api` (simplejwt's token views, the account and cookie routes,
//!   sessions, admin), and the token views again under `/api/v1` as the tutorial mounts them;
//! * the tutorials' protected resources ([`tutorial`]), one of them behind a permission on a
//!   custom user field (`is_premium`);
//! * a user-scoped resource in its own table with an owner-only permission ([`notes`]);
//! * a shared resource under DRF's `IsOwnerOrReadOnly`, written with an API key's scope and
//!   deleted by its author or a moderator holding a permission ([`articles`]);
//! * routes that take a token or an API key, and one for API keys only ([`credentials`]);
//! * a route for the holders of one Django permission ([`reports`]);
//! * the same view in two versions under `/api/v1/` and `/api/v2/` ([`versions`]);
//! * a WebSocket, `/ws/echo/`, authenticated by header, cookie or single-use ticket ([`echo`]).

pub mod articles;
pub mod config;
pub mod credentials;
pub mod echo;
pub mod notes;
pub mod reports;
mod state;
pub mod tutorial;
pub mod versions;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sqlx::SqlitePool;
use tessera_auth::accounts::{AccountSettings, FieldKind, UserField};
use tessera_axum::routes::{api_routes, jwks_routes, token_routes};
use tessera_axum::{Tessera, install};
use tessera_core::Settings;
use tessera_store::Store;

pub use articles::Articles;
pub use config::DemoConfig;
pub use notes::Notes;
pub use state::AppState;

/// The account settings: the tutorial's custom user field `is_premium`, which staff set and
/// users cannot (read-only), and which rides in the tokens as a claim.
pub fn account_settings() -> AccountSettings {
    AccountSettings {
        user_fields: vec![UserField {
            name: "is_premium".into(),
            kind: FieldKind::Boolean,
            required: false,
            max_length: None,
            read_only: true,
            claim: true,
            default: Some(false.into()),
        }],
        ..AccountSettings::default()
    }
}

/// Opens both databases, migrates Tessera's, builds the state and the finished application.
///
/// # Errors
/// A database that cannot be opened, or settings Tessera cannot serve.
pub async fn build(config: &DemoConfig) -> anyhow::Result<Router> {
    Ok(app(state(config).await?))
}

/// Opens both databases, migrates Tessera's, and builds the state.
///
/// # Errors
/// A database that cannot be opened, or settings Tessera cannot serve.
pub async fn state(config: &DemoConfig) -> anyhow::Result<AppState> {
    config.prepare()?;
    let store = Store::connect(&config.tessera_url()).await?;
    store.migrate().await?;
    let settings = Settings {
        signing_key: Some(config.signing_key.clone().into()),
        // simplejwt's recommended production settings: rotation with blacklisting.
        rotate_refresh_tokens: true,
        blacklist_after_rotation: true,
        ..Settings::default()
    };
    let tessera = Tessera::builder(settings, store)
        .accounts(account_settings())
        .build()
        .await?;
    let db = SqlitePool::connect(&config.app_url()).await?;
    let notes = Notes::open(db.clone()).await?;
    let articles = Articles::open(db).await?;
    Ok(AppState {
        tessera,
        notes,
        articles,
    })
}

/// The application's router over `state`.
pub fn app(state: AppState) -> Router {
    let api = api_routes()
        .merge(tutorial::routes())
        .merge(notes::routes())
        .merge(articles::routes())
        .merge(credentials::routes())
        .merge(reports::routes());
    let router = Router::new()
        .nest("/api", api)
        .nest("/api/v1", token_routes().merge(versions::v1()))
        .nest("/api/v2", versions::v2())
        .merge(jwks_routes())
        .merge(echo::routes())
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }));
    install(router, state)
}
