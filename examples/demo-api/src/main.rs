//! `demo-api`: an application on the Tessera library (see the crate docs).
//!
//! Run with `cargo run -p demo-api`; it serves on `DEMO_BIND` (127.0.0.1:8081), keeps its
//! data in `DEMO_DATA_DIR` (./demo-data) and signs with `DEMO_SIGNING_KEY`.

use std::net::SocketAddr;

use anyhow::Context as _;
use demo_api::DemoConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = DemoConfig::from_env()?;
    let app = demo_api::build(&config).await?;
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    tracing::info!("demo-api serving on http://{}", listener.local_addr()?);
    // The client's address keys throttles and is recorded with sessions: serve with it.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
