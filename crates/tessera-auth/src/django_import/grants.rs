//! The import of a Django project's groups and its users' grants, for what a run creates
//! only: a group Tessera does not have is created with its permissions, and a user the run
//! creates gets their memberships (in groups matched by name) and direct permissions, at
//! most [`MAX_GRANTS`] of each. A group Tessera already has keeps its permissions, and a
//! user the run did not create — imported before, or an account linked with
//! `--merge-existing` — keeps their groups and permissions: the report counts those rows
//! as skipped. So a re-run never gives back access taken away in Tessera, and an account
//! made in Tessera never inherits Django's grants.

use std::collections::{BTreeMap, HashMap, HashSet};

use tessera_store::django::{DjangoGrants, DjangoGroup, DjangoImport};
use tessera_store::{MAX_GRANTS, MAX_GROUP_NAME_CHARS, is_valid_permission};

use super::import::{Outcome, count, note};
use super::report::ImportReport;
use crate::error::AuthError;

/// Django's table of group permissions, named in notes.
const GROUP_PERMISSIONS: &str = "auth_group_permissions";
/// Django's table of groups, named in notes.
const GROUPS: &str = "auth_group";
/// Why the grants of a user the run did not create are left alone.
const NOT_CREATED: &str = "the user was not created by this run (imported before, or linked \
                           with --merge-existing): Django's grants come only with a new user";

/// Rows of one table left out, counted by user and reason, for one note each.
#[derive(Debug, Default)]
struct LeftOut(BTreeMap<(i64, String), u64>);

impl LeftOut {
    fn add(&mut self, user: i64, reason: String) {
        *self.0.entry((user, reason)).or_default() += 1;
    }

    /// One note per user and reason, under `table`.
    fn report(self, table: &str, report: &mut ImportReport) {
        for ((user, reason), rows) in self.0 {
            report.skipped.push(note(
                table,
                user,
                format!("{rows} row(s) left out: {reason}"),
            ));
        }
    }
}

/// Imports `grants` (see the module documentation) for the users of `created`, the users
/// this run creates.
pub(super) async fn import_grants(
    tx: &mut DjangoImport,
    grants: &DjangoGrants,
    user_table: &str,
    created: &HashSet<i64>,
    report: &mut ImportReport,
) -> Result<(), AuthError> {
    // Django's group id → Tessera's.
    let mut ids = HashMap::new();
    for group in &grants.groups {
        let (outcome, id) = import_group(tx, group, report).await?;
        if let Outcome::Skipped(reason) = &outcome {
            report.skipped.push(note(GROUPS, group.id, reason.clone()));
        }
        if let Some(id) = id {
            ids.insert(group.id, id);
        }
        count(&mut report.groups, &outcome);
    }
    let memberships = format!("{user_table}_groups");
    let mut left_out = LeftOut::default();
    let mut held: HashMap<i64, usize> = HashMap::new();
    for &(user, group) in &grants.memberships {
        let outcome = match ids.get(&group) {
            _ if !created.contains(&user) => Outcome::Skipped(NOT_CREATED.into()),
            None => Outcome::Skipped(format!("group {group} was not imported")),
            Some(_) if held.get(&user).copied().unwrap_or(0) >= MAX_GRANTS => {
                Outcome::Skipped(format!("the user is in more than {MAX_GRANTS} groups"))
            }
            Some(&id) if tx.add_user_group(user, id).await? => Outcome::Created,
            Some(_) => Outcome::Unchanged,
        };
        match &outcome {
            Outcome::Skipped(reason) => left_out.add(user, reason.clone()),
            _ => *held.entry(user).or_default() += 1,
        }
        count(&mut report.group_memberships, &outcome);
    }
    left_out.report(&memberships, report);
    let direct = format!("{user_table}_user_permissions");
    let mut left_out = LeftOut::default();
    let mut held: HashMap<i64, usize> = HashMap::new();
    for (user, permission) in &grants.user_permissions {
        let outcome = if !created.contains(user) {
            Outcome::Skipped(NOT_CREATED.into())
        } else if !is_valid_permission(permission) {
            Outcome::Skipped(not_a_permission(permission))
        } else if held.get(user).copied().unwrap_or(0) >= MAX_GRANTS {
            Outcome::Skipped(format!("the user holds more than {MAX_GRANTS} permissions"))
        } else if tx.add_user_permission(*user, permission).await? {
            Outcome::Created
        } else {
            Outcome::Unchanged
        };
        match &outcome {
            Outcome::Skipped(reason) => left_out.add(*user, reason.clone()),
            _ => *held.entry(*user).or_default() += 1,
        }
        count(&mut report.user_permissions, &outcome);
    }
    left_out.report(&direct, report);
    for (table, id) in &grants.unresolved {
        let reason = "its permission or group is not in the data read".to_owned();
        if *table == memberships {
            report.group_memberships.skipped += 1;
        } else if *table == direct {
            report.user_permissions.skipped += 1;
        }
        let table = if table == GROUP_PERMISSIONS {
            GROUPS
        } else {
            table
        };
        report.skipped.push(note(table, *id, reason));
    }
    Ok(())
}

/// The reason a permission Tessera cannot hold is left out.
fn not_a_permission(permission: &str) -> String {
    let shown: String = permission.chars().take(64).collect();
    format!("{shown:?} is not a permission Tessera holds (app_label.codename, lower case)")
}

/// One group: created with its permissions (those Tessera can hold), or — when Tessera has
/// a group of that name — left as it is (unchanged when it holds the same permissions,
/// skipped when not); and its Tessera id, unless its name is one Tessera cannot hold.
async fn import_group(
    tx: &mut DjangoImport,
    group: &DjangoGroup,
    report: &mut ImportReport,
) -> Result<(Outcome, Option<i64>), AuthError> {
    let name = &group.name;
    if name.trim().is_empty()
        || name.chars().nth(MAX_GROUP_NAME_CHARS).is_some()
        || name.chars().any(char::is_control)
    {
        let reason = "the name is not one Tessera can hold (at most 150 characters, no \
                      control characters)";
        return Ok((Outcome::Skipped(reason.into()), None));
    }
    let mut permissions = Vec::new();
    for permission in &group.permissions {
        if is_valid_permission(permission) {
            permissions.push(permission.clone());
        } else {
            report
                .warnings
                .push(note(GROUPS, group.id, not_a_permission(permission)));
        }
    }
    if permissions.len() > MAX_GRANTS {
        report.warnings.push(note(
            GROUPS,
            group.id,
            format!("it has more than {MAX_GRANTS} permissions; the first {MAX_GRANTS} were kept"),
        ));
        permissions.truncate(MAX_GRANTS);
    }
    permissions.sort();
    permissions.dedup();
    Ok(match tx.group_by_name(name).await? {
        None => {
            let id = tx.insert_group(name).await?;
            tx.set_group_permissions(id, &permissions).await?;
            (Outcome::Created, Some(id))
        }
        Some((id, held)) if held == permissions => (Outcome::Unchanged, Some(id)),
        Some((id, _)) => {
            let reason = "Tessera has a group of this name: its permissions were left as \
                          they are (new users still join it)";
            (Outcome::Skipped(reason.into()), Some(id))
        }
    })
}
