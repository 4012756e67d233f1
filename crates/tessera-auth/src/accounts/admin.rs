//! What staff (the admin API) and the command line do to users: change them, deactivate
//! them, delete them, end their sessions, lift their lockout. Each is one use case, audited
//! with who acted.
//!
//! # Privilege rules
//!
//! - Only a superuser grants or removes staff status, and only a superuser changes,
//!   deactivates, deletes or ends the sessions of a superuser account (lifting a lockout
//!   harms nobody and stays open to staff). The command line acts as the operator, with
//!   full power.
//! - Only a superuser changes what anyone may do: a user's groups and own permissions
//!   (`groups`, `user_permissions`), and groups — creating, changing or deleting one.
//!   Staff who are not superusers may read them.
//! - Nobody — the command line included — demotes (removes staff status), deactivates or
//!   deletes the last *active superuser*: an active account that is staff and superuser,
//!   the one who can still do everything through the admin API.
//!
//! A refusal is [`AuthError::PermissionDenied`] with its reason, audited as
//! `admin.permission_denied`.

use serde_json::{Map, Value, json};
use tessera_core::UsernameField;
use tessera_store::{GrantsUpdate, StoreError, User, UserFlags, UserUpdate};
use tokio::sync::Mutex;

use super::claims::account_name;
use super::groups::{read_groups, read_permissions, unknown_group};
use super::input::read_name;
use crate::actor::Actor;
use crate::audit::event;
use crate::error::AuthError;
use crate::form::Fields;
use crate::rules::{UserField, drf_bool};
use crate::service::Auth;
use tessera_store::RevokeReason;

/// What staff may change about a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminUpdate {
    /// Active or not; deactivating ends every session.
    pub is_active: Option<bool>,
    /// Staff (admin API) or not.
    pub is_staff: Option<bool>,
    /// Whether the e-mail address counts as verified (users cannot set it; staff can).
    pub email_verified: Option<bool>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Custom user fields to set, by name, as their declarations parse them — read-only
    /// ones included: read-only means users cannot set it, not staff.
    pub extra: Map<String, Value>,
    /// The names of the groups the user belongs to, replacing the current ones (Django's
    /// `User.groups`). Only a superuser (or the command line) sets it.
    pub groups: Option<Vec<String>>,
    /// The permissions the user holds themselves, replacing the current ones (Django's
    /// `User.user_permissions`). Only a superuser (or the command line) sets it.
    pub user_permissions: Option<Vec<String>>,
}

impl AdminUpdate {
    /// Reads `is_active`, `is_staff`, `email_verified` (DRF `BooleanField`s), `first_name` and `last_name`
    /// (at most 150 characters), `groups` (group names) and `user_permissions`
    /// (`app_label.codename` strings), lists of at most 1000, and every custom field of
    /// `declared` (read-only ones too) from `data`; other fields are ignored, as DRF
    /// ignores them.
    ///
    /// # Errors
    /// DRF's messages, field by field.
    pub fn parse(data: &Map<String, Value>, declared: &[UserField]) -> Result<Self, AuthError> {
        let mut fields = Fields::new(data);
        let flag = |fields: &mut Fields<'_>, name: &str| {
            let value = data.get(name)?;
            if let Some(flag) = drf_bool(value) {
                return Some(flag);
            }
            let message = match value {
                Value::Null => "This field may not be null.",
                _ => "Must be a valid boolean.",
            };
            fields.fail(name, message);
            None
        };
        let is_active = flag(&mut fields, "is_active");
        let is_staff = flag(&mut fields, "is_staff");
        let email_verified = flag(&mut fields, "email_verified");
        let first_name = read_name(&mut fields, "first_name");
        let last_name = read_name(&mut fields, "last_name");
        let groups = read_groups(data, &mut fields);
        let user_permissions = read_permissions(data, &mut fields, "user_permissions");
        let mut extra = Map::new();
        for field in declared {
            if let Some(value) = data.get(&field.name) {
                match field.parse(value) {
                    Ok(parsed) => {
                        extra.insert(field.name.clone(), parsed);
                    }
                    Err(message) => fields.fail(&field.name, message),
                }
            }
        }
        fields.finish()?;
        Ok(Self {
            is_active,
            is_staff,
            email_verified,
            first_name,
            last_name,
            extra,
            groups,
            user_permissions,
        })
    }
}

/// Only superusers may act on superusers.
pub const SUPERUSER_ONLY: &str = "Only a superuser may change, deactivate, delete, end the sessions of or manage the API keys of a superuser account.";
/// Only superusers may grant or remove staff status.
pub const STAFF_FLAG_SUPERUSER_ONLY: &str = "Only a superuser may grant or remove staff status.";
/// Only superusers may change a user's groups or permissions.
pub const GRANTS_SUPERUSER_ONLY: &str =
    "Only a superuser may change a user's groups or permissions.";
/// Only superusers may create, change or delete groups.
pub const GROUPS_SUPERUSER_ONLY: &str = "Only a superuser may create, change or delete groups.";
/// The last active superuser stays.
pub const LAST_SUPERUSER: &str =
    "The last active superuser cannot be demoted, deactivated or deleted.";

/// What an administrator does to a user, for the privilege rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    /// A change: `is_active` and `is_staff` as set (`None`: left alone); names and custom
    /// fields may change too, and the user's groups and own permissions when `grants`.
    Update {
        /// The new `is_active`, if set.
        is_active: Option<bool>,
        /// The new `is_staff`, if set.
        is_staff: Option<bool>,
        /// Whether the user's groups or own permissions are set.
        grants: bool,
    },
    /// Deleting the account.
    Delete,
    /// Ending every session.
    RevokeSessions,
    /// Lifting a login lockout.
    Unlock,
    /// Removing the account's second factors (TOTP, recovery codes, passkeys).
    ResetMfa,
    /// Listing or revoking the account's API keys.
    ApiKeys,
    /// Creating, changing or deleting a group (no user is its target).
    Groups,
}

impl AdminAction {
    /// The action's name in the audit event (`detail.action`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Update { .. } => "update",
            Self::Delete => "delete",
            Self::RevokeSessions => "revoke_sessions",
            Self::Unlock => "unlock",
            Self::ResetMfa => "reset_mfa",
            Self::ApiKeys => "api_keys",
            Self::Groups => "groups",
        }
    }

    /// Why only a superuser (or the command line) takes this action, whoever its target,
    /// if that is so: it changes what someone may do.
    fn superuser_only(self) -> Option<&'static str> {
        match self {
            Self::Update { grants: true, .. } => Some(GRANTS_SUPERUSER_ONLY),
            Self::Groups => Some(GROUPS_SUPERUSER_ONLY),
            _ => None,
        }
    }

    /// Whether the action leaves `target` without the active-superuser standing it has.
    fn removes_superuser(self, target: &User) -> bool {
        if !is_active_superuser(target) {
            return false;
        }
        match self {
            Self::Update {
                is_active,
                is_staff,
                ..
            } => is_active == Some(false) || is_staff == Some(false),
            Self::Delete => true,
            Self::RevokeSessions | Self::Unlock | Self::ResetMfa | Self::ApiKeys | Self::Groups => {
                false
            }
        }
    }
}

/// An active account that is staff and superuser: one who can do everything through the
/// admin API.
fn is_active_superuser(user: &User) -> bool {
    user.is_active && user.is_staff && user.is_superuser
}

/// The privilege rules: why `actor` (`None`: the command line) may not take `action` on
/// `target`, if it may not; `others_remain` tells whether another active superuser (active,
/// staff and superuser) than `target` exists.
///
/// - Only a superuser grants or removes staff status, and only a superuser changes,
///   deactivates, deletes, ends the sessions of or lists and revokes the API keys of a
///   superuser account (lifting a lockout stays open to staff). The command line acts as the operator, with full power.
/// - Only a superuser changes a user's groups or own permissions, or a group (see
///   [`actor_refusal`]).
/// - Nobody, the command line included, demotes (removes staff status), deactivates or
///   deletes the last active superuser.
pub fn admin_refusal(
    actor: Option<&User>,
    target: &User,
    action: AdminAction,
    others_remain: bool,
) -> Option<&'static str> {
    let superuser_acts = actor.is_none_or(|actor| actor.is_superuser);
    if !superuser_acts {
        if let Some(reason) = actor_refusal(actor, action) {
            return Some(reason);
        }
        if target.is_superuser && action != AdminAction::Unlock {
            return Some(SUPERUSER_ONLY);
        }
        if let AdminAction::Update {
            is_staff: Some(staff),
            ..
        } = action
            && staff != target.is_staff
        {
            return Some(STAFF_FLAG_SUPERUSER_ONLY);
        }
    }
    if action.removes_superuser(target) && !others_remain {
        return Some(LAST_SUPERUSER);
    }
    None
}

/// The privilege rules that look at the actor alone: why `actor` (`None`: the command
/// line) may not take `action` on anyone, if it may not — only a superuser changes a
/// user's groups or own permissions ([`GRANTS_SUPERUSER_ONLY`]) or creates, changes or
/// deletes a group ([`GROUPS_SUPERUSER_ONLY`]).
pub fn actor_refusal(actor: Option<&User>, action: AdminAction) -> Option<&'static str> {
    if actor.is_none_or(|actor| actor.is_superuser) {
        return None;
    }
    action.superuser_only()
}

/// Held while a change that could remove a superuser is checked and made, so that two of
/// them in this process cannot each leave the other as the last one and remove both.
static SUPERUSER_CHANGES: Mutex<()> = Mutex::const_new(());

impl Auth {
    /// The user with id `id`.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when there is none.
    pub async fn user(&self, id: i64) -> Result<User, AuthError> {
        self.store()
            .user_by_id(id)
            .await?
            .ok_or(AuthError::NotFound)
    }

    /// A page of users, oldest first: those whose e-mail address or names contain
    /// `search` (case-insensitive), `limit` of them after `offset`; and how many match.
    ///
    /// # Errors
    /// The store's.
    pub async fn search_users(
        &self,
        search: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<User>), AuthError> {
        Ok(self.store().search_users(search, limit, offset).await?)
    }

    /// A page of the users `filter` keeps (its search as [`search_users`](Auth::search_users)
    /// reads it, and the flags), oldest first, `limit` of them after `offset`; and how many
    /// it keeps.
    ///
    /// # Errors
    /// The store's.
    pub async fn filter_users(
        &self,
        filter: &tessera_store::UserFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<User>), AuthError> {
        Ok(self.store().filter_users(filter, limit, offset).await?)
    }

    /// Every user, oldest first (the command line's list).
    ///
    /// # Errors
    /// The store's.
    pub async fn all_users(&self) -> Result<Vec<User>, AuthError> {
        Ok(self.store().list_users().await?)
    }

    /// The user with the e-mail address `email` (case-insensitive domain).
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when there is none.
    pub async fn user_by_email(&self, email: &str) -> Result<User, AuthError> {
        self.store()
            .user_by_email(email)
            .await?
            .ok_or(AuthError::NotFound)
    }

    /// The user who logs in with `name` (`username_field`), trimmed as the login views trim
    /// it, then found as [`check_credentials`](Auth::check_credentials) finds it (see
    /// `account_by_login_name`).
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when there is none.
    pub async fn user_by_login(&self, name: &str) -> Result<User, AuthError> {
        self.account_by_login_name(name.trim())
            .await?
            .ok_or(AuthError::NotFound)
    }

    /// The account that logs in with `name` (`username_field`) — the one rule for login
    /// names: the e-mail address with its domain's case ignored
    /// ([`tessera_store::normalize_email`]), or the username exactly as stored. Django's
    /// `ModelBackend` looks a username up as typed (`get_by_natural_key`): NFKC
    /// normalisation (`normalize_username`) applies where a name is stored, not at login,
    /// so that a stored name that is not in NFKC (an imported one) still logs in.
    ///
    /// # Errors
    /// The store's.
    pub(crate) async fn account_by_login_name(
        &self,
        name: &str,
    ) -> Result<Option<User>, AuthError> {
        Ok(match self.settings().username_field {
            UsernameField::Email => self.store().user_by_email(name).await?,
            UsernameField::Username => self.store().user_by_username(name).await?,
        })
    }

    /// Applies the privilege rules to `actor` taking `action` on `user`: a refusal is
    /// audited (`admin.permission_denied`) and returned.
    ///
    /// # Errors
    /// [`AuthError::PermissionDenied`] with the rule's message; the store's.
    pub(crate) async fn authorize(
        &self,
        user: &User,
        action: AdminAction,
        actor: Actor<'_>,
    ) -> Result<(), AuthError> {
        let staff = match actor {
            Actor::Staff { user, .. } => Some(user),
            Actor::CommandLine => None,
        };
        let others_remain = if action.removes_superuser(user) {
            self.store()
                .list_users()
                .await?
                .iter()
                .any(|other| other.id != user.id && is_active_superuser(other))
        } else {
            true
        };
        match admin_refusal(staff, user, action, others_remain) {
            None => Ok(()),
            Some(reason) => {
                self.audit(
                    actor
                        .event(event::ADMIN_PERMISSION_DENIED, user)
                        .detail(json!({"action": action.name(), "reason": reason})),
                )
                .await;
                Err(AuthError::PermissionDenied(reason.to_owned()))
            }
        }
    }

    /// Applies the privilege rules to `actor` creating, changing or deleting a group
    /// ([`AdminAction::Groups`]): a refusal is audited (`admin.permission_denied`, with
    /// `detail` added) and returned.
    ///
    /// # Errors
    /// [`AuthError::PermissionDenied`] with [`GROUPS_SUPERUSER_ONLY`].
    pub(crate) async fn authorize_groups(
        &self,
        actor: Actor<'_>,
        detail: Value,
    ) -> Result<(), AuthError> {
        let staff = match actor {
            Actor::Staff { user, .. } => Some(user),
            Actor::CommandLine => None,
        };
        let action = AdminAction::Groups;
        let Some(reason) = actor_refusal(staff, action) else {
            return Ok(());
        };
        let mut detail = match detail {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        detail.insert("action".into(), action.name().into());
        detail.insert("reason".into(), reason.into());
        self.audit(actor.plain_event(
            crate::audit::Audit::new(event::ADMIN_PERMISSION_DENIED).detail(Value::Object(detail)),
        ))
        .await;
        Err(AuthError::PermissionDenied(reason.to_owned()))
    }

    /// Applies `update` to `user` — flags, names, custom fields, groups and own permissions
    /// in one transaction; deactivating then ends every session of the user. Audited as
    /// `admin.user_updated` with the fields set (and `sessions_ended`). Returns the user
    /// as stored now, and how many sessions ended.
    ///
    /// # Errors
    /// [`AuthError::PermissionDenied`] under the privilege rules (see
    /// [`admin_refusal`](crate::accounts::admin_refusal)); [`AuthError::NotFound`] when the user was deleted meanwhile.
    pub async fn update_user(
        &self,
        user: &User,
        update: AdminUpdate,
        actor: Actor<'_>,
    ) -> Result<(User, u64), AuthError> {
        let mut changes = Map::new();
        for (field, value) in [
            ("is_active", update.is_active.map(Value::from)),
            ("is_staff", update.is_staff.map(Value::from)),
            ("email_verified", update.email_verified.map(Value::from)),
            ("first_name", update.first_name.clone().map(Value::from)),
            ("last_name", update.last_name.clone().map(Value::from)),
        ] {
            if let Some(value) = value {
                changes.insert(field.into(), value);
            }
        }
        for (field, value) in &update.extra {
            changes.insert(field.clone(), value.clone());
        }
        for (field, list) in [
            ("groups", &update.groups),
            ("user_permissions", &update.user_permissions),
        ] {
            if let Some(list) = list {
                changes.insert(field.into(), json!(list));
            }
        }
        let action = AdminAction::Update {
            is_active: update.is_active,
            is_staff: update.is_staff,
            grants: update.groups.is_some() || update.user_permissions.is_some(),
        };
        let _serial = if action.removes_superuser(user) {
            Some(SUPERUSER_CHANGES.lock().await)
        } else {
            None
        };
        self.authorize(user, action, actor).await?;
        let store = self.store();
        let flags = UserFlags {
            is_active: update.is_active,
            is_staff: update.is_staff,
            is_superuser: None,
        };
        let names = UserUpdate {
            first_name: update.first_name,
            last_name: update.last_name,
            extra: update.extra,
            email_verified: update.email_verified,
            ..UserUpdate::default()
        };
        let grants = GrantsUpdate {
            groups: update.groups,
            permissions: update.user_permissions,
        };
        // One transaction: a group that does not exist refuses the whole change.
        let updated = match store
            .update_user_and_grants(user.id, &flags, &names, &grants)
            .await
        {
            Ok(Some(updated)) => updated,
            Ok(None) => return Err(AuthError::NotFound),
            Err(StoreError::UnknownGroup(name)) => {
                return Err(AuthError::field("groups", unknown_group(&name)));
            }
            Err(error) => return Err(error.into()),
        };
        let mut ended = 0;
        if update.is_active == Some(false) {
            ended = store
                .revoke_user_sessions(user.id, RevokeReason::Deactivated, self.now())
                .await?;
            changes.insert("sessions_ended".into(), ended.into());
        }
        self.audit(
            actor
                .event(event::ADMIN_USER_UPDATED, user)
                .detail(Value::Object(changes)),
        )
        .await;
        Ok((updated, ended))
    }

    /// Deletes `user` and their sessions. Audited as `admin.user_deleted`, keeping the
    /// address. Returns whether the user was still there.
    ///
    /// # Errors
    /// [`AuthError::PermissionDenied`] under the privilege rules (see
    /// [`admin_refusal`](crate::accounts::admin_refusal)); the store's.
    pub async fn delete_user(&self, user: &User, actor: Actor<'_>) -> Result<bool, AuthError> {
        let _serial = if AdminAction::Delete.removes_superuser(user) {
            Some(SUPERUSER_CHANGES.lock().await)
        } else {
            None
        };
        self.authorize(user, AdminAction::Delete, actor).await?;
        let deleted = self.store().delete_user(user.id).await?;
        if deleted {
            self.audit(
                actor
                    .event(event::ADMIN_USER_DELETED, user)
                    .login_name(account_name(user)),
            )
            .await;
        }
        Ok(deleted)
    }

    /// Ends every session of `user`. Audited as `admin.sessions_revoked`. Returns how many
    /// ended.
    ///
    /// # Errors
    /// [`AuthError::PermissionDenied`] for staff who are not superusers when `user` is
    /// one; the store's.
    pub async fn revoke_sessions(&self, user: &User, actor: Actor<'_>) -> Result<u64, AuthError> {
        self.authorize(user, AdminAction::RevokeSessions, actor)
            .await?;
        let ended = self
            .store()
            .revoke_user_sessions(user.id, RevokeReason::Admin, self.now())
            .await?;
        self.audit(
            actor
                .event(event::ADMIN_SESSIONS_REVOKED, user)
                .detail(json!({"sessions_ended": ended})),
        )
        .await;
        Ok(ended)
    }

    /// Lifts `user`'s login lockout at once. Audited as `admin.user_unlocked`.
    ///
    /// # Errors
    /// The store's, when counts are kept there.
    pub async fn unlock(&self, user: &User, actor: Actor<'_>) -> Result<(), AuthError> {
        self.clear_login_failures_of(user).await?;
        self.audit(actor.event(event::ADMIN_USER_UNLOCKED, user))
            .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use tessera_core::Timestamp;

    use super::*;

    fn user(id: i64, (is_active, is_staff, is_superuser): (bool, bool, bool)) -> User {
        User {
            id,
            email: format!("user{id}@example.com"),
            username: None,
            first_name: String::new(),
            last_name: String::new(),
            is_active,
            is_staff,
            is_superuser,
            date_joined: Timestamp::UNIX_EPOCH,
            last_login: None,
            password_changed_at: None,
            email_verified: false,
            extra: Map::new(),
            password_hash: String::new(),
        }
    }

    fn flags() -> impl Strategy<Value = (bool, bool, bool)> {
        (any::<bool>(), any::<bool>(), any::<bool>())
    }

    fn action() -> impl Strategy<Value = AdminAction> {
        prop_oneof![
            (any::<Option<bool>>(), any::<Option<bool>>(), any::<bool>()).prop_map(
                |(is_active, is_staff, grants)| AdminAction::Update {
                    is_active,
                    is_staff,
                    grants,
                }
            ),
            Just(AdminAction::Delete),
            Just(AdminAction::RevokeSessions),
            Just(AdminAction::Unlock),
            Just(AdminAction::ResetMfa),
            Just(AdminAction::ApiKeys),
            Just(AdminAction::Groups),
        ]
    }

    /// The target after an allowed action: `None` once deleted.
    fn after(target: &User, action: AdminAction) -> Option<User> {
        let mut changed = target.clone();
        match action {
            AdminAction::Update {
                is_active,
                is_staff,
                ..
            } => {
                changed.is_active = is_active.unwrap_or(changed.is_active);
                changed.is_staff = is_staff.unwrap_or(changed.is_staff);
            }
            AdminAction::Delete => return None,
            AdminAction::RevokeSessions
            | AdminAction::Unlock
            | AdminAction::ResetMfa
            | AdminAction::ApiKeys
            | AdminAction::Groups => {}
        }
        Some(changed)
    }

    proptest! {
        /// Whatever its flags and whatever it does, a staff member who is not a superuser
        /// never changes a superuser (beyond lifting a lockout) nor anyone's staff status.
        #[test]
        fn no_non_superuser_changes_a_superuser_or_a_staff_flag(
            actor_flags in flags(),
            target_flags in flags(),
            action in action(),
            others_remain in any::<bool>(),
            same_account in any::<bool>(),
        ) {
            let actor = user(1, (actor_flags.0, actor_flags.1, false));
            let target = user(if same_account { 1 } else { 2 }, target_flags);
            let target = if same_account { User { is_superuser: false, ..target } } else { target };
            if admin_refusal(Some(&actor), &target, action, others_remain).is_none() {
                prop_assert!(!target.is_superuser || action == AdminAction::Unlock);
                if let Some(changed) = after(&target, action) {
                    prop_assert_eq!(changed.is_staff, target.is_staff);
                    prop_assert_eq!(changed.is_superuser, target.is_superuser);
                }
            }
        }

        /// Whatever its flags and whoever the target, a staff member who is not a superuser
        /// never changes anyone's groups or permissions, nor a group; a superuser and the
        /// command line are never refused for that reason.
        #[test]
        fn only_superusers_change_grants_and_groups(
            actor_flags in flags(),
            superuser in any::<bool>(),
            cli in any::<bool>(),
            target_flags in flags(),
            action in action(),
        ) {
            let actor = user(1, (actor_flags.0, actor_flags.1, superuser));
            let actor = (!cli).then_some(&actor);
            let target = user(2, target_flags);
            let changes_grants = matches!(
                action,
                AdminAction::Update { grants: true, .. } | AdminAction::Groups
            );
            let refusal = admin_refusal(actor, &target, action, true);
            if changes_grants && !superuser && !cli {
                prop_assert!(refusal.is_some());
                prop_assert!(actor_refusal(actor, action).is_some());
            } else {
                prop_assert_eq!(actor_refusal(actor, action), None);
                prop_assert!(
                    !matches!(refusal, Some(GRANTS_SUPERUSER_ONLY | GROUPS_SUPERUSER_ONLY))
                );
            }
        }

        /// Nobody — a superuser, a staff member, the command line — removes the last active
        /// superuser.
        #[test]
        fn nobody_removes_the_last_active_superuser(
            actor_flags in proptest::option::of(flags()),
            target_flags in flags(),
            action in action(),
        ) {
            let actor = actor_flags.map(|flags| user(1, flags));
            let target = user(2, target_flags);
            if admin_refusal(actor.as_ref(), &target, action, false).is_none()
                && is_active_superuser(&target)
            {
                let changed = after(&target, action);
                prop_assert!(changed.is_some_and(|u| is_active_superuser(&u)));
            }
        }

        /// A superuser, and the command line, may do anything that leaves an active
        /// superuser behind.
        #[test]
        fn superusers_and_the_command_line_are_refused_nothing_else(
            actor_flags in flags(),
            target_flags in flags(),
            action in action(),
            cli in any::<bool>(),
        ) {
            let actor = user(1, (actor_flags.0, actor_flags.1, true));
            let actor = (!cli).then_some(&actor);
            let target = user(2, target_flags);
            prop_assert_eq!(admin_refusal(actor, &target, action, true), None);
        }
    }
}
