//! `tessera check`: is this configuration valid, and is it fit for production?

use crate::config::{Config, Severity};

/// Prints every finding; the result is an error when production would refuse to start.
pub fn check(config: &Config, deploy: bool) -> anyhow::Result<()> {
    let production = deploy || !config.debug;
    let findings = config.findings();
    for finding in &findings {
        println!("{finding}");
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    if errors > 0 && production {
        anyhow::bail!("{errors} problem(s) make this configuration unfit for production");
    }
    if errors > 0 {
        println!(
            "The configuration is valid for development; the errors above would stop a production server."
        );
    } else {
        println!("The configuration is valid and fit for production.");
    }
    Ok(())
}
