//! `tessera-growth`: times the store's hot paths with N users and N sessions, at several N,
//! on SQLite and PostgreSQL, and prints a Markdown table (progress goes to standard error).
//!
//! Run with `scripts/growth` (release build; 1,000 and 1,000,000 rows on both engines), or
//! `cargo run --release -p tessera-growth -- --sizes 1000,1000000 --engines sqlite,postgres`.
//! PostgreSQL is reached at `TESSERA_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), where a database is created for each size and
//! dropped afterwards.

use clap::Parser;
use tessera_growth::{Options, markdown, run};
use tessera_store::Engine;

/// Times the store's hot paths as the data grows.
#[derive(Debug, Parser)]
#[command(name = "tessera-growth")]
struct Cli {
    /// Users (and sessions) to seed, one fresh database per size.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000, 1_000_000])]
    sizes: Vec<i64>,
    /// Engines to measure: sqlite, postgres.
    #[arg(long, value_delimiter = ',', default_values_t = ["sqlite".to_owned(), "postgres".to_owned()])]
    engines: Vec<String>,
    /// Timed calls per path.
    #[arg(long, default_value_t = 2_000)]
    ops: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let engines = cli
        .engines
        .iter()
        .map(|name| match Engine::from_url(&format!("{name}:")) {
            Some(engine) => Ok(engine),
            None => anyhow::bail!("unknown engine {name:?}: use sqlite or postgres"),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(cli.ops >= 10, "--ops must be at least 10");
    anyhow::ensure!(
        cli.sizes.iter().all(|&n| n >= 10),
        "every size must be at least 10"
    );
    let options = Options {
        sizes: cli.sizes,
        engines,
        ops: cli.ops,
    };
    let report = run(&options).await?;
    print!("{}", markdown(&report, &options));
    anyhow::ensure!(report.skipped.is_empty(), "some engines were not measured");
    Ok(())
}
