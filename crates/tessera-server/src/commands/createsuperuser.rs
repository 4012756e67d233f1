//! `tessera createsuperuser`, as Django's: interactive, or `--no-input` with the password in
//! `TESSERA_SUPERUSER_PASSWORD`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::bail;
use tessera_auth::AuthError;
use tessera_auth::accounts::NewAccount;

use super::{explain, finish, service};
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

/// Creates the superuser, under the same address and password rules as registration.
pub async fn create_superuser(config: &Config, args: CreateSuperuser) -> anyhow::Result<()> {
    let email = match (args.email, args.no_input) {
        (Some(email), _) => email.trim().to_owned(),
        (None, true) => bail!("--email is required with --no-input"),
        (None, false) => prompt_line("Email address: ")?,
    };
    let password = if args.no_input {
        std::env::var("TESSERA_SUPERUSER_PASSWORD").ok()
    } else {
        Some(prompt_new_password()?)
    };
    let unusable = password.is_none();
    let auth = service(config).await?;
    let created = auth
        .create_account(NewAccount {
            email,
            username: args.username,
            first_name: args.first_name,
            last_name: args.last_name,
            password,
            superuser: true,
        })
        .await;
    finish(auth).await;
    match created {
        Ok(_) => {}
        Err(AuthError::Invalid(errors)) if errors.has("email") && !errors.has("password") => {
            match errors.to_json()["email"][0].as_str() {
                Some(taken) if taken.contains("already exists") => {
                    bail!("That email is already taken.")
                }
                _ => bail!("{}", errors.sentences()),
            }
        }
        Err(AuthError::Invalid(errors)) if errors.has("username") => {
            bail!("That username is already taken.")
        }
        Err(AuthError::Invalid(errors)) if args.no_input => {
            bail!("{} (TESSERA_SUPERUSER_PASSWORD)", errors.sentences())
        }
        Err(error) => return Err(explain(error)),
    }
    if unusable {
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
        bail!("Your passwords didn't match.");
    }
    Ok(first)
}
