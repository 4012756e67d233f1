//! `tessera user …`: list, show and change users from the command line.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::bail;
use tessera_auth::accounts::{AdminUpdate, account_name};
use tessera_auth::{Actor, Auth, AuthError};
use tessera_core::UsernameField;
use tessera_store::User;

use super::createsuperuser::prompt_new_password;
use super::{explain, finish, service, timestamp};
use crate::cli::UserCommand;
use crate::config::Config;

/// Runs one `user` subcommand.
pub async fn user(config: &Config, command: UserCommand) -> anyhow::Result<()> {
    // Creating a service account fills a database, as `createsuperuser` does.
    let auth = match command {
        UserCommand::CreateService { .. } => super::service_creating(config).await?,
        _ => service(config).await?,
    };
    let result = run(config, &auth, command).await;
    let finished = finish(auth).await;
    result.and(finished)
}

async fn run(config: &Config, auth: &Auth, command: UserCommand) -> anyhow::Result<()> {
    let find = |login: String| async move { find(config, auth, &login).await };
    match command {
        UserCommand::List => {
            let users = auth.all_users().await.map_err(explain)?;
            // The login name first: the username column only when users log in with it.
            let by_username = config.jwt.username_field == UsernameField::Username;
            let username_column = |text: &str| {
                if by_username {
                    format!("{text:<30} ")
                } else {
                    String::new()
                }
            };
            println!(
                "{:>6}  {}{:<40} {:<7} {:<6} {:<10} {:<20}",
                "id",
                username_column("username"),
                "email",
                "active",
                "staff",
                "superuser",
                "joined"
            );
            for u in &users {
                println!(
                    "{:>6}  {}{:<40} {:<7} {:<6} {:<10} {:<20}",
                    u.id,
                    username_column(u.username.as_deref().unwrap_or("-")),
                    u.email,
                    yes_no(u.is_active),
                    yes_no(u.is_staff),
                    yes_no(u.is_superuser),
                    timestamp(u.date_joined)
                );
            }
            println!("{} user(s)", users.len());
        }
        UserCommand::Show { login } => {
            let u = find(login).await?;
            let sessions = auth.live_sessions(&u).await.map_err(explain)?;
            println!("id:            {}", u.id);
            println!("email:         {}", u.email);
            println!("username:      {}", u.username.as_deref().unwrap_or("-"));
            println!("name:          {} {}", u.first_name, u.last_name);
            println!("active:        {}", yes_no(u.is_active));
            println!("staff:         {}", yes_no(u.is_staff));
            println!("superuser:     {}", yes_no(u.is_superuser));
            println!("verified:      {}", yes_no(u.email_verified));
            let grants = auth.grants_of(&u).await.map_err(explain)?;
            println!("groups:        {}", list(&grants.groups));
            println!("permissions:   {}", list(&grants.permissions));
            println!(
                "password:      {}",
                if u.has_usable_password() {
                    "set"
                } else {
                    "unusable"
                }
            );
            println!("date joined:   {}", timestamp(u.date_joined));
            println!(
                "last login:    {}",
                u.last_login.map_or("never".into(), timestamp)
            );
            println!("live sessions: {}", sessions.len());
            for s in sessions {
                println!(
                    "  {}  since {}  last used {}  {}  {}",
                    s.id,
                    timestamp(s.created_at),
                    timestamp(s.last_used_at),
                    s.ip.as_deref().unwrap_or("-"),
                    s.user_agent.as_deref().unwrap_or("-")
                );
            }
        }
        UserCommand::SetStaff { login } => {
            let update = AdminUpdate {
                is_staff: Some(true),
                ..AdminUpdate::default()
            };
            let (u, _) = update_user(auth, find(login).await?, update).await?;
            println!("{} is now staff.", name(auth, &u));
        }
        UserCommand::UnsetStaff { login } => {
            let update = AdminUpdate {
                is_staff: Some(false),
                ..AdminUpdate::default()
            };
            let (u, _) = update_user(auth, find(login).await?, update).await?;
            println!("{} is no longer staff.", name(auth, &u));
        }
        UserCommand::ResendVerification { login } => {
            let u = find(login).await?;
            auth.staff_resend_verification(&u, Actor::CommandLine)
                .await
                .map_err(explain)?;
            println!(
                "A verification mail to {} is queued; a running server sends it.",
                u.email
            );
        }
        UserCommand::ResetMfa { login, force } => {
            let u = find(login).await?;
            let reset = auth
                .reset_mfa(&u, Actor::CommandLine, force)
                .await
                .map_err(explain)?;
            if reset.removed_any() {
                println!("{}: two-factor authentication removed.", name(auth, &u));
                if reset.no_way_in {
                    eprintln!(
                        "warning: {} now has no way to sign in (no usable password, no linked \
                         provider, no passkey); set a password with `tessera user set-password`.",
                        name(auth, &u)
                    );
                }
            } else {
                println!(
                    "{} had no two-factor authentication; nothing left to remove.",
                    name(auth, &u)
                );
            }
        }
        UserCommand::Activate { login } => {
            let update = AdminUpdate {
                is_active: Some(true),
                ..AdminUpdate::default()
            };
            let (u, _) = update_user(auth, find(login).await?, update).await?;
            println!("{} is active.", name(auth, &u));
        }
        UserCommand::Deactivate { login } => {
            let update = AdminUpdate {
                is_active: Some(false),
                ..AdminUpdate::default()
            };
            let (u, ended) = update_user(auth, find(login).await?, update).await?;
            println!("{} is inactive; {ended} session(s) ended.", name(auth, &u));
        }
        UserCommand::Set { login, assignments } => {
            let data = assignments_to_fields(auth, &assignments)?;
            let declared = &auth.accounts().user_fields;
            let update = AdminUpdate::parse(&data, declared).map_err(explain)?;
            let (u, ended) = update_user(auth, find(login).await?, update).await?;
            let names: Vec<&str> = data.keys().map(String::as_str).collect();
            println!("{}: set {}.", name(auth, &u), names.join(", "));
            if ended > 0 {
                println!("{ended} session(s) ended.");
            }
        }
        UserCommand::Delete { login, yes } => {
            let u = find(login).await?;
            if !yes
                && !confirm(&format!(
                    "Delete {} and all their sessions? [y/N] ",
                    name(auth, &u)
                ))?
            {
                bail!("not deleted");
            }
            auth.delete_user(&u, Actor::CommandLine)
                .await
                .map_err(explain)?;
            println!("{} deleted.", name(auth, &u));
        }
        UserCommand::SetPassword { login } => {
            let u = find(login).await?;
            let password = prompt_new_password()?;
            let ended = auth.set_password(&u, &password).await.map_err(explain)?;
            println!(
                "Password changed for {}; {ended} session(s) ended.",
                name(auth, &u)
            );
        }
        UserCommand::CreateService { name } => {
            super::api_key::create_service(auth, &name).await?;
        }
    }
    Ok(())
}

/// The user who logs in with `login` (`username_field`), or an error naming the database
/// it was looked for in.
async fn find(config: &Config, auth: &Auth, login: &str) -> anyhow::Result<User> {
    match auth.user_by_login(login).await {
        Ok(user) => Ok(user),
        Err(AuthError::NotFound) => bail!(
            "no user with {} {login} in {}",
            config.jwt.username_field.as_str(),
            config.database_description()
        ),
        Err(error) => Err(explain(error)),
    }
}

/// How the command line names a user: their login name, else their e-mail address.
fn name<'u>(auth: &Auth, user: &'u User) -> &'u str {
    match auth.login_name_of(user) {
        Some(name) if !name.is_empty() => name,
        _ => account_name(user),
    }
}

/// A staff change from the command line, audited as such.
async fn update_user(auth: &Auth, user: User, update: AdminUpdate) -> anyhow::Result<(User, u64)> {
    auth.update_user(&user, update, Actor::CommandLine)
        .await
        .map_err(explain)
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to delete without confirmation; pass --yes");
    }
    print!("{question}");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Items separated by spaces, or `-` for none.
fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(" ")
    }
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

/// The fields `tessera user set` may change, besides the custom ones.
const SETTABLE: &[&str] = &[
    "first_name",
    "last_name",
    "is_active",
    "is_staff",
    "groups",
    "user_permissions",
];

/// The fields whose value is a comma-separated list (`groups=editors,staff`; empty for
/// none).
const LISTS: &[&str] = &["groups", "user_permissions"];

/// `FIELD=VALUE` arguments as the request body the admin API would get: every value a text
/// (a list of texts for [`LISTS`]), read by the field's rules; an unknown field or one
/// named twice is refused.
fn assignments_to_fields(
    auth: &Auth,
    assignments: &[String],
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let declared = &auth.accounts().user_fields;
    let mut data = serde_json::Map::new();
    for assignment in assignments {
        let Some((field, value)) = assignment.split_once('=') else {
            bail!("{assignment:?} is not FIELD=VALUE");
        };
        let known = SETTABLE.contains(&field) || declared.iter().any(|f| f.name == field);
        if !known {
            let mut names: Vec<&str> = SETTABLE.to_vec();
            names.extend(declared.iter().map(|f| f.name.as_str()));
            bail!(
                "unknown field {field:?}; these can be set: {}",
                names.join(", ")
            );
        }
        let value = if LISTS.contains(&field) {
            serde_json::Value::from(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .collect::<Vec<_>>(),
            )
        } else {
            serde_json::Value::String(value.to_owned())
        };
        if data.insert(field.to_owned(), value).is_some() {
            bail!("{field:?} is set twice");
        }
    }
    Ok(data)
}
