//! What staff (the admin API) and the command line do to users: change them, deactivate
//! them, delete them, end their sessions, lift their lockout. Each is one use case, audited
//! with who acted.

use serde_json::{Map, Value, json};
use tessera_store::{User, UserFlags, UserUpdate};

use super::input::read_name;
use crate::actor::Actor;
use crate::audit::event;
use crate::error::AuthError;
use crate::form::Fields;
use crate::rules::drf_bool;
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
}

impl AdminUpdate {
    /// Reads `is_active`, `is_staff` (DRF `BooleanField`s), `first_name` and `last_name`
    /// (at most 150 characters) from `data`; other fields are ignored.
    ///
    /// # Errors
    /// DRF's messages, field by field.
    pub fn parse(data: &Map<String, Value>) -> Result<Self, AuthError> {
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
        fields.finish()?;
        Ok(Self {
            is_active,
            is_staff,
            first_name,
            last_name,
        })
    }
}

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

    /// Applies `update` to `user`; deactivating ends every session of the user. Audited as
    /// `admin.user_updated` with the fields set (and `sessions_ended`). Returns the user
    /// as stored now, and how many sessions ended.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when the user was deleted meanwhile.
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
    /// The store's.
    pub async fn delete_user(&self, user: &User, actor: Actor<'_>) -> Result<bool, AuthError> {
        let deleted = self.store().delete_user(user.id).await?;
        if deleted {
            self.audit(
                actor
                    .event(event::ADMIN_USER_DELETED, user)
                    .login_name(&user.email),
            )
            .await;
        }
        Ok(deleted)
    }

    /// Ends every session of `user`. Audited as `admin.sessions_revoked`. Returns how many
    /// ended.
    ///
    /// # Errors
    /// The store's.
    pub async fn revoke_sessions(&self, user: &User, actor: Actor<'_>) -> Result<u64, AuthError> {
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
