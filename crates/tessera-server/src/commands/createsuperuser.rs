//! `tessera createsuperuser`, as Django's: interactive, or `--no-input` with the password in
//! `TESSERA_SUPERUSER_PASSWORD`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::{Context as _, bail};
use tessera_axum::Audit;
use tessera_axum::audit::event;
use tessera_store::{NewUser, PasswordHasher, StoreError};

use super::{audit, check_email, check_password, migrated_store};
use crate::config::Config;

/// What `createsuperuser` was given on the command line.
#[derive(Debug, Clone, Default)]
pub struct CreateSuperuser {
    /// E-mail address.
    pub email: Option<String>,
    /// Optional username.
    pub username: Option<String>,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Ask nothing.
    pub no_input: bool,
}

/// Creates the superuser.
pub async fn create_superuser(config: &Config, args: CreateSuperuser) -> anyhow::Result<()> {
    let email = match (args.email, args.no_input) {
        (Some(email), _) => email.trim().to_owned(),
        (None, true) => bail!("--email is required with --no-input"),
        (None, false) => prompt_line("Email address: ")?,
    };
    check_email(&email).context("email")?;
    let password = if args.no_input {
        std::env::var("TESSERA_SUPERUSER_PASSWORD").ok()
    } else {
        Some(prompt_new_password()?)
    };
    let password_hash = match &password {
        Some(password) => {
            let attributes = vec![
                ("username", args.username.as_deref().unwrap_or_default()),
                ("email", email.as_str()),
                ("first_name", args.first_name.as_str()),
                ("last_name", args.last_name.as_str()),
            ];
            check_password(config, password, &attributes).context("password")?;
            PasswordHasher::hash_blocking(password)?
        }
        None => "!".to_owned(),
    };
    let store = migrated_store(config).await?;
    let created = store
        .create_user(&NewUser {
            email,
            username: args.username.filter(|u| !u.trim().is_empty()),
            first_name: args.first_name.trim().to_owned(),
            last_name: args.last_name.trim().to_owned(),
            password_hash,
            is_active: true,
            is_staff: true,
            is_superuser: true,
            date_joined: tessera_core::Clock::system().now_micros(),
            // Custom user fields start at their configured defaults.
            extra: config
                .accounts
                .user_fields
                .iter()
                .filter_map(|f| Some((f.name.clone(), f.default.clone()?)))
                .collect(),
        })
        .await;
    let audited = match &created {
        Ok(user) => {
            let created = Audit::new(event::ADMIN_USER_CREATED)
                .user(user.id)
                .login_name(&user.email)
                .detail(serde_json::json!({"is_staff": true, "is_superuser": true}));
            audit(&store, created).await
        }
        Err(_) => Ok(()),
    };
    store.close().await;
    match created {
        Ok(_) => audited?,
        Err(StoreError::DuplicateEmail) => bail!("Error: That email is already taken."),
        Err(StoreError::DuplicateUsername) => bail!("Error: That username is already taken."),
        Err(e) => return Err(e.into()),
    }
    if password.is_none() {
        println!(
            "Superuser created with an unusable password (TESSERA_SUPERUSER_PASSWORD was not set)."
        );
    } else {
        println!("Superuser created successfully.");
    }
    Ok(())
}

fn prompt_line(prompt: &str) -> anyhow::Result<String> {
    print!("{prompt}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        bail!("no input (use --no-input with --email and TESSERA_SUPERUSER_PASSWORD)");
    }
    Ok(line.trim().to_owned())
}

/// A new password: asked twice on a terminal, or one line from standard input.
pub(crate) fn prompt_new_password() -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let password = line
            .strip_suffix('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .unwrap_or(&line);
        return Ok(password.to_owned());
    }
    let first = rpassword::prompt_password("Password: ")?;
    let second = rpassword::prompt_password("Password (again): ")?;
    if first != second {
        bail!("Error: Your passwords didn't match.");
    }
    Ok(first)
}
