//! What each subcommand does.

mod check;
mod createsuperuser;
pub(crate) mod keys;
mod user;

pub use check::check;
pub use createsuperuser::{CreateSuperuser, create_superuser};
pub use keys::keys;
pub use user::user;

use anyhow::Context as _;
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
    let now = tessera_core::Clock::system().now_secs();
    let deleted = store.flush_expired_sessions(now, 1000).await?;
    store.close().await;
    println!("Deleted {deleted} expired session(s).");
    Ok(())
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
