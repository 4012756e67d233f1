//! `tessera createsuperuser`, as Django's: interactive, or `--no-input` with the password in
//! `TESSERA_SUPERUSER_PASSWORD`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::bail;
use tessera_auth::AuthError;
use tessera_auth::accounts::{EMAIL_TAKEN, NewAccount};

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
    let auth = service(config).await?;
    // The address first, as Django does: nobody types a password for a taken address.
    let email = match auth.check_new_email(&email).await {
        Ok(email) => email,
        Err(error) => {
            finish(auth).await?;
            return Err(superuser_error(error, args.no_input));
        }
    };
    let password = if args.no_input {
        std::env::var("TESSERA_SUPERUSER_PASSWORD").ok()
    } else {
        match prompt_new_password() {
            Ok(password) => Some(password),
            Err(error) => {
                finish(auth).await?;
                return Err(error);
            }
        }
    };
    let unusable = password.is_none();
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
    let finished = finish(auth).await;
    created.map_err(|error| superuser_error(error, args.no_input))?;
    finished?;
    if unusable {
        println!(
            "Superuser created with an unusable password (TESSERA_SUPERUSER_PASSWORD was not set)."
        );
    } else {
        println!("Superuser created successfully.");
    }
    Ok(())
}

/// A refusal as `createsuperuser` words it: Django's messages for a taken address or
/// username, else the field errors, naming the variable a password came from.
fn superuser_error(error: AuthError, no_input: bool) -> anyhow::Error {
    match error {
        AuthError::Invalid(errors) => {
            let email = errors.to_json()["email"][0].as_str().map(str::to_owned);
            if email.as_deref() == Some(EMAIL_TAKEN) {
                anyhow::anyhow!("That email is already taken.")
            } else if errors.has("username") && !errors.has("password") {
                anyhow::anyhow!("That username is already taken.")
            } else if no_input && errors.has("password") {
                anyhow::anyhow!("{} (TESSERA_SUPERUSER_PASSWORD)", errors.sentences())
            } else {
                anyhow::anyhow!("{}", errors.sentences())
            }
        }
        other => explain(other),
    }
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
