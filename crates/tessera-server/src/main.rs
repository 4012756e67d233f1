//! `tessera`: parses the command line, loads the configuration, and runs the command.

use clap::Parser as _;
use tessera_server::cli::{Cli, Command};
use tessera_server::commands::{self, CreateSuperuser};
use tessera_server::config::Config;
use tessera_server::startup::Application;
use tessera_server::telemetry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    telemetry::init(config.debug);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => Application::build(config).await?.run_until_stopped().await,
        Command::Migrate => commands::migrate(&config).await,
        Command::Createsuperuser {
            email,
            username,
            first_name,
            last_name,
            no_input,
        } => {
            let args = CreateSuperuser {
                email,
                username,
                first_name,
                last_name,
                no_input,
            };
            commands::create_superuser(&config, args).await
        }
        Command::Flushexpiredtokens => commands::flush_expired_tokens(&config).await,
        Command::Pruneaudit => commands::prune_audit(&config).await,
        Command::User(command) => commands::user(&config, command).await,
        Command::Keys(command) => commands::keys(&config, command).await,
        Command::Check { deploy } => commands::check(&config, deploy),
    }
}
