//! `tessera`: parses the command line, loads the configuration, and runs the command.

use std::process::ExitCode;

use clap::Parser as _;
use tessera_server::cli::{Cli, Command};
use tessera_server::commands::{self, CreateSuperuser};
use tessera_server::config::Config;
use tessera_server::startup::Application;
use tessera_server::telemetry;

/// mimalloc rather than glibc's malloc: a request allocates often, from every worker thread
/// (docs/PERFORMANCE.md, "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&anyhow::Error::from(error)),
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

/// Prints `error` as one line — its causes joined, never a backtrace — and fails.
fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("Error: {}", one_line(error));
    ExitCode::FAILURE
}

/// An error and its causes on one line: `opening the database x: connection refused`. A
/// cause whose text its parent already shows is left out.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}

async fn run() -> anyhow::Result<()> {
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
        Command::Group(command) => commands::group(&config, command).await,
        Command::Keys(command) => commands::keys(&config, command).await,
        Command::ApiKey(command) => commands::api_key(&config, command).await,
        Command::Import(command) => commands::import(&config, command).await,
        Command::Check { deploy } => commands::check(&config, deploy).await,
        Command::Sendtestemail { addresses } => {
            commands::send_test_email(&config, &addresses).await
        }
    }
}
