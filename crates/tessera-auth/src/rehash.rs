//! Upgrading a stored password hash on a successful check, as Django's
//! `check_password(password, encoded, setter)` does: a hash in an older format (one imported
//! from Django, or argon2 with other parameters) is replaced by a fresh argon2id hash of the
//! same password. The password itself does not change, so neither does
//! `password_changed_at`: every session and token of the user stays valid.

use serde_json::json;
use tessera_store::User;

use crate::audit::{Audit, event};
use crate::client::ClientInfo;
use crate::service::Auth;

/// Whose share of the hashing queue the new hash takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashShare {
    /// A login's (the whole queue).
    Login,
    /// Other work's, asked for by the client (a password change's current password).
    Other,
}

impl Auth {
    /// Replaces `user`'s stored hash, which `password` has just matched and whose format is
    /// `algorithm`'s, by a fresh argon2id hash of `password` — only while the stored hash is
    /// still the one that matched (a password changed meanwhile is never overwritten).
    /// Audited as `password.upgraded`; `user.password_hash` is updated to match the store.
    ///
    /// Never fails the caller's use case: a hash refused by a full queue, or a store error,
    /// is logged (without the hash) and the old hash stays until the next login.
    pub(crate) async fn upgrade_password_hash(
        &self,
        user: &mut User,
        password: &str,
        algorithm: &'static str,
        client: &ClientInfo,
        share: HashShare,
    ) {
        let hashed = match share {
            HashShare::Login => self.hashing().hash(password).await,
            HashShare::Other => self.hashing().hash_for(password, client).await,
        };
        let new = match hashed {
            Ok(new) => new,
            Err(error) => {
                tracing::warn!(
                    user = user.id,
                    from = algorithm,
                    %error,
                    "could not hash the password again to replace an older-format hash; \
                     it stays until the next login"
                );
                return;
            }
        };
        match self
            .store()
            .upgrade_password_hash(user.id, &user.password_hash, &new)
            .await
        {
            Ok(true) => {
                user.password_hash = new;
                metrics::counter!("tessera_password_upgrades_total", "from" => algorithm)
                    .increment(1);
                self.audit(
                    Audit::new(event::PASSWORD_UPGRADED)
                        .user(user.id)
                        .client(client)
                        .detail(json!({"from": algorithm, "to": "argon2id"})),
                )
                .await;
            }
            Ok(false) => tracing::info!(
                user = user.id,
                from = algorithm,
                "the stored password hash changed before its upgrade; left as it is"
            ),
            Err(error) => tracing::warn!(
                user = user.id,
                from = algorithm,
                %error,
                "could not store the upgraded password hash; the old one stays until the next login"
            ),
        }
    }
}
