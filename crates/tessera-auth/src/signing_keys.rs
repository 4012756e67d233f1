//! Staff and command-line actions on the signing keys kept in the store (`key_source =
//! "store"`): list, generate, rotate, retire — each audited — and installing the stored ring
//! at once.

use std::collections::HashMap;

use tessera_core::{Algorithm, KeyOrigin};

use crate::actor::Actor;
use crate::audit::{event, key_event};
use crate::error::AuthError;
use crate::keys::{KeyManager, KeyStatus, KeysError};
use crate::service::Auth;

impl Auth {
    /// The manager of the stored keys, or [`KeysError::NotStored`] when the keys come from
    /// the settings.
    fn stored_keys(&self) -> Result<KeyManager, AuthError> {
        if self.settings().key_source != KeyOrigin::Store {
            return Err(KeysError::NotStored.into());
        }
        self.key_manager()
    }

    /// Every stored key and its state now, oldest first.
    ///
    /// # Errors
    /// [`KeysError::NotStored`] when the keys come from the settings; the store's.
    pub async fn list_keys(&self) -> Result<Vec<KeyStatus>, AuthError> {
        Ok(self.stored_keys()?.list(self.now()).await?)
    }

    /// Generates a key of `algorithm` (the configured one by default) and publishes it,
    /// not signing yet. Audited as `key.generated`.
    ///
    /// # Errors
    /// [`KeysError::NotStored`], [`KeysError::StoredKeysEncrypted`]; the store's.
    pub async fn generate_key(
        &self,
        algorithm: Option<Algorithm>,
        actor: Actor<'_>,
    ) -> Result<KeyStatus, AuthError> {
        let key = self.stored_keys()?.generate(algorithm, self.now()).await?;
        self.key_changed(event::KEY_GENERATED, &key, actor).await?;
        Ok(key)
    }

    /// Schedules a key to take over signing (see [`KeyManager::rotate`]). Audited as
    /// `key.rotated`.
    ///
    /// # Errors
    /// [`KeysError::NotStored`], [`KeysError::RetiredMeanwhile`] …; the store's.
    pub async fn rotate_key(
        &self,
        algorithm: Option<Algorithm>,
        actor: Actor<'_>,
    ) -> Result<KeyStatus, AuthError> {
        let key = self.stored_keys()?.rotate(algorithm, self.now()).await?;
        self.key_changed(event::KEY_ROTATED, &key, actor).await?;
        Ok(key)
    }

    /// Stops `kid` signing now; it verifies until its tokens have expired. Audited as
    /// `key.retired`.
    ///
    /// # Errors
    /// [`KeysError::UnknownKid`], [`KeysError::AlreadyRetired`],
    /// [`KeysError::OnlySigningKey`]; the store's.
    pub async fn retire_key(&self, kid: &str, actor: Actor<'_>) -> Result<KeyStatus, AuthError> {
        let key = self.stored_keys()?.retire(kid, self.now()).await?;
        self.key_changed(event::KEY_RETIRED, &key, actor).await?;
        Ok(key)
    }

    /// Audits, as `key.sealed`, the keys that were stored unencrypted and that this service
    /// sealed with the `key_encryption_key` when it started.
    pub(crate) async fn audit_sealed_keys(&self, sealed: &[KeyStatus]) {
        for key in sealed {
            let audit = key_event(event::KEY_SEALED, key)
                .detail(serde_json::json!({"reason": "stored_unencrypted"}));
            self.audit(audit).await;
        }
    }

    /// Audits a key change and installs the stored ring in this process at once when it
    /// holds one (other processes pick the change up at their next refresh; an offline
    /// service, such as the command line's, has no ring).
    async fn key_changed(
        &self,
        name: &str,
        key: &KeyStatus,
        actor: Actor<'_>,
    ) -> Result<(), AuthError> {
        self.audit(actor.plain_event(key_event(name, key))).await;
        if self.holds_stored_ring() {
            self.reload_keys().await?;
        }
        Ok(())
    }

    /// Re-reads the store's keys now and installs the ring (with `key_source = "store"`).
    ///
    /// # Errors
    /// The store's, or a key that cannot be opened.
    pub async fn reload_keys(&self) -> Result<(), AuthError> {
        if self.settings().key_source != KeyOrigin::Store {
            return Ok(());
        }
        let loaded = self
            .key_manager()?
            .ring(self.now(), &mut HashMap::new())
            .await?;
        self.backend().set_keys(loaded.ring);
        Ok(())
    }
}
