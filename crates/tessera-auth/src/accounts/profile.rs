//! The profile: what users may change about themselves.

use serde_json::{Map, Value};
use tessera_store::{StoreError, User, UserUpdate};

use tessera_core::UsernameField;

use super::input::{Mode, read_custom, read_name, read_username};
use crate::error::AuthError;
use crate::form::Fields;
use crate::rules::USERNAME_TAKEN;
use crate::service::Auth;

impl Auth {
    /// Saves `first_name`, `last_name` and the user's own custom fields from `data`: every
    /// writable field (`partial = false`, a PUT) or those present (a PATCH). `id`,
    /// `date_joined`, `is_active` and `email` are not the user's to set here and are
    /// ignored, as DRF ignores read-only fields: an address changes only once the new one
    /// proves itself ([`Auth::request_email_change`]).
    ///
    /// With `username_field = "username"` the username is writable too, first, under
    /// registration's rules (dj-rest-auth's `UserDetailsSerializer` lets users change it).
    ///
    /// # Errors
    /// [`AuthError::Invalid`] field by field; [`AuthError::UserNotFound`] when the user was
    /// deleted meanwhile.
    pub async fn update_profile(
        &self,
        user: &User,
        data: &Map<String, Value>,
        partial: bool,
    ) -> Result<User, AuthError> {
        let mode = if partial { Mode::Patch } else { Mode::Replace };
        let mut fields = Fields::new(data);
        let username = if self.settings().username_field == UsernameField::Username {
            read_username(self, &mut fields, mode, Some(user)).await?
        } else {
            None
        };
        let first_name = read_name(&mut fields, "first_name");
        let last_name = read_name(&mut fields, "last_name");
        let extra = read_custom(data, &self.accounts().user_fields, &mut fields, mode);
        fields.finish()?;
        let update = UserUpdate {
            username,
            first_name,
            last_name,
            extra,
            ..UserUpdate::default()
        };
        match self.store().update_user(user.id, &update).await {
            Ok(Some(updated)) => Ok(updated),
            Ok(None) => Err(AuthError::UserNotFound),
            Err(StoreError::DuplicateUsername) => Err(AuthError::field("username", USERNAME_TAKEN)),
            Err(e) => Err(e.into()),
        }
    }
}
