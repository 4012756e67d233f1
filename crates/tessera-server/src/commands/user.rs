//! `tessera user …`: list, show and change users from the command line.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use tessera_axum::audit::event;
use tessera_axum::{Audit, reason};
use tessera_store::{PasswordHasher, Store, User, UserFlags};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::createsuperuser::prompt_new_password;
use super::{audit, check_password, migrated_store};
use crate::cli::UserCommand;
use crate::config::Config;

/// Runs one `user` subcommand.
pub async fn user(config: &Config, command: UserCommand) -> anyhow::Result<()> {
    let store = migrated_store(config).await?;
    let result = run(config, &store, command).await;
    store.close().await;
    result
}

async fn run(config: &Config, store: &Store, command: UserCommand) -> anyhow::Result<()> {
    let now = tessera_core::Clock::system();
    match command {
        UserCommand::List => {
            let users = store.list_users().await?;
            println!(
                "{:>6}  {:<40} {:<7} {:<6} {:<10} {:<20}",
                "id", "email", "active", "staff", "superuser", "joined"
            );
            for u in &users {
                println!(
                    "{:>6}  {:<40} {:<7} {:<6} {:<10} {:<20}",
                    u.id,
                    u.email,
                    yes_no(u.is_active),
                    yes_no(u.is_staff),
                    yes_no(u.is_superuser),
                    timestamp(u.date_joined)
                );
            }
            println!("{} user(s)", users.len());
        }
        UserCommand::Show { email } => {
            let u = find(store, &email).await?;
            let sessions = store.live_sessions(u.id, now.now_secs()).await?;
            println!("id:            {}", u.id);
            println!("email:         {}", u.email);
            println!("username:      {}", u.username.as_deref().unwrap_or("-"));
            println!("name:          {} {}", u.first_name, u.last_name);
            println!("active:        {}", yes_no(u.is_active));
            println!("staff:         {}", yes_no(u.is_staff));
            println!("superuser:     {}", yes_no(u.is_superuser));
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
        UserCommand::SetStaff { email } => {
            flag(
                store,
                &email,
                UserFlags {
                    is_staff: Some(true),
                    ..Default::default()
                },
                "is now staff",
            )
            .await?
        }
        UserCommand::UnsetStaff { email } => {
            flag(
                store,
                &email,
                UserFlags {
                    is_staff: Some(false),
                    ..Default::default()
                },
                "is no longer staff",
            )
            .await?;
        }
        UserCommand::Activate { email } => {
            flag(
                store,
                &email,
                UserFlags {
                    is_active: Some(true),
                    ..Default::default()
                },
                "is active",
            )
            .await?;
        }
        UserCommand::Deactivate { email } => {
            let u = find(store, &email).await?;
            store
                .set_user_flags(
                    u.id,
                    &UserFlags {
                        is_active: Some(false),
                        ..Default::default()
                    },
                )
                .await?;
            let ended = store
                .revoke_user_sessions(u.id, reason::DEACTIVATED, now.now_micros())
                .await?;
            let detail = json!({"is_active": false, "sessions_ended": ended});
            audit(
                store,
                user_event(event::ADMIN_USER_UPDATED, &u).detail(detail),
            )
            .await?;
            println!("{} is inactive; {ended} session(s) ended.", u.email);
        }
        UserCommand::Delete { email, yes } => {
            let u = find(store, &email).await?;
            if !yes
                && !confirm(&format!(
                    "Delete {} and all their sessions? [y/N] ",
                    u.email
                ))?
            {
                bail!("not deleted");
            }
            if store.delete_user(u.id).await? {
                audit(store, user_event(event::ADMIN_USER_DELETED, &u)).await?;
            }
            println!("{} deleted.", u.email);
        }
        UserCommand::SetPassword { email } => {
            let u = find(store, &email).await?;
            let password = prompt_new_password()?;
            let attributes = vec![
                ("username", u.username.as_deref().unwrap_or_default()),
                ("email", u.email.as_str()),
                ("first_name", u.first_name.as_str()),
                ("last_name", u.last_name.as_str()),
            ];
            check_password(config, &password, &attributes)?;
            let hash = PasswordHasher::hash_blocking(&password)?;
            let ended = store
                .change_password(u.id, &hash, reason::PASSWORD_CHANGED, now.now_micros())
                .await?
                .unwrap_or(0);
            let detail = json!({"sessions_ended": ended});
            audit(
                store,
                user_event(event::ADMIN_PASSWORD_SET, &u).detail(detail),
            )
            .await?;
            println!(
                "Password changed for {}; {ended} session(s) ended.",
                u.email
            );
        }
    }
    Ok(())
}

async fn find(store: &Store, email: &str) -> anyhow::Result<User> {
    store
        .user_by_email(email)
        .await?
        .with_context(|| format!("no user with email {email}"))
}

/// An event about `user` (the e-mail address kept, for a deleted account's sake).
fn user_event(name: &str, user: &User) -> Audit {
    Audit::new(name).user(user.id).login_name(&user.email)
}

async fn flag(store: &Store, email: &str, flags: UserFlags, done: &str) -> anyhow::Result<()> {
    let u = find(store, email).await?;
    store.set_user_flags(u.id, &flags).await?;
    let mut changes = serde_json::Map::new();
    for (name, value) in [
        ("is_active", flags.is_active),
        ("is_staff", flags.is_staff),
        ("is_superuser", flags.is_superuser),
    ] {
        if let Some(value) = value {
            changes.insert(name.into(), Value::Bool(value));
        }
    }
    audit(
        store,
        user_event(event::ADMIN_USER_UPDATED, &u).detail(Value::Object(changes)),
    )
    .await?;
    println!("{} {done}.", u.email);
    Ok(())
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

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

fn timestamp(micros: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .ok()
        .and_then(|t| t.replace_nanosecond(0).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| micros.to_string())
}
