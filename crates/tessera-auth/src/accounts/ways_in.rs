//! The ways into an account, and the rule that the last one is never taken away.
//!
//! A way in is what opens the account by itself: a usable password, a linked social
//! identity, and a passkey only when passwordless sign-in is on and passkeys are served
//! (otherwise a passkey is a second factor and opens nothing). Login by code is none: no
//! code is mailed to, or accepted for, an account without a usable password.
//!
//! Deleting a passkey and unlinking an identity go through [`Auth::remove_way_in`]: the
//! store counts and removes in one write transaction under the user's row lock, so two
//! concurrent removals cannot together take the last way in.

use tessera_store::{SocialIdentity, StoredPasskey, User, WayIn, WayInRemoval};

use crate::error::AuthError;
use crate::service::Auth;

/// The refusal (as `non_field_errors`) to remove the last way into an account.
pub const LAST_WAY_IN: &str = "This is the only way left to sign in to this account. First add \
     another: link another provider, add a passkey, or set a password with a password reset.";

/// The refusal to remove the last way into an account: `{"non_field_errors": [LAST_WAY_IN]}`.
pub fn last_way_in() -> AuthError {
    AuthError::field("non_field_errors", LAST_WAY_IN)
}

/// What [`Auth::remove_way_in`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Removed {
    /// The deleted passkey.
    Passkey(StoredPasskey),
    /// The unlinked identity.
    SocialIdentity(SocialIdentity),
}

impl Auth {
    /// Whether a passkey opens an account by itself here: `passkey_login` on and passkeys
    /// served.
    pub fn passkeys_sign_in(&self) -> bool {
        self.passkey_settings().passkey_login && self.relying_party().is_some()
    }

    /// How many ways into `user`'s account there are besides its passkeys: a usable
    /// password and each linked social identity.
    ///
    /// # Errors
    /// The store's.
    pub(crate) async fn ways_in_besides_passkeys(&self, user: &User) -> Result<usize, AuthError> {
        let identities = self.store().social_identities_of(user.id).await?.len();
        Ok(usize::from(user.has_usable_password()) + identities)
    }

    /// Removes `way` of `user` unless it is the account's last way in (counted and removed
    /// in one store transaction, the user's row locked).
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when `user` holds no such passkey or identity;
    /// [`last_way_in`] for the last way in; the store's.
    pub(crate) async fn remove_way_in(
        &self,
        user: &User,
        way: WayIn,
    ) -> Result<Removed, AuthError> {
        match self
            .store()
            .remove_way_in(user.id, way, self.passkeys_sign_in())
            .await?
        {
            WayInRemoval::Passkey(passkey) => Ok(Removed::Passkey(passkey)),
            WayInRemoval::SocialIdentity(identity) => Ok(Removed::SocialIdentity(identity)),
            WayInRemoval::LastWayIn => Err(last_way_in()),
            WayInRemoval::NotFound => Err(AuthError::NotFound),
        }
    }
}
