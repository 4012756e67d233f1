//! Logging in: credentials checked with the same hashing work whether or not the account
//! exists, behind the account's lockout, every failure audited.

use serde_json::json;
use tessera_core::UsernameField;
use tessera_store::User;

use crate::audit::{Audit, event};
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::service::Auth;

/// The longest login name: Django's `EmailField` (and any username) stops at 254
/// characters, so no account has a longer one.
pub const MAX_LOGIN_NAME_CHARS: usize = 254;

impl Auth {
    /// Checks credentials with the same hashing work whether or not the account exists.
    /// `None` means: no active account with these credentials. A login name locked for this
    /// client answers the same `None`, after about as long as a hash takes, without
    /// hashing. Failures are audited (`login.failed`, `login.locked`, `account.locked`);
    /// the success is, with its session, when the session opens. A success sets
    /// `last_login` (`update_last_login`).
    ///
    /// A name longer than [`MAX_LOGIN_NAME_CHARS`] (or holding a NUL) can be no account's:
    /// it answers `None` as an unknown account does, in about the same time, before any
    /// lockout, store or audit work, so that it costs neither memory nor a row nor a hash.
    ///
    /// The `login` throttle is the caller's to apply first
    /// (`auth.throttles().check("login", client.ident())`), before it even reads the
    /// request, as DRF's throttles run before the view.
    pub async fn check_credentials(
        &self,
        username: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<Option<User>, AuthError> {
        if username.chars().count() > MAX_LOGIN_NAME_CHARS || username.contains('\0') {
            metrics::counter!("tessera_logins_total", "outcome" => "failure").increment(1);
            self.hashing().wait_like_a_hash().await;
            return Ok(None);
        }
        let by_username = self.settings().username_field == UsernameField::Username;
        let name = if by_username {
            username.to_owned()
        } else {
            tessera_store::normalize_email(username)
        };
        if self.lockout().is_locked(&name, client.ident()).await? {
            self.refuse_locked(&name, None, client).await;
            return Ok(None);
        }
        let user = if by_username {
            self.store().user_by_username(username).await?
        } else {
            self.store().user_by_email(username).await?
        };
        let hash = user
            .as_ref()
            .filter(|u| u.has_usable_password())
            .map(|u| u.password_hash.as_str());
        let verified = self.hashing().verify(password, hash).await?;
        let why = match &user {
            None => "unknown_account",
            Some(u) if !u.has_usable_password() => "unusable_password",
            Some(_) if !verified => "wrong_password",
            Some(u) if !u.is_active => "inactive",
            Some(_) => "",
        };
        let known = user.as_ref().map(|u| u.id);
        let user = user.filter(|u| verified && u.has_usable_password() && u.is_active);
        if let Some(user) = &user {
            self.lockout().clear(&name, client.ident()).await?;
            if self.settings().update_last_login {
                self.store().set_last_login(user.id, self.now()).await?;
            }
            metrics::counter!("tessera_logins_total", "outcome" => "success").increment(1);
        } else {
            self.login_failed(&name, known, why, client).await?;
        }
        Ok(user)
    }

    /// A login refused because `name` is locked for `client`: counted and audited
    /// (`login.locked`), after about as long as a hash takes.
    pub(crate) async fn refuse_locked(&self, name: &str, known: Option<i64>, client: &ClientInfo) {
        metrics::counter!("tessera_logins_total", "outcome" => "locked").increment(1);
        let mut audit = Audit::new(event::LOGIN_LOCKED)
            .login_name(name)
            .client(client);
        if let Some(id) = known {
            audit = audit.user(id);
        }
        self.audit(audit).await;
        self.hashing().wait_like_a_hash().await;
    }

    /// A failed login of `name` (the account `known`, if any) from `client`, for the reason
    /// `why`: counted towards the lockout of that name for that client, and audited
    /// (`login.failed`, and `account.locked` when this failure locked it).
    ///
    /// # Errors
    /// The store's, when counts are kept there.
    pub(crate) async fn login_failed(
        &self,
        name: &str,
        known: Option<i64>,
        why: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let locked = self.lockout().record_failure(name, client.ident()).await?;
        metrics::counter!("tessera_logins_total", "outcome" => "failure").increment(1);
        let attempt = |name_of_event| {
            let audit = Audit::new(name_of_event).login_name(name).client(client);
            match known {
                Some(id) => audit.user(id),
                None => audit,
            }
        };
        self.audit(attempt(event::LOGIN_FAILED).detail(json!({"reason": why})))
            .await;
        if let Some(length) = locked {
            let seconds = length.as_secs();
            self.audit(attempt(event::ACCOUNT_LOCKED).detail(json!({"seconds": seconds})))
                .await;
        }
        Ok(())
    }

    /// The name `user` logs in with (`username_field`); their e-mail address when they
    /// have no username, so that their lockout is still theirs.
    pub(crate) fn lockout_name_of<'u>(&self, user: &'u User) -> &'u str {
        self.login_name_of(user).unwrap_or(&user.email)
    }

    /// Forgets the failed logins of the name `user` logs in with (`username_field`), from
    /// every client: after a password change or an administrator's unlock.
    ///
    /// # Errors
    /// The store's, when counts are kept there.
    pub async fn clear_login_failures_of(&self, user: &User) -> Result<(), AuthError> {
        let name = self.lockout_name_of(user);
        Ok(self.lockout().clear_all(name).await?)
    }
}
