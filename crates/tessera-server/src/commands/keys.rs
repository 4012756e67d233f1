//! `tessera keys …`: list, generate, rotate and retire the signing keys kept in the store,
//! and the checks `tessera check` makes of the key settings.

use anyhow::{Context as _, bail};
use tessera_auth::keys::{KeyStatus, load_key_files};
use tessera_auth::{Actor, Auth};
use tessera_core::{Algorithm, KeyOrigin, TokenBackend};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{explain, finish, service};
use crate::cli::KeysCommand;
use crate::config::{Config, Finding};

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
    let auth = service(config).await?;
    let result = run(&auth, command).await;
    finish(auth).await;
    result
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
    let time = |t: Option<i64>| t.map_or_else(|| "-".into(), timestamp);
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

fn timestamp(micros: i64) -> String {
    OffsetDateTime::from_unix_timestamp(micros.div_euclid(1_000_000))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| micros.to_string())
}

/// What makes the key settings unfit for production.
pub(crate) fn findings(config: &Config) -> Vec<Finding> {
    let jwt = &config.jwt;
    let mut findings = Vec::new();
    if jwt.key_source == KeyOrigin::Store && jwt.key_encryption_key.is_none() {
        findings.push(Finding::error(
            "key_encryption_key",
            "private keys kept in the store are not encrypted; set TESSERA_KEY_ENCRYPTION_KEY to a \
             random secret of 32 bytes or more, e.g. `openssl rand -base64 32`",
        ));
    }
    if jwt.key_source == KeyOrigin::Settings && jwt.key_encryption_key.is_some() {
        findings.push(Finding::warning(
            "key_encryption_key",
            "is unused: only keys kept in the store (key_source = \"store\") are encrypted with it",
        ));
    }
    if let Some(url) = &jwt.jwk_url
        && let Some(rest) = url.strip_prefix("http://")
    {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        let loopback =
            host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
        let message =
            "is fetched over plain HTTP: anyone on the path can substitute keys; use https://";
        findings.push(if loopback {
            Finding::warning("jwk_url", message)
        } else {
            Finding::error("jwk_url", message)
        });
    }
    if !jwt.algorithm.is_hmac()
        && jwt.key_source == KeyOrigin::Settings
        && jwt.signing_key.is_none()
        && jwt.signing_key_file.is_none()
    {
        findings.push(Finding::error(
            "signing_key",
            format!(
                "no {} private key is configured; set TESSERA_SIGNING_KEY_FILE to a PEM file, or \
                 TESSERA_KEY_SOURCE=store",
                jwt.algorithm
            ),
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Severity;

    fn severity_of(config: &Config, setting: &str) -> Option<Severity> {
        findings(config)
            .into_iter()
            .find(|f| f.setting == setting)
            .map(|f| f.severity)
    }

    #[test]
    fn store_kept_keys_need_a_key_encryption_key() {
        let mut config = Config::default();
        config.jwt.key_source = KeyOrigin::Store;
        assert_eq!(
            severity_of(&config, "key_encryption_key"),
            Some(Severity::Error)
        );
        config.jwt.key_encryption_key = Some("k".repeat(32).into());
        assert_eq!(severity_of(&config, "key_encryption_key"), None);
        config.jwt.key_source = KeyOrigin::Settings;
        assert_eq!(
            severity_of(&config, "key_encryption_key"),
            Some(Severity::Warning)
        );
    }

    #[test]
    fn a_plain_http_jwk_url_is_unsafe_beyond_this_machine() {
        let mut config = Config::default();
        config.jwt.jwk_url = Some("http://issuer.example/jwks.json".into());
        assert_eq!(severity_of(&config, "jwk_url"), Some(Severity::Error));
        config.jwt.jwk_url = Some("http://127.0.0.1:9000/jwks.json".into());
        assert_eq!(severity_of(&config, "jwk_url"), Some(Severity::Warning));
        config.jwt.jwk_url = Some("https://issuer.example/jwks.json".into());
        assert_eq!(severity_of(&config, "jwk_url"), None);
    }

    #[test]
    fn an_asymmetric_algorithm_needs_a_private_key() {
        let mut config = Config::default();
        config.jwt.algorithm = Algorithm::RS256;
        assert_eq!(severity_of(&config, "signing_key"), Some(Severity::Error));
        config.jwt.signing_key_file = Some("key.pem".into());
        assert_eq!(severity_of(&config, "signing_key"), None);
    }
}
