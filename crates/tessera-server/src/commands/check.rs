//! `tessera check`: is this configuration valid, and is it fit for production?

use tessera_core::KeyOrigin;

use crate::config::{Config, Finding, Severity};

/// Prints every finding — the configuration's, the mail settings', and with
/// `key_source = "store"` the stored keys' — and fails, for production, when one of them
/// is an error.
pub async fn check(config: &Config, deploy: bool) -> anyhow::Result<()> {
    let production = deploy || !config.debug;
    let mut findings = config.findings();
    findings.extend(stored_key_findings(config).await);
    findings.extend(totp_secret_findings(config).await);
    findings.extend(stranded_passkey_findings(config).await);
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

/// The TOTP secrets the store keeps unencrypted (`plain:`, written without a
/// `key_encryption_key`): an error — the server seals them when it starts with a key, and
/// refuses to start outside debug mode without one. Nothing is created: a SQLite file that
/// does not exist yet holds no secret.
async fn totp_secret_findings(config: &Config) -> Vec<Finding> {
    if config.database_url.is_none() && !config.data_dir.join("tessera.db").exists() {
        return Vec::new();
    }
    let secrets = match crate::startup::open_store(config).await {
        Ok(store) => {
            let secrets = store.totp_secrets().await;
            store.close().await;
            secrets
        }
        Err(error) => {
            return vec![Finding::warning(
                "key_encryption_key",
                format!("the TOTP secrets could not be read: {error:#}"),
            )];
        }
    };
    match secrets {
        Ok(secrets) => {
            let plain = secrets
                .iter()
                .filter(|(_, stored)| !tessera_core::is_sealed(stored))
                .count();
            if plain == 0 {
                Vec::new()
            } else {
                let how = if config.jwt.key_encryption_key.is_some() {
                    "`tessera serve` seals them when it starts"
                } else {
                    "set TESSERA_KEY_ENCRYPTION_KEY to a random secret of 32 bytes or more; \
                     `tessera serve` then seals them when it starts"
                };
                vec![Finding::error(
                    "key_encryption_key",
                    format!(
                        "the store keeps {plain} TOTP secret(s) unencrypted (second factors set \
                         up without a key-encryption key); {how}"
                    ),
                )]
            }
        }
        // A database not migrated yet holds no secret.
        Err(_) => Vec::new(),
    }
}

/// Passkeys unavailable (the relying party derived from `public_url` cannot be served)
/// while the store holds passkeys: an error — their users would be asked for a passkey
/// they could not use, and `tessera serve` refuses to start. Nothing is created: a SQLite
/// file that does not exist yet holds no passkey.
async fn stranded_passkey_findings(config: &Config) -> Vec<Finding> {
    let Err(why) = config.passkeys.relying_party(&config.public_url()) else {
        return Vec::new();
    };
    if config.database_url.is_none() && !config.data_dir.join("tessera.db").exists() {
        return Vec::new();
    }
    let held = match crate::startup::open_store(config).await {
        Ok(store) => {
            let held = store.passkey_total().await;
            store.close().await;
            held
        }
        Err(error) => {
            return vec![Finding::warning(
                "webauthn_rp_id",
                format!("the passkeys could not be counted: {error:#}"),
            )];
        }
    };
    match held {
        Ok(held) if held > 0 => vec![Finding::error(
            "webauthn_rp_id",
            format!(
                "passkeys are unavailable ({why}) but the store holds {held} passkey(s) their \
                 users need; set TESSERA_PUBLIC_URL (or webauthn_rp_id) to the domain they \
                 were registered for"
            ),
        )],
        // None, or a database not migrated yet.
        _ => Vec::new(),
    }
}

/// With keys kept in the store and a `key_encryption_key`, the private keys still stored
/// unencrypted (the server seals them when it starts). Nothing is created: a SQLite file
/// that does not exist yet holds no key.
async fn stored_key_findings(config: &Config) -> Vec<Finding> {
    if config.jwt.key_source != KeyOrigin::Store || config.jwt.key_encryption_key.is_none() {
        return Vec::new();
    }
    if config.database_url.is_none() && !config.data_dir.join("tessera.db").exists() {
        return Vec::new();
    }
    let keys = match crate::startup::open_store(config).await {
        Ok(store) => {
            let keys = store.signing_keys().await;
            store.close().await;
            keys
        }
        Err(error) => {
            return vec![Finding::warning(
                "key_source",
                format!("the stored keys could not be read: {error:#}"),
            )];
        }
    };
    match keys {
        Ok(keys) => {
            let plain: Vec<&str> = keys
                .iter()
                .filter(|k| tessera_core::plain_private_key(&k.private_key).is_some())
                .map(|k| k.kid.as_str())
                .collect();
            if plain.is_empty() {
                Vec::new()
            } else {
                vec![Finding::error(
                    "key_encryption_key",
                    format!(
                        "is set, but the store keeps {} private key(s) unencrypted ({}); \
                         `tessera serve` seals them when it starts — then rotate them, as \
                         anyone who could read the database could read them",
                        plain.len(),
                        plain.join(", ")
                    ),
                )]
            }
        }
        Err(error) => vec![Finding::warning(
            "key_source",
            format!("the stored keys could not be read: {error}"),
        )],
    }
}
