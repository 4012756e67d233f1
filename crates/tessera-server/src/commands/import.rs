//! `tessera import django SOURCE [--dry-run] [--merge-existing] [--user-table TABLE]`

use anyhow::Context as _;
use tessera_auth::django_import::ImportOptions;
use tessera_store::django::DjangoSource;

use super::{explain, finish, service_creating};
use crate::cli::ImportCommand;
use crate::config::{Config, redact_url};

/// Reads the source, runs the import (or the dry run) and prints its report.
pub async fn import(config: &Config, command: ImportCommand) -> anyhow::Result<()> {
    let ImportCommand::Django {
        source,
        dry_run,
        merge_existing,
        user_table,
    } = command;
    let shown = redact_url(&source);
    let data = DjangoSource::parse(&source)
        .read(user_table.as_deref())
        .await
        .with_context(|| format!("reading the Django project at {shown}"))?;
    // A dry run compares with the database too, so it creates one as the import would.
    let auth = service_creating(config).await?;
    let options = ImportOptions::default()
        .dry_run(dry_run)
        .merge_existing(merge_existing);
    let report = auth.import_django(&data, &options).await;
    finish(auth).await?;
    let report = report.map_err(explain)?;
    println!(
        "Importing from {shown} ({}) into {}",
        data.user_table,
        config.database_description()
    );
    print!("{report}");
    Ok(())
}
