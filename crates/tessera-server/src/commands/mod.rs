//! What each subcommand does.

mod check;
mod createsuperuser;
pub(crate) mod keys;
mod user;

pub use check::check;
pub use createsuperuser::{CreateSuperuser, create_superuser};
pub use keys::keys;
pub use user::user;

use std::time::Duration;

use anyhow::Context as _;
use tessera_axum::Audit;
use tessera_store::Store;

use crate::config::Config;
use crate::startup::open_store;

/// Opens the store and applies migrations (every command works on an up-to-date schema).
pub async fn migrated_store(config: &Config) -> anyhow::Result<Store> {
    let store = open_store(config).await?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

/// `tessera migrate`
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    migrated_store(config).await?.close().await;
    println!("Migrations applied.");
    Ok(())
}

/// `tessera flushexpiredtokens`
pub async fn flush_expired_tokens(config: &Config) -> anyhow::Result<()> {
    let store = migrated_store(config).await?;
    let clock = tessera_core::Clock::system();
    let deleted = store.flush_expired_sessions(clock.now_secs(), 1000).await?;
    let now = clock.now_micros();
    let (hits_before, failures_before) = config.throttling.prune_cutoffs(now);
    let pruned = store
        .prune_throttles(hits_before, failures_before, now)
        .await?;
    store.close().await;
    println!("Deleted {deleted} expired session(s) and {pruned} stale throttle row(s).");
    Ok(())
}

/// `tessera pruneaudit`
pub async fn prune_audit(config: &Config) -> anyhow::Result<()> {
    let Some(cutoff) = config
        .audit
        .cutoff(tessera_core::Clock::system().now_micros())
    else {
        println!("audit_retention is 0: audit events are kept forever; nothing deleted.");
        return Ok(());
    };
    let store = migrated_store(config).await?;
    let deleted = store.prune_audit_events(cutoff).await;
    store.close().await;
    println!(
        "Deleted {} audit event(s) older than {}.",
        deleted?,
        describe(config.audit.audit_retention)
    );
    Ok(())
}

/// `90 days`, `36 hours`, or seconds.
fn describe(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        s if s % 86_400 == 0 => format!("{} day(s)", s / 86_400),
        s if s % 3600 == 0 => format!("{} hour(s)", s / 3600),
        s => format!("{s} second(s)"),
    }
}

/// Records an action taken from the command line in the audit log, with its log line: no
/// address or user agent, `detail.via = "cli"`.
pub(crate) async fn audit(store: &Store, audit: Audit) -> anyhow::Result<()> {
    audit
        .via_cli()
        .write_to(store, tessera_core::Clock::system().now_micros())
        .await
        .context("writing the audit event")
}

/// Django's password validators, as configured; every failure in one message.
pub(crate) fn check_password(
    config: &Config,
    password: &str,
    attributes: &tessera_axum::validation::UserAttributes<'_>,
) -> anyhow::Result<()> {
    let errors = config.accounts.password.check(password, attributes);
    if !errors.is_empty() {
        anyhow::bail!("{}", errors.join(" "));
    }
    Ok(())
}

/// Django's `EmailValidator` and `EmailField` length.
pub(crate) fn check_email(email: &str) -> anyhow::Result<()> {
    use tessera_axum::validation::{EMAIL_MAX_LENGTH, validate_email};
    if email.chars().count() > EMAIL_MAX_LENGTH || !validate_email(email) {
        anyhow::bail!("Enter a valid email address.");
    }
    Ok(())
}
