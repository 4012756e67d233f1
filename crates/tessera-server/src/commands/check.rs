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
    findings.extend(store_findings(config, production).await);
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

/// What the service finds in the store that `tessera serve` would refuse to start with,
/// by the same rules ([`Auth::plain_totp_secrets`](tessera_auth::Auth::plain_totp_secrets),
/// [`Auth::stranded_passkeys`](tessera_auth::Auth::stranded_passkeys)):
///
/// * TOTP secrets kept unencrypted (`plain:`, written without a `key_encryption_key`) — an
///   error for production (the server seals them when it starts with a key, and refuses to
///   start outside debug mode without one), a warning in debug mode, where it starts;
/// * passkeys while passkeys are unavailable (the relying party derived from `public_url`
///   cannot be served) — an error: their users would be asked for a passkey they could not
///   use, and `tessera serve` refuses to start.
///
/// Nothing is created nor migrated: a SQLite file that does not exist yet, or a database
/// not migrated yet, holds neither.
async fn store_findings(config: &Config, production: bool) -> Vec<Finding> {
    if config.database_url.is_none() && !config.data_dir.join("tessera.db").exists() {
        return Vec::new();
    }
    let auth = match crate::startup::open_store(config).await {
        Ok(store) => super::service_over(config, store).await,
        Err(error) => Err(error),
    };
    let auth = match auth {
        Ok(auth) => auth,
        Err(error) => {
            return vec![Finding::warning(
                "database_url",
                format!("the store could not be read: {error:#}"),
            )];
        }
    };
    let mut findings = Vec::new();
    // A database not migrated yet holds no secret and no passkey: its errors say nothing.
    if let Ok(plain) = auth.plain_totp_secrets().await
        && plain > 0
    {
        let how = if config.jwt.key_encryption_key.is_some() {
            "`tessera serve` seals them when it starts"
        } else {
            "set TESSERA_KEY_ENCRYPTION_KEY to a random secret of 32 bytes or more; \
             `tessera serve` then seals them when it starts"
        };
        let message = format!(
            "the store keeps {plain} TOTP secret(s) unencrypted (second factors set up \
             without a key-encryption key); {how}"
        );
        findings.push(if production {
            Finding::error("key_encryption_key", message)
        } else {
            Finding::warning("key_encryption_key", message)
        });
    }
    if let Ok(Some((why, held))) = auth.stranded_passkeys().await {
        findings.push(Finding::error(
            "webauthn_rp_id",
            crate::startup::stranded_passkeys_message(&why, held),
        ));
    }
    auth.store().close().await;
    findings
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
