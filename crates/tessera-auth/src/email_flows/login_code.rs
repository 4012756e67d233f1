//! Login by code (`login_by_code`): a mail with an 8-digit code, which logs the user in
//! once, behind the same lockout as a password.

use serde_json::{Map, Value};
use tessera_store::{CodeOwner, User};

use super::tokens::Purpose;
use super::{CONFIRM_SCOPE, read_address};
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::form::{Fields, Trim};
use crate::mail::MailKind;
use crate::service::Auth;

impl Auth {
    /// `POST code/request/` (`email`): queues a login code, whatever the address — the
    /// sender drops it for an unknown or inactive account, and for one without a usable
    /// password (as Django's `PasswordResetForm` does for a reset: an account whose
    /// password was made unusable on purpose is not opened by mail). Throttled as
    /// [`Auth::request_password_reset`].
    ///
    /// # Errors
    /// [`AuthError::NotFound`] unless `login_by_code`; otherwise as
    /// [`Auth::request_password_reset`].
    pub async fn request_login_code(
        &self,
        data: &Map<String, Value>,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        if !self.email_flow_settings().login_by_code {
            return Err(AuthError::NotFound);
        }
        self.request_mail(MailKind::LoginCode, data, client).await
    }

    /// `POST code/login/` (`email`, `code`): the user to log in, the code consumed. A wrong
    /// code is a failed login of that name from this client (audited as `login.failed`
    /// with `detail.reason = "wrong_code"`, counted towards the lockout); while the name is
    /// locked for the client, no code is even tried. Five wrong codes delete the code. A
    /// success lifts the lockout, sets `last_login` (`update_last_login`) and marks the
    /// address verified (the mail proved it). The caller then takes [`Auth::login_step`]
    /// and issues the tokens only when it answers
    /// [`LoginStep::Complete`](crate::mfa::LoginStep::Complete). Throttled by
    /// `email_confirm` per client.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] unless `login_by_code`; [`AuthError::Invalid`] for missing
    /// or malformed fields; [`AuthError::InvalidCredentials`] for a wrong, used or expired
    /// code, an inactive account or a locked name; [`AuthError::Throttled`].
    pub async fn login_with_code(
        &self,
        data: &Map<String, Value>,
        client: &ClientInfo,
    ) -> Result<User, AuthError> {
        if !self.email_flow_settings().login_by_code {
            return Err(AuthError::NotFound);
        }
        self.throttles()
            .check(CONFIRM_SCOPE, client.ident())
            .await?;
        let mut fields = Fields::new(data);
        let email = read_address(&mut fields, "email");
        let code = fields.required("code", Trim::Yes);
        fields.finish()?;
        let (email, code) = (email.unwrap_or_default(), code.unwrap_or_default());
        let store = self.store();
        let account = store.user_by_email(&email).await?;
        let name = account
            .as_ref()
            .map_or(email.clone(), |user| self.lockout_name_of(user).to_owned());
        let known = account.as_ref().map(|user| user.id);
        if self.lockout().is_locked(&name, client.ident()).await? {
            self.refuse_locked(&name, known, client).await;
            return Err(AuthError::InvalidCredentials);
        }
        let owner = CodeOwner::User(known.unwrap_or(0));
        let mut user = None;
        if let Some(found) = self.check_code(Purpose::LoginCode, owner, &code).await?
            && let Some(bound) = self.bound_user(Purpose::LoginCode, &found).await?
            && store
                .consume_account_token(found.id, self.now())
                .await?
                .is_some()
        {
            user = Some(bound);
        }
        let Some(mut user) = user else {
            self.login_failed(&name, known, "wrong_code", client)
                .await?;
            return Err(AuthError::InvalidCredentials);
        };
        // With a second factor owed, the failures stand until it is passed, and the login
        // is not complete.
        let complete = !self.owes_second_step(&user).await?;
        if complete {
            self.lockout().clear(&name, client.ident()).await?;
        }
        if !user.email_verified {
            // The address the code went to, unless it changed meanwhile.
            user.email_verified = store.mark_email_proved(user.id, &user.email).await?;
        }
        if complete {
            if self.settings().update_last_login {
                store.set_last_login(user.id, self.now()).await?;
            }
            metrics::counter!("tessera_logins_total", "outcome" => "success").increment(1);
        }
        Ok(user)
    }
}
