//! `tessera createsuperuser`, as Django's: interactive, or `--no-input` with the password in
//! `TESSERA_SUPERUSER_PASSWORD`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::bail;
use tessera_auth::accounts::{EMAIL_TAKEN, NewAccount};
use tessera_auth::rules::USERNAME_TAKEN;
use tessera_auth::{Auth, AuthError};
use tessera_core::UsernameField;

use super::{explain, finish, service_creating};
use crate::config::Config;

/// What `createsuperuser` was given on the command line.
#[derive(Debug, Clone, Default)]
pub struct CreateSuperuser {
    /// E-mail address.
    pub email: Option<String>,
    /// Username: required with `username_field = "username"`, optional otherwise.
    pub username: Option<String>,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Ask nothing.
    pub no_input: bool,
}

/// Creates the superuser, under the same username, address and password rules as
/// registration. With `username_field = "username"` the username comes first (asked for,
/// or `--username`), then the address, which may be left blank unless
/// `registration_email_required`.
pub async fn create_superuser(config: &Config, args: CreateSuperuser) -> anyhow::Result<()> {
    let by_username = config.jwt.username_field == UsernameField::Username;
    if args.no_input && by_username && args.username.is_none() {
        bail!("--username is required with --no-input");
    }
    let auth = service_creating(config).await?;
    let names = login_names(&auth, by_username, args.username, args.email, args.no_input).await;
    let (username, email) = match names {
        Ok(names) => names,
        Err(error) => {
            finish(auth).await?;
            return Err(error);
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
            username,
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

/// The new superuser's username and address, given or asked for and checked. The login
/// name first, as Django does: nobody types a password for a taken name. Whether the
/// address may be blank is the service's rule ([`Auth::email_is_optional`]).
async fn login_names(
    auth: &Auth,
    by_username: bool,
    username: Option<String>,
    email: Option<String>,
    no_input: bool,
) -> anyhow::Result<(Option<String>, String)> {
    let email_optional = auth.email_is_optional();
    let email = match (email, no_input) {
        (Some(email), _) => Some(email.trim().to_owned()),
        (None, true) if email_optional => Some(String::new()),
        (None, true) => bail!("--email is required with --no-input"),
        // Django asks for the login field first: the address first only in e-mail mode.
        (None, false) if !by_username => Some(prompt_line("Email address: ")?),
        (None, false) => None,
    };
    if by_username {
        return new_username_then_email(auth, username, email, email_optional, no_input).await;
    }
    let email = email.unwrap_or_default();
    auth.check_new_email(&email)
        .await
        .map(|email| (username, email))
        .map_err(|error| superuser_error(error, no_input))
}

/// Username mode: the username (given or asked for) checked, then the address (given or
/// asked for) checked unless it is blank and may be.
async fn new_username_then_email(
    auth: &Auth,
    username: Option<String>,
    email: Option<String>,
    email_optional: bool,
    no_input: bool,
) -> anyhow::Result<(Option<String>, String)> {
    let refused = |error| superuser_error(error, no_input);
    let typed = match username {
        Some(username) => username,
        None => prompt_line("Username: ")?,
    };
    let username = auth.check_new_username(&typed).await.map_err(refused)?;
    let email = match email {
        Some(email) => email,
        None if email_optional => prompt_line("Email address (blank for none): ")?,
        None => prompt_line("Email address: ")?,
    };
    if email.is_empty() && email_optional {
        return Ok((Some(username), email));
    }
    let email = auth.check_new_email(&email).await.map_err(refused)?;
    Ok((Some(username), email))
}

/// A refusal as `createsuperuser` words it: Django's messages for a taken address or
/// username, else the field errors, naming the variable a password came from.
fn superuser_error(error: AuthError, no_input: bool) -> anyhow::Error {
    match error {
        AuthError::Invalid(errors) => {
            let email = errors.to_json()["email"][0].as_str().map(str::to_owned);
            if email.as_deref() == Some(EMAIL_TAKEN) {
                anyhow::anyhow!("That email is already taken.")
            } else if username_taken(&errors) {
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

/// Whether the refusal is a taken username (Django's own sentence then).
fn username_taken(errors: &tessera_auth::form::FieldErrors) -> bool {
    errors.to_json()["username"]
        .as_array()
        .is_some_and(|messages| messages.iter().any(|m| m == USERNAME_TAKEN))
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
