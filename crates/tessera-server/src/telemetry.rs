//! Structured logs: human-readable in debug mode, JSON lines in production.
//!
//! The filter comes from `TESSERA_LOG` (or `RUST_LOG`), e.g. `TESSERA_LOG=debug`.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// Installs the global subscriber; later calls (tests) are no-ops.
pub fn init(debug: bool) {
    let filter = std::env::var("TESSERA_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if debug {
        builder
            .compact()
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    } else {
        builder.json().flatten_event(true).try_init()
    };
}
