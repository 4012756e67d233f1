//! `tessera group …`: create, list, delete groups and grant or revoke their permissions
//! from the command line, as the admin API's `admin/groups/` does (audited, `via = "cli"`).
//! A grant adds rows and a revoke deletes them, so two run at once both count.

use anyhow::bail;
use serde_json::{Map, Value, json};
use tessera_auth::accounts::GroupInput;
use tessera_auth::{Actor, Auth, AuthError};
use tessera_store::{Group, MAX_GRANTS};

use super::{explain, finish, service};
use crate::cli::GroupCommand;
use crate::config::Config;

/// Runs one `group` subcommand.
pub async fn group(config: &Config, command: GroupCommand) -> anyhow::Result<()> {
    let auth = service(config).await?;
    let result = run(&auth, command).await;
    let finished = finish(auth).await;
    result.and(finished)
}

async fn run(auth: &Auth, command: GroupCommand) -> anyhow::Result<()> {
    match command {
        GroupCommand::Create { name, permissions } => {
            let input = parse(json!({"name": name, "permissions": permissions}), false)?;
            let group = auth
                .create_group(input, Actor::CommandLine)
                .await
                .map_err(explain)?;
            println!("Group {} created ({}).", group.name, describe(&group));
        }
        GroupCommand::List => {
            let groups = all_groups(auth).await?;
            println!("{:>6}  {:<30} permissions", "id", "name");
            for group in &groups {
                println!(
                    "{:>6}  {:<30} {}",
                    group.id,
                    group.name,
                    group.permissions.join(" ")
                );
            }
            println!("{} group(s)", groups.len());
        }
        GroupCommand::Delete { name } => {
            let group = find(auth, &name).await?;
            auth.delete_group(&group, Actor::CommandLine)
                .await
                .map_err(explain)?;
            println!("Group {} deleted.", group.name);
        }
        GroupCommand::Grant { name, permissions } => {
            let group = find(auth, &name).await?;
            let updated = auth
                .grant_group_permissions(&group, &permissions, Actor::CommandLine)
                .await
                .map_err(explain)?;
            println!("Group {}: {}.", updated.name, describe(&updated));
        }
        GroupCommand::Revoke { name, permissions } => {
            let group = find(auth, &name).await?;
            let updated = auth
                .revoke_group_permissions(&group, &permissions, Actor::CommandLine)
                .await
                .map_err(explain)?;
            println!("Group {}: {}.", updated.name, describe(&updated));
        }
    }
    Ok(())
}

/// Reads arguments as the admin API reads a request body.
fn parse(data: Value, partial: bool) -> anyhow::Result<GroupInput> {
    let data: Map<String, Value> = match data {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    GroupInput::parse(&data, partial).map_err(explain)
}

/// The group named `name`, or an error saying there is none.
async fn find(auth: &Auth, name: &str) -> anyhow::Result<Group> {
    match auth.group_by_name(name).await {
        Ok(group) => Ok(group),
        Err(AuthError::NotFound) => bail!("no group named {name:?}"),
        Err(error) => Err(explain(error)),
    }
}

/// Every group, oldest first.
async fn all_groups(auth: &Auth) -> anyhow::Result<Vec<Group>> {
    let mut groups = Vec::new();
    let page = i64::try_from(MAX_GRANTS).unwrap_or(1000);
    loop {
        let offset = i64::try_from(groups.len()).unwrap_or(i64::MAX);
        let (count, more) = auth.groups_page(page, offset).await.map_err(explain)?;
        let done = more.is_empty();
        groups.extend(more);
        if done || i64::try_from(groups.len()).unwrap_or(i64::MAX) >= count {
            return Ok(groups);
        }
    }
}

/// `2 permission(s): a.b c.d` or `no permissions`.
fn describe(group: &Group) -> String {
    if group.permissions.is_empty() {
        "no permissions".into()
    } else {
        format!(
            "{} permission(s): {}",
            group.permissions.len(),
            group.permissions.join(" ")
        )
    }
}
