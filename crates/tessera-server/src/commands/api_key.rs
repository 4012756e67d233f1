//! `tessera api-key …` and `tessera user create-service`: API keys and service accounts
//! from the command line, through the same use cases as the HTTP routes.

use anyhow::bail;
use tessera_auth::api_keys::ApiKeyRequest;
use tessera_auth::audit::{Audit, event};
use tessera_auth::{Auth, AuthError};
use tessera_store::{ApiKey, User};

use super::{explain, finish, service, timestamp};
use crate::cli::ApiKeyCommand;
use crate::config::Config;

/// Runs one `api-key` subcommand.
pub async fn api_key(config: &Config, command: ApiKeyCommand) -> anyhow::Result<()> {
    let auth = keyed_service(config).await?;
    let result = run(config, &auth, command).await;
    let finished = finish(auth).await;
    result.and(finished)
}

/// The offline service, with the HMAC key the server uses: in debug mode without
/// `api_key_secret` nor `key_encryption_key`, the generated signing key (or, with store-kept
/// signing keys, the generated API key secret) is read, or made, as the server does.
async fn keyed_service(config: &Config) -> anyhow::Result<Auth> {
    if config.api_keys.api_key_secret.is_some() || config.jwt.key_encryption_key.is_some() {
        return service(config).await;
    }
    let mut config = config.clone();
    if config.debug {
        config.ensure_signing_key()?;
        config.ensure_api_key_secret()?;
    }
    service(&config).await
}

async fn run(config: &Config, auth: &Auth, command: ApiKeyCommand) -> anyhow::Result<()> {
    match command {
        ApiKeyCommand::Create {
            login,
            name,
            scopes,
            expires,
        } => {
            let user = find(config, auth, &login).await?;
            let expires_at = match expires {
                Some(text) => {
                    let lifetime = tessera_core::duration::parse(&text)
                        .map_err(|e| anyhow::anyhow!("--expires {text:?}: {e}"))?;
                    Some(auth.now() + lifetime)
                }
                None => None,
            };
            let request = ApiKeyRequest {
                name,
                expires_at,
                scopes: scopes
                    .iter()
                    .flat_map(|s| s.split(','))
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            };
            let created = auth
                .create_api_key(
                    &user,
                    &request,
                    Audit::new(event::API_KEY_CREATED).via_cli(),
                )
                .await
                .map_err(explain)?;
            eprintln!(
                "Created API key {} ({:?}) for user {}. It is shown once; keep it now:",
                created.api_key.prefix, created.api_key.name, user.id
            );
            println!("{}", created.key);
        }
        ApiKeyCommand::List { login } => {
            let user = find(config, auth, &login).await?;
            let keys = auth.api_keys_of(&user).await.map_err(explain)?;
            println!(
                "{:<8}  {:<24} {:<20} {:<20} {:<20} {:<8} scopes",
                "prefix", "name", "created", "last used", "expires", "state"
            );
            for key in &keys {
                print_key(auth, key);
            }
            println!("{} key(s)", keys.len());
        }
        ApiKeyCommand::Revoke { prefix } => {
            let key = auth
                .revoke_api_key(&prefix, None, Audit::new(event::API_KEY_REVOKED).via_cli())
                .await
                .map_err(|error| match error {
                    AuthError::NotFound => anyhow::anyhow!("no API key with prefix {prefix}"),
                    other => explain(other),
                })?;
            println!("Revoked API key {} of user {}.", key.prefix, key.user_id);
        }
    }
    Ok(())
}

fn print_key(auth: &Auth, key: &ApiKey) {
    let time = |at: Option<tessera_core::Timestamp>| at.map_or_else(|| "-".into(), timestamp);
    let state = if key.revoked_at.is_some() {
        "revoked"
    } else if key.is_usable(auth.now()) {
        "active"
    } else {
        "expired"
    };
    let name: String = key.name.chars().take(24).collect();
    println!(
        "{:<8}  {:<24} {:<20} {:<20} {:<20} {:<8} {}",
        key.prefix,
        name,
        timestamp(key.created_at),
        time(key.last_used_at),
        time(key.expires_at),
        state,
        if key.scopes.is_empty() {
            "-".to_owned()
        } else {
            key.scopes.join(",")
        }
    );
}

/// `tessera user create-service NAME`.
pub(crate) async fn create_service(auth: &Auth, name: &str) -> anyhow::Result<()> {
    let user = auth
        .create_service_account(name, Audit::new(event::ADMIN_USER_CREATED).via_cli())
        .await
        .map_err(explain)?;
    println!(
        "Created service account {name} (id {}): it cannot log in with a password; \
         give it a key with `tessera api-key create {name} --name NAME`.",
        user.id
    );
    Ok(())
}

/// The user who logs in with `login`, else the one whose username it is (a service
/// account when users log in by e-mail).
async fn find(config: &Config, auth: &Auth, login: &str) -> anyhow::Result<User> {
    match auth.user_by_login(login).await {
        Ok(user) => return Ok(user),
        Err(AuthError::NotFound) => {}
        Err(error) => return Err(explain(error)),
    }
    match auth.store().user_by_username(login.trim()).await? {
        Some(user) => Ok(user),
        None => bail!(
            "no user with {} or username {login} in {}",
            config.jwt.username_field.as_str(),
            config.database_description()
        ),
    }
}
