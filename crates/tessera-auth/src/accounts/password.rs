//! Passwords: the owner's change (with the current password) and a password set by staff
//! or the command line. Either ends every session of the user and lifts a login lockout.

use serde_json::{Map, Value, json};
use tessera_store::User;

use super::input::{attributes_of, check_password};
use crate::audit::{Audit, event};
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::form::{Fields, Trim};
use crate::rehash::HashShare;
use crate::service::Auth;
use tessera_store::RevokeReason;

impl Auth {
    /// The owner's password change from `data` (`old_password`, `new_password`,
    /// `new_password_confirm`): every session of the user ends, and a login lockout is
    /// lifted. Audited as `account.password_changed`, from `session` when known. Returns
    /// how many sessions ended.
    ///
    /// Throttled first by the `password_change` rate, per user and per client address. A
    /// wrong current password is a failed login of the user from this client: audited as
    /// `login.failed` with `detail.reason = "password_change"`, and counted towards their
    /// lockout; while the name is locked for this client, the current password is not even
    /// checked, and the answer is that of a wrong one. A current password that matches a
    /// hash in an older format upgrades it (see [`Auth::check_credentials`]).
    ///
    /// # Errors
    /// [`AuthError::Throttled`] over the rate; [`AuthError::Invalid`]: a wrong current
    /// password, a weak or mismatched new one; [`AuthError::Busy`] when the hashing queue
    /// is full.
    pub async fn change_password(
        &self,
        user: &User,
        data: &Map<String, Value>,
        client: &ClientInfo,
        session: Option<&str>,
    ) -> Result<u64, AuthError> {
        let by_user = format!("user_{}", user.id);
        self.throttles()
            .check_each("password_change", &[&by_user, client.ident()])
            .await?;
        let mut fields = Fields::new(data);
        let old = fields.required("old_password", Trim::No);
        if let Some(old) = &old
            && !self.current_password_matches(user, old, client).await?
        {
            fields.fail("old_password", "Current password is incorrect.");
        }
        let new = fields.required("new_password", Trim::No);
        if let Some(new) = &new {
            check_password(self, &mut fields, "new_password", new, &attributes_of(user));
        }
        // Checked after the new password's rules: DRF lists field errors in field order.
        let confirm = fields.required("new_password_confirm", Trim::No);
        fields.finish()?;
        let new = new.unwrap_or_default();
        if Some(&new) != confirm.as_ref() {
            return Err(AuthError::field(
                "new_password_confirm",
                "New password fields do not match.",
            ));
        }
        let ended = self.replace_password(user, &new, Some(client)).await?;
        let mut changed = Audit::new(event::PASSWORD_CHANGED)
            .user(user.id)
            .client(client)
            .detail(json!({"sessions_ended": ended}));
        if let Some(sid) = session {
            changed = changed.session(sid);
        }
        self.audit(changed).await;
        self.clear_login_failures_of(user).await?;
        Ok(ended)
    }

    /// Whether `password` is `user`'s current password, checked as a login would be: not
    /// at all while their login name is locked for `client` (the answer is then no), and a
    /// wrong one counts as their failed login.
    pub(crate) async fn current_password_matches(
        &self,
        user: &User,
        password: &str,
        client: &ClientInfo,
    ) -> Result<bool, AuthError> {
        let name = self.lockout_name_of(user);
        if self.lockout().is_locked(name, client.ident()).await? {
            self.refuse_locked(name, Some(user.id), client).await;
            return Ok(false);
        }
        let hash = user
            .has_usable_password()
            .then_some(user.password_hash.as_str());
        let checked = self.hashing().verify_for(password, hash, client).await?;
        if let Some(algorithm) = checked.needs_rehash() {
            // As Django's `PasswordChangeForm` (`check_password` with a setter): the current
            // password matched an older-format hash, which is upgraded even if the new
            // password is then refused.
            let mut upgraded = user.clone();
            self.upgrade_password_hash(
                &mut upgraded,
                password,
                algorithm,
                client,
                HashShare::Other,
            )
            .await;
        }
        if !checked.is_valid() {
            self.login_failed(name, Some(user.id), "password_change", client)
                .await?;
        }
        Ok(checked.is_valid())
    }

    /// Sets `user`'s password without the current one (the command line's
    /// `user set-password`): the same rules, every session ended, a lockout lifted.
    /// Audited as `admin.password_set` with `detail.via = "cli"`. Returns how many sessions
    /// ended.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] with the rules' messages under `password`.
    pub async fn set_password(&self, user: &User, password: &str) -> Result<u64, AuthError> {
        let data = Map::new();
        let mut fields = Fields::new(&data);
        check_password(
            self,
            &mut fields,
            "password",
            password,
            &attributes_of(user),
        );
        fields.finish()?;
        let ended = self.replace_password(user, password, None).await?;
        self.audit(
            Audit::new(event::ADMIN_PASSWORD_SET)
                .user(user.id)
                .login_name(self.lockout_name_of(user))
                .detail(json!({"sessions_ended": ended}))
                .via_cli(),
        )
        .await;
        self.clear_login_failures_of(user).await?;
        Ok(ended)
    }

    /// Hashes and stores the new password and ends every session, every pending e-mail
    /// change (its tokens and its queued confirmations) and every login waiting for its
    /// second step (checked against the old password), and revokes every API key of the
    /// user (each audited `api_key.revoked`, `detail.reason = "password_changed"`); the
    /// callers audit the change, then lift a lockout. The hash is `client`'s request, within the share of the hashing queue other
    /// work than logins has; the command line's (`None`) is not.
    pub(crate) async fn replace_password(
        &self,
        user: &User,
        password: &str,
        client: Option<&ClientInfo>,
    ) -> Result<u64, AuthError> {
        let hash = match client {
            Some(client) => self.hashing().hash_for(password, client).await?,
            None => self.hashing().hash(password).await?,
        };
        let ended = self
            .store()
            .change_password(user.id, &hash, RevokeReason::PasswordChanged, self.now())
            .await?
            .unwrap_or(0);
        // A change asked for with the old password (or by whoever held the session) ends
        // here; a confirmation being sent right now mints a token bound to the old hash.
        self.store().cancel_email_changes(user.id).await?;
        self.store().delete_mfa_challenges_of(user.id).await?;
        self.revoke_api_keys_for_password(user, client).await?;
        Ok(ended)
    }
}
