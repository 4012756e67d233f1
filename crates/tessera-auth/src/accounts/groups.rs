//! Groups and permissions, Django's model (`django.contrib.auth`): what a user may do, as
//! `app_label.codename` strings held directly or through groups, checked the way Django's
//! `ModelBackend` checks them — an inactive user holds none, an active superuser holds
//! every one.
//!
//! Staff read groups; only a superuser (or the command line) creates, changes or deletes
//! one (audited as `admin.group_created`, `admin.group_updated`, `admin.group_deleted`).
//! A user's groups and own permissions change through [`Auth::update_user`]
//! ([`AdminUpdate`](super::AdminUpdate)`::groups` and `::user_permissions`), by a
//! superuser only, audited as `admin.user_updated` with the lists set. Any other staff
//! member is refused with [`GROUPS_SUPERUSER_ONLY`](super::GROUPS_SUPERUSER_ONLY) or
//! [`GRANTS_SUPERUSER_ONLY`](super::GRANTS_SUPERUSER_ONLY), audited as
//! `admin.permission_denied`. Staff status alone grants no permission.
//!
//! With `token_permission_claims`, access tokens carry the `groups` and `permissions`
//! claims within [`PERMISSION_CLAIMS_MAX_BYTES`]; past it they are left out (see
//! [`Auth::has_perm`] for the check that always works).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};
use tessera_core::Claims;
use tessera_store::{
    Grants, Group, MAX_GRANTS, MAX_GROUP_NAME_CHARS, StoreError, User, is_valid_permission,
};

use crate::actor::Actor;
use crate::audit::{Audit, event};
use crate::error::AuthError;
use crate::form::{Fields, Text, Trim, too_long};
use crate::service::Auth;

/// The most bytes the `groups` and `permissions` claims of a token take together, as JSON.
/// A user whose grants need more gets a token without the `permissions` claim — and
/// without `groups` too when those alone need more — rather than a token too large for a
/// header: the token answers "not granted" (fail closed) and [`Auth::has_perm`], which
/// reads the store, still answers right. A warning naming the user is logged at each
/// such issue.
pub const PERMISSION_CLAIMS_MAX_BYTES: usize = 4096;

/// DRF's `UniqueValidator` message for a group's name (`Group.name` is `unique=True`).
pub const GROUP_NAME_TAKEN: &str = "group with this name already exists.";

/// DRF's `ListField` message for something that is not a list.
pub fn not_a_list(value: &Value) -> String {
    let kind = match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    };
    format!("Expected a list of items but got type \"{kind}\".")
}

/// DRF's `SlugRelatedField` message for a name no group has.
pub fn unknown_group(name: &str) -> String {
    format!("Object with name={name} does not exist.")
}

/// The message for a string that is not an `app_label.codename` permission.
pub fn invalid_permission(permission: &str) -> String {
    format!("\"{permission}\" is not a valid permission: expected \"app_label.codename\".")
}

/// DRF's `ListField(max_length=…)` message.
fn too_many(max: usize) -> String {
    format!("Ensure this field has no more than {max} elements.")
}

/// How a list field reports a bad item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Items {
    /// DRF's `ManyRelatedField` (`groups`, a `SlugRelatedField(many=True)`): the item's
    /// message under the field; anything but a string is `Invalid value.`.
    Related,
    /// DRF's `ListField(child=CharField())` (`permissions`, `user_permissions`): the item's
    /// message under its index, `{"permissions": {"0": ["…"]}}`; a number is checked as its
    /// text, anything else but a string is `Not a valid string.`.
    Listed,
}

/// Reads the list `name` of `data`, if present: a JSON list of at most [`MAX_GRANTS`]
/// strings, each checked by `check` (a message when it is refused), bad items reported as
/// `items` says. Failures are recorded in `fields`; `None` then, or when the field is
/// absent.
fn read_list(
    data: &Map<String, Value>,
    fields: &mut Fields<'_>,
    name: &str,
    items: Items,
    check: impl Fn(&str) -> Option<String>,
) -> Option<Vec<String>> {
    let value = data.get(name)?;
    if value.is_null() {
        fields.fail(name, "This field may not be null.");
        return None;
    }
    let Value::Array(list) = value else {
        fields.fail(name, not_a_list(value));
        return None;
    };
    if list.len() > MAX_GRANTS {
        fields.fail(name, too_many(MAX_GRANTS));
        return None;
    }
    let mut read = Vec::with_capacity(list.len());
    let mut failed = false;
    for (index, item) in list.iter().enumerate() {
        let checked = match (item, items) {
            (Value::String(text), _) => check(text).map_or_else(|| Ok(text.clone()), Err),
            (Value::Number(number), Items::Listed) => {
                let text = number.to_string();
                check(&text).map_or(Ok(text), Err)
            }
            (_, Items::Related) => Err("Invalid value.".to_owned()),
            (_, Items::Listed) => Err("Not a valid string.".to_owned()),
        };
        match checked {
            Ok(text) => read.push(text),
            Err(message) => {
                failed = true;
                match items {
                    Items::Related => fields.fail(name, message),
                    Items::Listed => fields.fail_item(name, index, message),
                }
            }
        }
    }
    (!failed).then_some(read)
}

/// Reads `groups` (names of groups, checked to exist when the change is made) from `data`.
pub(super) fn read_groups(
    data: &Map<String, Value>,
    fields: &mut Fields<'_>,
) -> Option<Vec<String>> {
    read_list(data, fields, "groups", Items::Related, |name| {
        // A name no group can have is unknown, whatever it holds.
        (name.is_empty() || name.chars().nth(MAX_GROUP_NAME_CHARS).is_some() || name.contains('\0'))
            .then(|| unknown_group(name))
    })
}

/// Reads the permission list `name` (`permissions`, `user_permissions`) from `data`.
pub(super) fn read_permissions(
    data: &Map<String, Value>,
    fields: &mut Fields<'_>,
    name: &str,
) -> Option<Vec<String>> {
    read_list(data, fields, name, Items::Listed, |permission| {
        (!is_valid_permission(permission)).then(|| invalid_permission(permission))
    })
}

/// A group as staff send it: `{"name", "permissions"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupInput {
    /// The name: at most 150 characters, one line, not blank.
    pub name: Option<String>,
    /// The permissions, `app_label.codename` each, at most [`MAX_GRANTS`].
    pub permissions: Option<Vec<String>>,
}

impl GroupInput {
    /// Reads `name` (required unless `partial`, DRF's `CharField(max_length=150)`) and
    /// `permissions` (a list of `app_label.codename` strings, not required: absent, it is
    /// not in the input — none for a new group, unchanged for a PUT or PATCH, as DRF leaves
    /// an omitted field that is not required out of `validated_data`).
    ///
    /// # Errors
    /// DRF's messages, field by field.
    pub fn parse(data: &Map<String, Value>, partial: bool) -> Result<Self, AuthError> {
        let mut fields = Fields::new(data);
        let name = if partial {
            fields.optional("name", Trim::Yes).filter(|name| {
                if name.is_empty() {
                    fields.fail("name", "This field may not be blank.");
                }
                !name.is_empty()
            })
        } else {
            fields.required("name", Trim::Yes)
        };
        let name = name.filter(|name| match check_group_name(name) {
            Some(message) => {
                fields.fail("name", message);
                false
            }
            None => true,
        });
        let permissions = read_permissions(data, &mut fields, "permissions");
        fields.finish()?;
        Ok(Self { name, permissions })
    }
}

/// What is wrong with a group name (at most 150 characters, one line), if anything.
fn check_group_name(name: &str) -> Option<String> {
    if name.chars().nth(MAX_GROUP_NAME_CHARS).is_some() {
        return Some(too_long(MAX_GROUP_NAME_CHARS));
    }
    Text::Line.refusal(name).map(str::to_owned)
}

/// The audit detail of a group.
fn group_detail(group: &Group) -> Value {
    json!({"group_id": group.id, "name": group.name, "permissions": group.permissions})
}

impl Auth {
    /// Whether `user` holds `permission` (`"notes.delete_note"`), as Django's
    /// `User.has_perm` answers with `ModelBackend`: never for an inactive user, always for
    /// an active superuser, otherwise when the user holds it themselves or through one of
    /// their groups. Staff status grants nothing by itself. Reads the store (one query),
    /// so a change counts at once — whatever a token's claims say or leave out.
    ///
    /// # Errors
    /// The store's.
    pub async fn has_perm(&self, user: &User, permission: &str) -> Result<bool, AuthError> {
        if !user.is_active {
            return Ok(false);
        }
        if user.is_superuser {
            return Ok(true);
        }
        if !is_valid_permission(permission) {
            return Ok(false);
        }
        Ok(self
            .store()
            .user_has_permission(user.id, permission)
            .await?)
    }

    /// The permissions `user` holds, themselves or through their groups (Django's
    /// `get_all_permissions`): none for an inactive user. A superuser holds every
    /// permission whatever this set says — there is no list of all permissions to return —
    /// so check one with [`Auth::has_perm`].
    ///
    /// # Errors
    /// The store's.
    pub async fn permissions_of(&self, user: &User) -> Result<BTreeSet<String>, AuthError> {
        if !user.is_active {
            return Ok(BTreeSet::new());
        }
        Ok(self
            .store()
            .effective_permissions(user.id)
            .await?
            .into_iter()
            .collect())
    }

    /// The groups `user` belongs to and the permissions they hold themselves.
    ///
    /// # Errors
    /// The store's.
    pub async fn grants_of(&self, user: &User) -> Result<Grants, AuthError> {
        Ok(self.store().user_grants(user.id).await?)
    }

    /// The grants of each of `users` (a page of a user list), in one query.
    ///
    /// # Errors
    /// The store's.
    pub async fn grants_of_users(
        &self,
        users: &[User],
    ) -> Result<std::collections::HashMap<i64, Grants>, AuthError> {
        let ids: Vec<i64> = users.iter().map(|user| user.id).collect();
        Ok(self.store().grants_of_users(&ids).await?)
    }

    /// The claims `token_permission_claims` adds to user `user_id`'s access tokens:
    /// `groups` and/or `permissions`, or none; within [`PERMISSION_CLAIMS_MAX_BYTES`],
    /// past which `permissions`, then `groups`, are left out (a warning names the user).
    pub(crate) async fn permission_claims(&self, user_id: i64) -> Result<Claims, AuthError> {
        let setting = self.accounts().token_permission_claims;
        let mut groups = None;
        if setting.groups() {
            groups = Some(json!(self.store().user_grants(user_id).await?.groups));
        }
        let mut permissions = None;
        if setting.permissions() {
            permissions = Some(json!(self.store().effective_permissions(user_id).await?));
        }
        let size = |claim: &Option<Value>| claim.as_ref().map_or(0, |v| v.to_string().len());
        let mut left_out = Vec::new();
        if size(&groups) + size(&permissions) > PERMISSION_CLAIMS_MAX_BYTES
            && permissions.take().is_some()
        {
            left_out.push("permissions");
        }
        if size(&groups) > PERMISSION_CLAIMS_MAX_BYTES && groups.take().is_some() {
            left_out.push("groups");
        }
        if !left_out.is_empty() {
            tracing::warn!(
                user_id,
                left_out = ?left_out,
                "a user's grants exceed the {PERMISSION_CLAIMS_MAX_BYTES} bytes a token carries; \
                 the claims were left out of the token (has_perm still reads the store)"
            );
        }
        let mut claims = Claims::new();
        if let Some(groups) = groups {
            claims.insert("groups".into(), groups);
        }
        if let Some(permissions) = permissions {
            claims.insert("permissions".into(), permissions);
        }
        Ok(claims)
    }

    /// The group with id `id`.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when there is none.
    pub async fn group(&self, id: i64) -> Result<Group, AuthError> {
        self.store().group(id).await?.ok_or(AuthError::NotFound)
    }

    /// The group named `name` exactly.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when there is none.
    pub async fn group_by_name(&self, name: &str) -> Result<Group, AuthError> {
        self.store()
            .group_by_name(name)
            .await?
            .ok_or(AuthError::NotFound)
    }

    /// A page of groups, oldest first, `limit` of them after `offset`, and how many there
    /// are.
    ///
    /// # Errors
    /// The store's.
    pub async fn groups_page(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<Group>), AuthError> {
        Ok(self.store().list_groups(limit, offset).await?)
    }

    /// Creates a group (`input.name` is required). Superusers only. Audited as
    /// `admin.group_created`.
    ///
    /// # Errors
    /// [`AuthError::PermissionDenied`] for staff who are not superusers;
    /// [`AuthError::Invalid`] without a name or when a group has it
    /// ([`GROUP_NAME_TAKEN`]); the store's.
    pub async fn create_group(
        &self,
        input: GroupInput,
        actor: Actor<'_>,
    ) -> Result<Group, AuthError> {
        self.authorize_groups(actor, json!({"change": "create", "name": input.name}))
            .await?;
        let Some(name) = input.name else {
            return Err(AuthError::field("name", "This field is required."));
        };
        let permissions = input.permissions.unwrap_or_default();
        let group = match self.store().create_group(&name, &permissions).await {
            Ok(group) => group,
            Err(StoreError::DuplicateGroupName) => {
                return Err(AuthError::field("name", GROUP_NAME_TAKEN));
            }
            Err(error) => return Err(error.into()),
        };
        self.audit(
            actor.plain_event(Audit::new(event::ADMIN_GROUP_CREATED).detail(group_detail(&group))),
        )
        .await;
        Ok(group)
    }

    /// Renames `group` and/or replaces its permissions (what `input` holds). Superusers
    /// only. Audited as `admin.group_updated` with the fields set.
    ///
    /// # Errors
    /// [`AuthError::PermissionDenied`] for staff who are not superusers;
    /// [`AuthError::Invalid`] when another group has the new name; [`AuthError::NotFound`]
    /// when the group was deleted meanwhile; the store's.
    pub async fn update_group(
        &self,
        group: &Group,
        input: GroupInput,
        actor: Actor<'_>,
    ) -> Result<Group, AuthError> {
        self.authorize_groups(actor, json!({"change": "update", "group_id": group.id}))
            .await?;
        let updated = match self
            .store()
            .update_group(
                group.id,
                input.name.as_deref(),
                input.permissions.as_deref(),
            )
            .await
        {
            Ok(Some(updated)) => updated,
            Ok(None) => return Err(AuthError::NotFound),
            Err(StoreError::DuplicateGroupName) => {
                return Err(AuthError::field("name", GROUP_NAME_TAKEN));
            }
            Err(error) => return Err(error.into()),
        };
        let mut detail = json!({"group_id": group.id, "name": updated.name});
        if updated.name != group.name {
            detail["previous_name"] = json!(group.name);
        }
        if input.permissions.is_some() {
            detail["permissions"] = json!(updated.permissions);
        }
        self.audit(actor.plain_event(Audit::new(event::ADMIN_GROUP_UPDATED).detail(detail)))
            .await;
        Ok(updated)
    }

    /// Deletes `group`; its members leave it. Superusers only. Audited as
    /// `admin.group_deleted`. Returns whether it was still there.
    ///
    /// # Errors
    /// [`AuthError::PermissionDenied`] for staff who are not superusers; the store's.
    pub async fn delete_group(&self, group: &Group, actor: Actor<'_>) -> Result<bool, AuthError> {
        self.authorize_groups(actor, json!({"change": "delete", "group_id": group.id}))
            .await?;
        let deleted = self.store().delete_group(group.id).await?;
        if deleted {
            self.audit(
                actor.plain_event(
                    Audit::new(event::ADMIN_GROUP_DELETED).detail(group_detail(group)),
                ),
            )
            .await;
        }
        Ok(deleted)
    }

    /// Adds `permissions` (`app_label.codename` each) to `group`, leaving the others as they
    /// are: one write that adds rows, so grants made at the same time all count.
    /// Superusers only. Audited as `admin.group_updated` with `granted` and the
    /// permissions now held.
    ///
    /// # Errors
    /// [`AuthError::PermissionDenied`] for staff who are not superusers;
    /// [`AuthError::Invalid`] for a string that is not a permission, or when the group
    /// would hold more than [`MAX_GRANTS`]; [`AuthError::NotFound`] when the group was
    /// deleted meanwhile; the store's.
    pub async fn grant_group_permissions(
        &self,
        group: &Group,
        permissions: &[String],
        actor: Actor<'_>,
    ) -> Result<Group, AuthError> {
        self.change_group_permissions(group, permissions, true, actor)
            .await
    }

    /// Removes `permissions` from `group`, leaving the others as they are (one write that
    /// deletes those rows). Superusers only. Audited as `admin.group_updated` with
    /// `revoked` and the permissions now held.
    ///
    /// # Errors
    /// As [`Auth::grant_group_permissions`].
    pub async fn revoke_group_permissions(
        &self,
        group: &Group,
        permissions: &[String],
        actor: Actor<'_>,
    ) -> Result<Group, AuthError> {
        self.change_group_permissions(group, permissions, false, actor)
            .await
    }

    async fn change_group_permissions(
        &self,
        group: &Group,
        permissions: &[String],
        grant: bool,
        actor: Actor<'_>,
    ) -> Result<Group, AuthError> {
        let change = if grant { "granted" } else { "revoked" };
        self.authorize_groups(actor, json!({"change": change, "group_id": group.id}))
            .await?;
        let data = Map::from_iter([("permissions".to_owned(), json!(permissions))]);
        let mut fields = Fields::new(&data);
        let permissions = read_permissions(&data, &mut fields, "permissions");
        fields.finish()?;
        let permissions = permissions.unwrap_or_default();
        let store = self.store();
        let result = if grant {
            store.add_group_permissions(group.id, &permissions).await
        } else {
            store.remove_group_permissions(group.id, &permissions).await
        };
        let updated = match result {
            Ok(Some(updated)) => updated,
            Ok(None) => return Err(AuthError::NotFound),
            Err(StoreError::TooManyGrants) => {
                return Err(AuthError::field("permissions", too_many(MAX_GRANTS)));
            }
            Err(error) => return Err(error.into()),
        };
        let detail = json!({
            "group_id": group.id,
            "name": updated.name,
            change: permissions,
            "permissions": updated.permissions,
        });
        self.audit(actor.plain_event(Audit::new(event::ADMIN_GROUP_UPDATED).detail(detail)))
            .await;
        Ok(updated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn a_group_needs_a_name_and_well_formed_permissions() {
        let data = json!({"permissions": ["Bad", "a.b", 3, {"x": 1}]});
        let err = GroupInput::parse(&object(data), false).unwrap_err();
        let AuthError::Invalid(errors) = err else {
            panic!("{err:?}")
        };
        // DRF's `ListField`: each bad item under its index.
        assert_eq!(
            errors.to_json(),
            json!({
                "name": ["This field is required."],
                "permissions": {
                    "0": [invalid_permission("Bad")],
                    "2": [invalid_permission("3")],
                    "3": ["Not a valid string."],
                },
            })
        );
        // Left out, `permissions` is not in the input: none for a new group, unchanged for
        // a PUT.
        let input = GroupInput::parse(&object(json!({"name": " editors "})), false).unwrap();
        assert_eq!(
            input,
            GroupInput {
                name: Some("editors".into()),
                permissions: None
            }
        );
        let input = GroupInput::parse(&object(json!({"permissions": []})), true).unwrap();
        assert_eq!(
            input,
            GroupInput {
                name: None,
                permissions: Some(vec![])
            }
        );
    }

    #[test]
    fn lists_are_lists_and_bounded() {
        let err = GroupInput::parse(&object(json!({"name": "x", "permissions": "a.b"})), true)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid input: {"permissions":["Expected a list of items but got type \"str\"."]}"#
        );
        let many: Vec<String> = (0..=MAX_GRANTS).map(|i| format!("a.p{i}")).collect();
        let err = GroupInput::parse(&object(json!({"name": "x", "permissions": many})), true)
            .unwrap_err();
        assert!(
            err.to_string().contains("no more than 1000 elements"),
            "{err}"
        );
        let err = GroupInput::parse(&object(json!({"name": "x".repeat(151)})), true).unwrap_err();
        assert!(
            err.to_string().contains("no more than 150 characters"),
            "{err}"
        );
        let err = GroupInput::parse(&object(json!({"name": ""})), true).unwrap_err();
        assert!(err.to_string().contains("may not be blank"), "{err}");
        let err = GroupInput::parse(&object(json!({"permissions": null})), true).unwrap_err();
        assert!(err.to_string().contains("may not be null"), "{err}");
    }

    #[test]
    fn group_names_that_cannot_exist_are_unknown() {
        let data = object(json!({"groups": ["ok", "", "x".repeat(151)]}));
        let mut fields = Fields::new(&data);
        assert_eq!(read_groups(&data, &mut fields), None);
        assert_eq!(
            fields.finish().unwrap_err().to_json(),
            json!({"groups": [unknown_group(""), unknown_group(&"x".repeat(151))]})
        );
    }
}
