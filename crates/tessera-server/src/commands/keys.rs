//! `tessera keys …`: list, generate, rotate and retire the signing keys kept in the store.

use anyhow::{Context as _, bail};
use tessera_auth::keys::{KeyStatus, load_key_files};
use tessera_auth::{Actor, Auth};
use tessera_core::{Algorithm, KeyOrigin, Timestamp, TokenBackend};

use super::{explain, finish, service, service_creating, timestamp};
use crate::cli::KeysCommand;
use crate::config::Config;

/// Runs one `keys` subcommand.
pub async fn keys(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    if config.jwt.key_source != KeyOrigin::Store {
        return match command {
            KeysCommand::List => describe_settings_key(config),
            _ => bail!(
                "signing keys come from the settings (key_source = \"settings\"); set \
                 TESSERA_KEY_SOURCE=store to keep them in the store and rotate them"
            ),
        };
    }
    // Generating or rotating a key fills the database; listing or retiring needs one.
    let auth = match command {
        KeysCommand::Generate { .. } | KeysCommand::Rotate { .. } => {
            service_creating(config).await?
        }
        KeysCommand::List | KeysCommand::Retire { .. } => service(config).await?,
    };
    let result = run(&auth, command).await;
    let finished = finish(auth).await;
    result.and(finished)
}

async fn run(auth: &Auth, command: KeysCommand) -> anyhow::Result<()> {
    let algorithm = |name: Option<String>| -> anyhow::Result<Option<Algorithm>> {
        name.map(|n| n.parse::<Algorithm>().map_err(anyhow::Error::from))
            .transpose()
    };
    match command {
        KeysCommand::List => {
            let keys = auth.list_keys().await.map_err(explain)?;
            println!(
                "{:<20} {:<6} {:<10} {:<21} {:<21} {:<21} {:<21} encrypted",
                "kid", "alg", "state", "created", "signs from", "signs until", "verifies until"
            );
            for key in &keys {
                print_key(key);
            }
            println!("{} key(s)", keys.len());
        }
        KeysCommand::Generate { algorithm: alg } => {
            let key = auth
                .generate_key(algorithm(alg)?, Actor::CommandLine)
                .await
                .map_err(explain)?;
            println!(
                "Key {} ({}) generated and published; `tessera keys rotate` makes it sign.",
                key.kid, key.algorithm
            );
        }
        KeysCommand::Rotate { algorithm: alg } => {
            let key = auth
                .rotate_key(algorithm(alg)?, Actor::CommandLine)
                .await
                .map_err(explain)?;
            println!(
                "Key {} ({}) signs from {}; the key it replaces verifies its tokens until they expire.",
                key.kid,
                key.algorithm,
                key.activates_at.map_or_else(|| "-".into(), timestamp)
            );
        }
        KeysCommand::Retire { kid } => {
            let key = auth
                .retire_key(&kid, Actor::CommandLine)
                .await
                .map_err(explain)?;
            println!(
                "Key {} no longer signs; it verifies until {}.",
                key.kid,
                key.expires_at.map_or_else(|| "-".into(), timestamp)
            );
        }
    }
    Ok(())
}

fn print_key(key: &KeyStatus) {
    let time = |t: Option<Timestamp>| t.map_or_else(|| "-".into(), timestamp);
    println!(
        "{:<20} {:<6} {:<10} {:<21} {:<21} {:<21} {:<21} {}",
        key.kid,
        key.algorithm,
        key.state.as_str(),
        timestamp(key.created_at),
        time(key.activates_at),
        time(key.retired_at),
        time(key.expires_at),
        if key.encrypted { "yes" } else { "no" }
    );
}

/// The configured key's id and algorithm (what the JWKS publishes).
fn describe_settings_key(config: &Config) -> anyhow::Result<()> {
    let mut settings = load_key_files(config.jwt.clone())?;
    if settings.signing_key.is_none() && config.debug {
        let mut generated = config.clone();
        generated.ensure_signing_key()?;
        settings.signing_key = generated.jwt.signing_key;
    }
    let key = TokenBackend::settings_key(&settings).context("the configured signing key")?;
    println!("Signing keys come from the settings (key_source = \"settings\").");
    println!(
        "kid: {}  algorithm: {}  published in the JWKS: {}",
        key.kid().unwrap_or("(none)"),
        key.algorithm(),
        if key.public_jwk().is_some() {
            "yes"
        } else {
            "no (an HMAC secret)"
        }
    );
    Ok(())
}
