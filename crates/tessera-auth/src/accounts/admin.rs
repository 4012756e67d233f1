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
//! - Nobody — the command line included — demotes (removes staff status), deactivates or
//!   deletes the last *active superuser*: an active account that is staff and superuser,
//!   the one who can still do everything through the admin API.
//!
//! A refusal is [`AuthError::PermissionDenied`] with its reason, audited as
//! `admin.permission_denied`.

use serde_json::{Map, Value, json};
use tessera_core::UsernameField;
use tessera_store::{User, UserFlags, UserUpdate};
use tokio::sync::Mutex;

use super::claims::account_name;
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
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Custom user fields to set, by name, as their declarations parse them — read-only
    /// ones included: read-only means users cannot set it, not staff.
    pub extra: Map<String, Value>,
}

impl AdminUpdate {
    /// Reads `is_active`, `is_staff` (DRF `BooleanField`s), `first_name` and `last_name`
    /// (at most 150 characters) and every custom field of `declared` (read-only ones too)
    /// from `data`; other fields are ignored, as DRF ignores them.
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
        let first_name = read_name(&mut fields, "first_name");
        let last_name = read_name(&mut fields, "last_name");
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
            first_name,
            last_name,
            extra,
        })
    }
}

/// Only superusers may act on superusers.
pub const SUPERUSER_ONLY: &str =
    "Only a superuser may change, deactivate, delete or end the sessions of a superuser account.";
/// Only superusers may grant or remove staff status.
pub const STAFF_FLAG_SUPERUSER_ONLY: &str = "Only a superuser may grant or remove staff status.";
/// The last active superuser stays.
pub const LAST_SUPERUSER: &str =
    "The last active superuser cannot be demoted, deactivated or deleted.";

/// What an administrator does to a user, for the privilege rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    /// A change: `is_active` and `is_staff` as set (`None`: left alone); names may change too.
    Update {
        /// The new `is_active`, if set.
        is_active: Option<bool>,
        /// The new `is_staff`, if set.
        is_staff: Option<bool>,
    },
    /// Deleting the account.
    Delete,
    /// Ending every session.
    RevokeSessions,
    /// Lifting a login lockout.
    Unlock,
}

impl AdminAction {
    /// The action's name in the audit event (`detail.action`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Update { .. } => "update",
            Self::Delete => "delete",
            Self::RevokeSessions => "revoke_sessions",
            Self::Unlock => "unlock",
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
            } => is_active == Some(false) || is_staff == Some(false),
            Self::Delete => true,
            Self::RevokeSessions | Self::Unlock => false,
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
///   deactivates, deletes or ends the sessions of a superuser account (lifting a lockout
///   stays open to staff). The command line acts as the operator, with full power.
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
    async fn authorize(
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

    /// Applies `update` to `user`; deactivating ends every session of the user. Audited as
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
        let action = AdminAction::Update {
            is_active: update.is_active,
            is_staff: update.is_staff,
        };
        let _serial = if action.removes_superuser(user) {
            Some(SUPERUSER_CHANGES.lock().await)
        } else {
            None
        };
        self.authorize(user, action, actor).await?;
        let store = self.store();
        store
            .set_user_flags(
                user.id,
                &UserFlags {
                    is_active: update.is_active,
                    is_staff: update.is_staff,
                    is_superuser: None,
                },
            )
            .await?;
        let names = UserUpdate {
            first_name: update.first_name,
            last_name: update.last_name,
            extra: update.extra,
            ..UserUpdate::default()
        };
        let updated = store
            .update_user(user.id, &names)
            .await?
            .ok_or(AuthError::NotFound)?;
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
            extra: Map::new(),
            password_hash: String::new(),
        }
    }

    fn flags() -> impl Strategy<Value = (bool, bool, bool)> {
        (any::<bool>(), any::<bool>(), any::<bool>())
    }

    fn action() -> impl Strategy<Value = AdminAction> {
        prop_oneof![
            (any::<Option<bool>>(), any::<Option<bool>>()).prop_map(|(is_active, is_staff)| {
                AdminAction::Update {
                    is_active,
                    is_staff,
                }
            }),
            Just(AdminAction::Delete),
            Just(AdminAction::RevokeSessions),
            Just(AdminAction::Unlock),
        ]
    }

    /// The target after an allowed action: `None` once deleted.
    fn after(target: &User, action: AdminAction) -> Option<User> {
        let mut changed = target.clone();
        match action {
            AdminAction::Update {
                is_active,
                is_staff,
            } => {
                changed.is_active = is_active.unwrap_or(changed.is_active);
                changed.is_staff = is_staff.unwrap_or(changed.is_staff);
            }
            AdminAction::Delete => return None,
            AdminAction::RevokeSessions | AdminAction::Unlock => {}
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
