//! `demo-api`: everything the `tessera` server serves, plus the tutorials' example resources.
//! It reads the same configuration as `tessera` (`tessera.toml`, `.env`, `TESSERA_*`).
//!
//! Run with `cargo run -p demo-api`.

use tessera_server::{config::Config, startup::Application, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::load(None)?;
    telemetry::init(config.debug);
    Application::build_with(config, demo_api::routes())
        .await?
        .run_until_stopped()
        .await
}
