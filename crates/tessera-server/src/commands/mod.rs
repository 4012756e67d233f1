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
use tessera_auth::{Auth, AuthError};
use tessera_store::{PasswordHasher, Store};

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

/// The service over the migrated store, for commands: it issues and checks no tokens, so
/// no signing key is needed. Audit events go through its queue; [`finish`] writes them.
pub(crate) async fn service(config: &Config) -> anyhow::Result<Auth> {
    let store = migrated_store(config).await?;
    let auth = Auth::builder(config.jwt.clone(), store)
        .accounts(config.accounts.clone())
        .throttling(config.throttling.clone())
        .audit(config.audit.clone())
        .hasher(PasswordHasher::new(1))
        .offline()
        .build()
        .await?;
    Ok(auth)
}

/// Writes the audit events a command recorded, then closes the store.
pub(crate) async fn finish(auth: Auth) {
    auth.audit_log().flush().await;
    auth.store().close().await;
}

/// A use case's failure as one sentence for the terminal: the field errors' messages
/// (`email: Enter a valid email address.`), or the error itself.
pub(crate) fn explain(error: AuthError) -> anyhow::Error {
    match error {
        AuthError::Invalid(errors) => anyhow::anyhow!("{}", errors.sentences()),
        other => other.into(),
    }
}
