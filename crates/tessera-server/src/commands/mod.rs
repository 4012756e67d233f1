//! What each subcommand does.

mod api_key;
mod check;
mod createsuperuser;
mod group;
mod import;
mod keys;
mod sendtestemail;
mod user;

pub use api_key::api_key;
pub use check::check;
pub use createsuperuser::{CreateSuperuser, create_superuser};
pub use group::group;
pub use import::import;
pub use keys::keys;
pub use sendtestemail::send_test_email;
pub use user::user;

use std::time::Duration;

use anyhow::Context as _;
use tessera_auth::{Auth, AuthError, Flushed};
use tessera_core::Timestamp;
use tessera_store::{PasswordHasher, Store};

use crate::config::Config;
use crate::startup::open_store;

/// Opens the store and applies migrations (every command works on an up-to-date schema).
pub async fn migrated_store(config: &Config) -> anyhow::Result<Store> {
    let store = open_store(config).await?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

/// The SQLite file of the configuration when it does not exist yet.
fn missing_database(config: &Config) -> Option<std::path::PathBuf> {
    config.sqlite_file().filter(|file| !file.exists())
}

/// Fails, naming the file, when the database is a SQLite file that does not exist: a
/// command run from the wrong directory must not quietly work on a new, empty database.
fn require_database(config: &Config) -> anyhow::Result<()> {
    match missing_database(config) {
        Some(file) => anyhow::bail!(
            "no database at {} (set data_dir or database_url, or run `tessera migrate`)",
            file.display()
        ),
        None => Ok(()),
    }
}

/// [`migrated_store`], saying so (on standard error, which keeps the command's own output
/// for scripts) when it created the SQLite file.
async fn created_store(config: &Config) -> anyhow::Result<Store> {
    let missing = missing_database(config);
    let store = migrated_store(config).await?;
    if let Some(file) = missing {
        eprintln!("Created database {}", file.display());
    }
    Ok(store)
}

/// `tessera migrate`
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    created_store(config).await?.close().await;
    println!("Migrations applied.");
    Ok(())
}

/// `tessera flushexpiredtokens`
pub async fn flush_expired_tokens(config: &Config) -> anyhow::Result<()> {
    let auth = service(config).await?;
    let flushed = auth.flush_expired().await;
    finish(auth).await?;
    let Flushed {
        sessions,
        throttle_rows,
        foreign_tokens,
        account_tokens,
        api_keys,
        ..
    } = flushed.map_err(explain)?;
    println!("Deleted {sessions} expired session(s) and {throttle_rows} stale throttle row(s).");
    if foreign_tokens > 0 {
        println!("Deleted {foreign_tokens} expired refresh token(s) imported from simplejwt.");
    }
    if account_tokens > 0 {
        println!("Deleted {account_tokens} expired reset, verification or login code token(s).");
    }
    if api_keys > 0 {
        println!("Deleted {api_keys} API key(s) revoked or expired over `api_key_retention` ago.");
    }
    Ok(())
}

/// `tessera pruneaudit`
pub async fn prune_audit(config: &Config) -> anyhow::Result<()> {
    if config.audit.audit_retention.is_zero() {
        println!("audit_retention is 0: audit events are kept forever; nothing deleted.");
        return Ok(());
    }
    let auth = service(config).await?;
    let deleted = auth.prune_audit().await;
    finish(auth).await?;
    println!(
        "Deleted {} audit event(s) older than {}.",
        deleted.map_err(explain)?,
        describe(config.audit.audit_retention)
    );
    Ok(())
}

/// `90 days`, `36 hours`, or seconds.
/// A time as the commands print it: RFC 3339 in UTC, to the second.
fn timestamp(at: Timestamp) -> String {
    Timestamp::from_secs(at.as_secs()).to_string()
}

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
/// A SQLite database that does not exist is an error ([`require_database`]).
pub(crate) async fn service(config: &Config) -> anyhow::Result<Auth> {
    require_database(config)?;
    service_over(config, migrated_store(config).await?).await
}

/// [`service`] for the commands that fill a database (`createsuperuser`, `import`): a
/// SQLite file that does not exist is created, and the command says so.
pub(crate) async fn service_creating(config: &Config) -> anyhow::Result<Auth> {
    service_over(config, created_store(config).await?).await
}

/// The service of [`service`] over `store`, with every setting `tessera serve` gives it.
pub(crate) async fn service_over(config: &Config, store: Store) -> anyhow::Result<Auth> {
    let auth = Auth::builder(config.jwt.clone(), store)
        .accounts(config.accounts.clone())
        .throttling(config.throttling.clone())
        .audit(config.audit.clone())
        .mail(config.mail.clone())
        .email_flows(config.email_flows.clone())
        .api_keys(config.api_keys.clone())
        .mfa(config.mfa_settings())
        .passkeys(config.passkeys.clone())
        .social(config.social.clone())
        .public_url(config.public_url())
        .hasher(PasswordHasher::new(1))
        .offline()
        .build()
        .await?;
    Ok(auth)
}

/// Writes the audit events a command recorded, then closes the store. A command whose
/// audit record could not be written fails, even when its change was made.
pub(crate) async fn finish(auth: Auth) -> anyhow::Result<()> {
    auth.audit_log().flush().await;
    let lost = auth.audit_log().lost();
    auth.store().close().await;
    if lost > 0 {
        anyhow::bail!("writing the audit event failed ({lost} event(s) lost; see the log above)");
    }
    Ok(())
}

/// A use case's failure as one sentence for the terminal: the field errors' messages
/// (`email: Enter a valid email address.`), or the error itself.
pub(crate) fn explain(error: AuthError) -> anyhow::Error {
    match error {
        AuthError::Invalid(errors) => anyhow::anyhow!("{}", errors.sentences()),
        other => other.into(),
    }
}
