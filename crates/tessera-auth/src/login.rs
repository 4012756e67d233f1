//! Logging in: credentials checked with the same hashing work whether or not the account
//! exists, behind the account's lockout, every failure audited.

use serde_json::json;
use tessera_core::UsernameField;
use tessera_store::User;

use crate::audit::{Audit, event};
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::rehash::HashShare;
use crate::service::Auth;

/// The longest login name: Django's `EmailField` (and any username) stops at 254
/// characters, so no account has a longer one.
pub const MAX_LOGIN_NAME_CHARS: usize = 254;

impl Auth {
    /// Checks credentials with the same hashing work whether or not the account exists.
    /// `None` means: no active account with these credentials. Every failure lasts as long
    /// — an unknown name, a wrong password for Tessera's own hash or for an imported Django
    /// one, an inactive account — padded (without holding a hashing thread) to the slowest
    /// hash format checked lately ([`Hashing::pad_failure`](crate::guard::Hashing::pad_failure)).
    /// A login name locked for this client answers the same `None`, after as long, without
    /// hashing. Failures are audited (`login.failed`, `login.locked`, `account.locked`);
    /// the success is, with its session, when the session opens. A success sets
    /// `last_login` (`update_last_login`) — for a user who owes a second step, only once it
    /// is passed ([`Auth::verify_mfa`]).
    ///
    /// A success against a hash in an older format (one imported from Django:
    /// `pbkdf2_sha256$…`, `bcrypt_sha256$…`, `argon2$…`, `scrypt$…` …) stores a fresh
    /// argon2id hash of the password in its place, as Django's `check_password` does with
    /// its setter — without ending any session — audited as `password.upgraded`. Failing
    /// to store it is logged and does not fail the login.
    ///
    /// With `require_verified_email = "login"`, the right password of an account whose
    /// address is not verified is [`AuthError::EmailNotVerified`] (audited as
    /// `login.failed` with `detail.reason = "email_not_verified"`, not counted towards the
    /// lockout).
    ///
    /// A name longer than [`MAX_LOGIN_NAME_CHARS`] (or holding a NUL) can be no account's:
    /// it answers `None` as an unknown account does, in about the same time, before any
    /// lockout, store or audit work, so that it costs neither memory nor a row nor a hash.
    ///
    /// The `login` throttle is the caller's to apply first
    /// (`auth.throttles().check("login", client.ident())`), before it even reads the
    /// request, as DRF's throttles run before the view.
    ///
    /// A user returned has passed the first factor only: the caller must then take
    /// [`Auth::login_step`] and issue credentials only when it answers
    /// [`LoginStep::Complete`](crate::mfa::LoginStep::Complete) — nothing else asks for
    /// the second factor.
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
        let user = self.account_by_login_name(username).await?;
        let hash = user
            .as_ref()
            .filter(|u| u.has_usable_password())
            .map(|u| u.password_hash.as_str());
        let check = self.hashing().verify(password, hash).await?;
        let checked = check.verified();
        let verified = checked.is_valid();
        let why = match &user {
            None => "unknown_account",
            Some(u) if !u.has_usable_password() => "unusable_password",
            Some(_) if !verified => "wrong_password",
            Some(u) if !u.is_active => "inactive",
            Some(_) => "",
        };
        let known = user.as_ref().map(|u| u.id);
        let mut user = user.filter(|u| verified && u.has_usable_password() && u.is_active);
        if let Some(user) = &mut user {
            if let Some(algorithm) = checked.needs_rehash() {
                self.upgrade_password_hash(user, password, algorithm, client, HashShare::Login)
                    .await;
            }
            // With a second factor owed, the failures stand until it is passed: a right
            // password must not wipe the count of wrong codes. Nor is the login complete.
            let complete = !self.owes_second_step(user).await?;
            if complete {
                self.lockout().clear(&name, client.ident()).await?;
            }
            if let Err(unverified) = self.check_email_verified(user) {
                // The right password: not a failure towards the lockout, but no login.
                metrics::counter!("tessera_logins_total", "outcome" => "unverified").increment(1);
                self.audit(
                    Audit::new(event::LOGIN_FAILED)
                        .login_name(&name)
                        .client(client)
                        .user(user.id)
                        .detail(json!({"reason": "email_not_verified"})),
                )
                .await;
                return Err(unverified);
            }
            if complete {
                if self.settings().update_last_login {
                    self.store().set_last_login(user.id, self.now()).await?;
                }
                metrics::counter!("tessera_logins_total", "outcome" => "success").increment(1);
            }
        } else {
            // Every failure as long as the slowest (an imported hash's), after the hashing
            // thread is released: the timing tells no format, nor whether the name exists.
            self.hashing().pad_failure(check).await;
            self.login_failed(&name, known, why, client).await?;
        }
        Ok(user)
    }

    /// A login refused because `name` is locked for `client`: counted and audited
    /// (`login.locked`), after as long as a failed login takes.
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use tessera_core::Settings;
    use tessera_store::{NewUser, PasswordHasher, Store, Verified};

    use super::*;

    /// Django 5.2's `make_password("correct horse")` with 1,000 iterations.
    const PBKDF2: &str =
        "pbkdf2_sha256$1000$GCmfcj3zrcvU4I3u2DkLnb$W11PeCHuInqMr3dc5ovUv64GTSsXmZsXyAyjTB/ZfEQ=";
    const PASSWORD: &str = "correct horse";

    async fn service() -> Auth {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let settings = Settings {
            username_field: UsernameField::Username,
            ..Settings::default()
        };
        Auth::builder(settings, store)
            .hasher(PasswordHasher::new(1))
            .offline()
            .build()
            .await
            .unwrap()
    }

    async fn user(auth: &Auth, username: &str, hash: &str, is_active: bool) {
        auth.store()
            .create_user(&NewUser {
                username: Some(username.into()),
                email: format!("{username}@example.com"),
                password_hash: hash.into(),
                is_active,
                ..NewUser::default()
            })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn every_failed_login_is_padded_to_the_failure_time_and_a_success_is_not() {
        let auth = service().await;
        let own = PasswordHasher::hash_blocking(PASSWORD).unwrap();
        user(&auth, "ada", &own, true).await;
        user(&auth, "imported", PBKDF2, true).await;
        user(&auth, "gone", &own, false).await;
        // A slow format checked lately (injected): every failure lasts at least this.
        let slow = Duration::from_millis(300);
        auth.hashing().record(Some("scrypt"), slow, Instant::now());
        let client = ClientInfo::default();

        for (name, password) in [
            ("nobody", PASSWORD),
            ("ada", "wrong horse"),
            ("imported", "wrong horse"),
            ("gone", PASSWORD),
            (&"x".repeat(300), PASSWORD),
        ] {
            let logged_in = auth.check_credentials(name, password, &client).await;
            assert!(logged_in.unwrap().is_none(), "{name}");
        }
        let pads = auth.hashing().pads.lock().unwrap().clone();
        // The impossible name needs no hash and waits without a check.
        assert_eq!(pads.len(), 4);
        for pad in &pads {
            assert!(pad.target >= slow, "{pad:?}");
            assert_eq!(
                pad.took + pad.shortfall,
                pad.target.max(pad.took),
                "{pad:?}"
            );
        }
        // The inactive account's right password is a failure like any other.
        assert_eq!(pads[3].verified, Verified::Valid);

        // A success is not padded (and upgrades the imported hash).
        let logged_in = auth.check_credentials("imported", PASSWORD, &client).await;
        assert!(logged_in.unwrap().is_some());
        assert!(
            auth.check_credentials("ada", PASSWORD, &client)
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(auth.hashing().pads.lock().unwrap().len(), 4);
    }
}
