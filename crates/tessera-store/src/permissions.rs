//! Groups and permissions, Django's model: groups with a unique name and a set of
//! permissions, users who belong to groups and hold permissions of their own. A permission
//! is an `app_label.codename` string (`notes.delete_note`), as Django's `User.has_perm`
//! takes it.
//!
//! A user's effective permissions — their own and their groups' — are one query
//! ([`Store::effective_permissions`]), and one permission is one `EXISTS`
//! ([`Store::user_has_permission`]). Replacing a user's groups and permissions (with the
//! rest of an admin change: [`Store::update_user_and_grants`]), or a group's permissions,
//! is one transaction: a reader sees the old set or the new one. Adding or removing some
//! of a group's permissions ([`Store::add_group_permissions`],
//! [`Store::remove_group_permissions`]) touches those rows only, so two such changes made
//! at once both count.

use std::collections::{BTreeSet, HashMap};

use crate::engine::Retry;
use crate::error::{Result, StoreError, map_user_write_error};
use crate::users::{SET_USER_FLAGS, UPDATE_PROFILE};
use crate::{Extra, Store, User, UserFlags, UserUpdate, normalize_email};

/// The longest group name, in characters (Django's `Group.name`, `max_length=150`).
pub const MAX_GROUP_NAME_CHARS: usize = 150;
/// The longest permission, in characters: an app label and a codename of at most 100
/// characters each (Django's `ContentType.app_label` and `Permission.codename`) and the dot.
pub const MAX_PERMISSION_CHARS: usize = 201;
/// The most entries one list holds: a group's permissions, a user's groups, a user's own
/// permissions.
pub const MAX_GRANTS: usize = 1000;

/// Whether `permission` is an `app_label.codename` string: two non-empty parts of at most
/// 100 characters each, of ASCII lower-case letters, digits and `_`, joined by one dot.
///
/// ```
/// use tessera_store::is_valid_permission;
/// assert!(is_valid_permission("notes.delete_note"));
/// assert!(!is_valid_permission("notes"));
/// assert!(!is_valid_permission("Notes.Delete"));
/// assert!(!is_valid_permission("a.b.c"));
/// ```
pub fn is_valid_permission(permission: &str) -> bool {
    let part = |text: &str| {
        (1..=100).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    match permission.split_once('.') {
        Some((app_label, codename)) => part(app_label) && part(codename),
        None => false,
    }
}

/// A group: its name and its permissions (sorted).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Group {
    /// Primary key.
    pub id: i64,
    /// Unique name, at most [`MAX_GROUP_NAME_CHARS`] characters.
    pub name: String,
    /// Its permissions, sorted.
    pub permissions: Vec<String>,
}

/// What a user was granted directly: the groups they belong to and their own permissions
/// (Django's `User.groups` and `User.user_permissions`), each sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Grants {
    /// The names of the user's groups, sorted.
    pub groups: Vec<String>,
    /// The user's own permissions (not those of their groups), sorted.
    pub permissions: Vec<String>,
}

/// A change of a user's grants: `None` leaves a list as it is, `Some` replaces it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantsUpdate {
    /// The names of the groups the user belongs to.
    pub groups: Option<Vec<String>>,
    /// The permissions the user holds themselves.
    pub permissions: Option<Vec<String>>,
}

/// Replaces user `$user_id`'s groups (by name) and own permissions, as `$groups` and
/// `$permissions` (`Option<Vec<&str>>`) say, in the transaction `$tx`; returns
/// [`StoreError::UnknownGroup`] from the enclosing block for a name no group has. Written
/// once, expanded for each engine.
macro_rules! write_grants {
    ($tx:ident, $user_id:expr, $groups:expr, $permissions:expr) => {
        if let Some(groups) = $groups {
            sqlx::query("DELETE FROM user_groups WHERE user_id = $1")
                .bind($user_id)
                .execute(&mut *$tx)
                .await?;
            for name in groups {
                let added = sqlx::query(
                    "INSERT INTO user_groups (user_id, group_id) \
                     SELECT $1, id FROM groups WHERE name = $2",
                )
                .bind($user_id)
                .bind(*name)
                .execute(&mut *$tx)
                .await?;
                if added.rows_affected() == 0 {
                    return Err(StoreError::UnknownGroup((*name).to_owned()));
                }
            }
        }
        if let Some(permissions) = $permissions {
            sqlx::query("DELETE FROM user_permissions WHERE user_id = $1")
                .bind($user_id)
                .execute(&mut *$tx)
                .await?;
            for permission in permissions {
                sqlx::query("INSERT INTO user_permissions (user_id, permission) VALUES ($1, $2)")
                    .bind($user_id)
                    .bind(*permission)
                    .execute(&mut *$tx)
                    .await?;
            }
        }
    };
}

/// A user's effective permissions: their own and their groups', without duplicates, sorted.
const EFFECTIVE_PERMISSIONS: &str = "SELECT permission FROM user_permissions WHERE user_id = $1 \
     UNION SELECT gp.permission FROM user_groups ug \
     JOIN group_permissions gp ON gp.group_id = ug.group_id WHERE ug.user_id = $1 \
     ORDER BY 1";

/// Whether a user holds a permission, directly or through a group.
const HAS_PERMISSION: &str = "SELECT EXISTS (SELECT 1 FROM user_permissions \
     WHERE user_id = $1 AND permission = $2) \
     OR EXISTS (SELECT 1 FROM user_groups ug JOIN group_permissions gp \
     ON gp.group_id = ug.group_id WHERE ug.user_id = $1 AND gp.permission = $2)";

/// A user's groups and own permissions, tagged `g` and `p`.
const USER_GRANTS: &str = "SELECT 'g' AS kind, g.name AS value FROM user_groups ug \
     JOIN groups g ON g.id = ug.group_id WHERE ug.user_id = $1 \
     UNION ALL SELECT 'p', permission FROM user_permissions WHERE user_id = $1 \
     ORDER BY 1, 2";

/// Maps a unique violation (the only one a group write can meet is the name's) to
/// [`StoreError::DuplicateGroupName`].
fn map_group_write_error(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::DuplicateGroupName,
        _ => StoreError::Database(err),
    }
}

/// `items` sorted, without duplicates.
fn distinct(items: &[String]) -> Vec<&str> {
    items
        .iter()
        .map(String::as_str)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

impl Store {
    /// Creates the group `name` with `permissions` (duplicates ignored) in one transaction.
    ///
    /// # Errors
    /// [`StoreError::DuplicateGroupName`] when a group has that name; the database error.
    pub async fn create_group(&self, name: &str, permissions: &[String]) -> Result<Group> {
        let permissions = distinct(permissions);
        db!(write self, Retry::NotApplied, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            let id: i64 = sqlx::query_scalar("INSERT INTO groups (name) VALUES ($1) RETURNING id")
                .bind(name)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_group_write_error)?;
            for permission in &permissions {
                sqlx::query(
                    "INSERT INTO group_permissions (group_id, permission) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(*permission)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(Group {
                id,
                name: name.to_owned(),
                permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            })
        }
        .await)
    }

    /// The group with this id.
    ///
    /// # Errors
    /// The database error.
    pub async fn group(&self, id: i64) -> Result<Option<Group>> {
        let row = fetch!(
            self,
            fetch_optional,
            (i64, String),
            "SELECT id, name FROM groups WHERE id = $1",
            id
        )?;
        match row {
            Some((id, name)) => Ok(Some(self.with_permissions(id, name).await?)),
            None => Ok(None),
        }
    }

    /// The group with exactly this name.
    ///
    /// # Errors
    /// The database error.
    pub async fn group_by_name(&self, name: &str) -> Result<Option<Group>> {
        let row = fetch!(
            self,
            fetch_optional,
            (i64, String),
            "SELECT id, name FROM groups WHERE name = $1",
            name
        )?;
        match row {
            Some((id, name)) => Ok(Some(self.with_permissions(id, name).await?)),
            None => Ok(None),
        }
    }

    async fn with_permissions(&self, id: i64, name: String) -> Result<Group> {
        let permissions = fetch!(
            self,
            fetch_all,
            (String,),
            "SELECT permission FROM group_permissions WHERE group_id = $1 ORDER BY permission",
            id
        )?;
        Ok(Group {
            id,
            name,
            permissions: permissions.into_iter().map(|(p,)| p).collect(),
        })
    }

    /// One page of groups, ordered by id, with their permissions, and how many groups there
    /// are: three queries whatever the page's size.
    ///
    /// # Errors
    /// The database error.
    pub async fn list_groups(&self, limit: i64, offset: i64) -> Result<(i64, Vec<Group>)> {
        let (count,) = fetch!(self, fetch_one, (i64,), "SELECT COUNT(*) FROM groups")?;
        let rows = fetch!(
            self,
            fetch_all,
            (i64, String),
            "SELECT id, name FROM groups ORDER BY id LIMIT $1 OFFSET $2",
            limit,
            offset
        )?;
        let grants = fetch!(
            self,
            fetch_all,
            (i64, String),
            "SELECT group_id, permission FROM group_permissions WHERE group_id IN \
             (SELECT id FROM groups ORDER BY id LIMIT $1 OFFSET $2) \
             ORDER BY group_id, permission",
            limit,
            offset
        )?;
        let groups = rows
            .into_iter()
            .map(|(id, name)| Group {
                id,
                name,
                permissions: grants
                    .iter()
                    .filter(|(group, _)| *group == id)
                    .map(|(_, p)| p.clone())
                    .collect(),
            })
            .collect();
        Ok((count, groups))
    }

    /// Renames group `id` (when `name` is given) and replaces its permissions (when
    /// `permissions` is given), in one transaction. `None` when there is no such group.
    ///
    /// # Errors
    /// [`StoreError::DuplicateGroupName`] when another group has the new name; the database
    /// error.
    pub async fn update_group(
        &self,
        id: i64,
        name: Option<&str>,
        permissions: Option<&[String]>,
    ) -> Result<Option<Group>> {
        let permissions = permissions.map(distinct);
        let changed = db!(write self, Retry::Idempotent, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            let found = sqlx::query("UPDATE groups SET name = COALESCE($2, name) WHERE id = $1")
                .bind(id)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(map_group_write_error)?;
            if found.rows_affected() == 0 {
                return Ok(false);
            }
            if let Some(permissions) = &permissions {
                sqlx::query("DELETE FROM group_permissions WHERE group_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                for permission in permissions {
                    sqlx::query(
                        "INSERT INTO group_permissions (group_id, permission) VALUES ($1, $2)",
                    )
                    .bind(id)
                    .bind(*permission)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
            Ok::<_, StoreError>(true)
        }
        .await)?;
        if changed {
            self.group(id).await
        } else {
            Ok(None)
        }
    }

    /// Deletes group `id`, its permissions and its memberships. `false` if there is no such
    /// group.
    ///
    /// # Errors
    /// The database error.
    pub async fn delete_group(&self, id: i64) -> Result<bool> {
        Ok(changed_rows!(self, "DELETE FROM groups WHERE id = $1", id)? > 0)
    }

    /// The groups user `user_id` belongs to and the permissions they hold themselves.
    ///
    /// # Errors
    /// The database error.
    pub async fn user_grants(&self, user_id: i64) -> Result<Grants> {
        let rows = fetch!(self, fetch_all, (String, String), USER_GRANTS, user_id)?;
        let mut grants = Grants::default();
        for (kind, value) in rows {
            if kind == "g" {
                grants.groups.push(value);
            } else {
                grants.permissions.push(value);
            }
        }
        Ok(grants)
    }

    /// The grants of each of `user_ids` (a page of a user list), in one query: every id
    /// given has an entry, empty when the user has none. At most 1000 ids.
    ///
    /// # Errors
    /// The database error.
    pub async fn grants_of_users(&self, user_ids: &[i64]) -> Result<HashMap<i64, Grants>> {
        let mut grants: HashMap<i64, Grants> =
            user_ids.iter().map(|id| (*id, Grants::default())).collect();
        let user_ids = &user_ids[..user_ids.len().min(MAX_GRANTS)];
        if user_ids.is_empty() {
            return Ok(grants);
        }
        // Placeholders only, numbered: the ids are bound.
        let list = (1..=user_ids.len())
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT ug.user_id, 'g' AS kind, g.name AS value FROM user_groups ug \
             JOIN groups g ON g.id = ug.group_id WHERE ug.user_id IN ({list}) \
             UNION ALL SELECT user_id, 'p', permission FROM user_permissions \
             WHERE user_id IN ({list}) ORDER BY 1, 2, 3"
        );
        let rows = db!(self, Retry::Idempotent, |pool| {
            let mut query =
                sqlx::query_as::<_, (i64, String, String)>(sqlx::AssertSqlSafe(sql.as_str()));
            for id in user_ids {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await
        })?;
        for (user_id, kind, value) in rows {
            let entry = grants.entry(user_id).or_default();
            if kind == "g" {
                entry.groups.push(value);
            } else {
                entry.permissions.push(value);
            }
        }
        Ok(grants)
    }

    /// Replaces user `user_id`'s groups (by name, when `groups` is given) and own permissions
    /// (when `permissions` is given) in one transaction. `None` when there is no such user.
    ///
    /// # Errors
    /// [`StoreError::UnknownGroup`] naming the first name no group has (nothing changed);
    /// the database error.
    pub async fn set_user_grants(
        &self,
        user_id: i64,
        groups: Option<&[String]>,
        permissions: Option<&[String]>,
    ) -> Result<Option<Grants>> {
        let groups = groups.map(distinct);
        let permissions = permissions.map(distinct);
        let found = db!(write self, Retry::Idempotent, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            let user: Option<(i64,)> = sqlx::query_as(engine.pick(
                "SELECT id FROM users WHERE id = $1",
                "SELECT id FROM users WHERE id = $1 FOR UPDATE",
            ))
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
            if user.is_none() {
                return Ok(false);
            }
            write_grants!(tx, user_id, &groups, &permissions);
            tx.commit().await?;
            Ok::<_, StoreError>(true)
        }
        .await);
        let found = self.counted(found)?;
        if found {
            Ok(Some(self.user_grants(user_id).await?))
        } else {
            Ok(None)
        }
    }

    /// [`Store::update_user`] with flags and grants: sets `flags`, changes the profile as
    /// `update` says and replaces the user's groups and own permissions as `grants` says,
    /// all in one transaction — when a group is unknown, nothing changes. `None` when
    /// there is no such user.
    ///
    /// # Errors
    /// [`StoreError::UnknownGroup`] naming the first name no group has;
    /// [`StoreError::DuplicateEmail`] / [`StoreError::DuplicateUsername`] when the new
    /// address or username is someone else's; the database error.
    pub async fn update_user_and_grants(
        &self,
        id: i64,
        flags: &UserFlags,
        update: &UserUpdate,
        grants: &GrantsUpdate,
    ) -> Result<Option<User>> {
        let email = update.email.as_deref().map(normalize_email);
        let groups = grants.groups.as_deref().map(distinct);
        let permissions = grants.permissions.as_deref().map(distinct);
        let (active, staff, superuser) = (flags.is_active, flags.is_staff, flags.is_superuser);
        let updated = db!(write self, Retry::Idempotent, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            let current: Option<(sqlx::types::Json<Extra>, String)> = sqlx::query_as(engine.pick(
                "SELECT extra, email FROM users WHERE id = $1",
                "SELECT extra, email FROM users WHERE id = $1 FOR UPDATE",
            ))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((sqlx::types::Json(mut extra), old_email)) = current else {
                return Ok(None);
            };
            if active.is_some() || staff.is_some() || superuser.is_some() {
                sqlx::query(SET_USER_FLAGS)
                    .bind(id)
                    .bind(active)
                    .bind(staff)
                    .bind(superuser)
                    .execute(&mut *tx)
                    .await?;
            }
            extra.extend(update.extra.clone());
            let user = sqlx::query_as::<_, User>(UPDATE_PROFILE)
                .bind(id)
                .bind(email.as_deref())
                .bind(update.first_name.as_deref())
                .bind(update.last_name.as_deref())
                .bind(sqlx::types::Json(&extra))
                .bind(update.username.as_deref())
                .bind(update.email_verified)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_user_write_error)?;
            if email.as_deref().is_some_and(|new| new != old_email) {
                // Every account token was bound to the old address, or mailed to it.
                sqlx::query("DELETE FROM account_tokens WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            write_grants!(tx, id, &groups, &permissions);
            tx.commit().await?;
            Ok::<_, StoreError>(user)
        }
        .await);
        self.counted(updated)
    }

    /// Adds `permissions` to group `id` (those it holds stay; the others are left alone).
    /// `None` when there is no such group.
    ///
    /// # Errors
    /// [`StoreError::TooManyGrants`] when the group would hold more than [`MAX_GRANTS`]
    /// (nothing changed); the database error.
    pub async fn add_group_permissions(
        &self,
        id: i64,
        permissions: &[String],
    ) -> Result<Option<Group>> {
        let permissions = distinct(permissions);
        let bound = i64::try_from(MAX_GRANTS).unwrap_or(i64::MAX);
        let found = db!(write self, Retry::Idempotent, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            let group: Option<(i64,)> = sqlx::query_as(engine.pick(
                "SELECT id FROM groups WHERE id = $1",
                "SELECT id FROM groups WHERE id = $1 FOR UPDATE",
            ))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            if group.is_none() {
                return Ok(false);
            }
            for permission in &permissions {
                sqlx::query(
                    "INSERT INTO group_permissions (group_id, permission) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(*permission)
                .execute(&mut *tx)
                .await?;
            }
            let (held,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM group_permissions WHERE group_id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            if held > bound {
                return Err(StoreError::TooManyGrants);
            }
            tx.commit().await?;
            Ok::<_, StoreError>(true)
        }
        .await)?;
        if found {
            self.group(id).await
        } else {
            Ok(None)
        }
    }

    /// Removes `permissions` from group `id` (the others stay). `None` when there is no
    /// such group.
    ///
    /// # Errors
    /// The database error.
    pub async fn remove_group_permissions(
        &self,
        id: i64,
        permissions: &[String],
    ) -> Result<Option<Group>> {
        let permissions = distinct(permissions);
        let found = db!(write self, Retry::Idempotent, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            let group: Option<(i64,)> = sqlx::query_as("SELECT id FROM groups WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            if group.is_none() {
                return Ok(false);
            }
            for permission in &permissions {
                sqlx::query(
                    "DELETE FROM group_permissions WHERE group_id = $1 AND permission = $2",
                )
                .bind(id)
                .bind(*permission)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(true)
        }
        .await)?;
        if found {
            self.group(id).await
        } else {
            Ok(None)
        }
    }

    /// User `user_id`'s effective permissions: their own and their groups', sorted, without
    /// duplicates. Flags are not looked at: a superuser's or an inactive user's permissions
    /// are the service's rule.
    ///
    /// # Errors
    /// The database error.
    pub async fn effective_permissions(&self, user_id: i64) -> Result<Vec<String>> {
        let rows = fetch!(self, fetch_all, (String,), EFFECTIVE_PERMISSIONS, user_id)?;
        Ok(rows.into_iter().map(|(p,)| p).collect())
    }

    /// Whether user `user_id` holds `permission`, themselves or through a group: one query.
    ///
    /// # Errors
    /// The database error.
    pub async fn user_has_permission(&self, user_id: i64, permission: &str) -> Result<bool> {
        let (held,) = fetch!(
            self,
            fetch_one,
            (bool,),
            HAS_PERMISSION,
            user_id,
            permission
        )?;
        Ok(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_are_app_label_dot_codename() {
        for good in [
            "notes.delete_note",
            "auth.add_user",
            "a1.b_2",
            &format!("{}.{}", "a".repeat(100), "b".repeat(100)),
        ] {
            assert!(is_valid_permission(good), "{good}");
        }
        for bad in [
            "",
            ".",
            "notes.",
            ".delete",
            "notes",
            "Notes.delete",
            "notes.delete-note",
            "notes.delete note",
            "a.b.c",
            "notes.délete",
            &format!("{}.b", "a".repeat(101)),
            &format!("a.{}", "b".repeat(101)),
        ] {
            assert!(!is_valid_permission(bad), "{bad}");
        }
    }
}
