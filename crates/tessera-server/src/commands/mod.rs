//! What each subcommand does.

mod check;
mod createsuperuser;
mod user;

pub use check::check;
pub use createsuperuser::{CreateSuperuser, create_superuser};
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

/// Minimal checks until Django's password validators land: at least eight characters.
pub(crate) fn check_password(password: &str) -> anyhow::Result<()> {
    if password.chars().count() < 8 {
        anyhow::bail!("This password is too short. It must contain at least 8 characters.");
    }
    Ok(())
}

/// A plausible e-mail address: one `@` with text on both sides and no white space.
pub(crate) fn check_email(email: &str) -> anyhow::Result<()> {
    let valid = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@') && domain.contains('.')
    }) && !email.chars().any(char::is_whitespace);
    if !valid {
        anyhow::bail!("Enter a valid email address.");
    }
    Ok(())
}
