//! Password reset (dj-rest-auth's `password/reset/` and `password/reset/confirm/`): a mail
//! with a link (`uid` and `token`) and a code; the new password set with either.

use serde_json::{Map, Value, json};
use tessera_store::{AccountToken, CodeOwner, User};

use super::tokens::{Purpose, decode_uid};
use super::{CONFIRM_SCOPE, INVALID_VALUE, PASSWORDS_DIFFER, read_address};
use crate::accounts::{attributes_of, check_password};
use crate::audit::{Audit, event};
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::form::{Fields, Trim};
use crate::mail::MailKind;
use crate::service::Auth;

impl Auth {
    /// `POST password/reset/` (`email`): queues a reset mail, whether or not the address
    /// belongs to someone — the answer, and the work done, are the same; the sender drops
    /// the mail of an unknown address, an inactive account or one without a usable
    /// password (Django's `PasswordResetForm`) — unless a linked social identity signs that
    /// account in: the reset is how it gets a password. Throttled by `email_request` per client,
    /// and silently by `email_recipient` per address.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] for a missing or malformed address, [`AuthError::Throttled`]
    /// over the `email_request` rate, [`AuthError::Busy`] when the outbox is full.
    pub async fn request_password_reset(
        &self,
        data: &Map<String, Value>,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.request_mail(MailKind::PasswordReset, data, client)
            .await
    }

    /// `POST password/reset/confirm/`: the link's `uid` and `token`, or the mailed `email`
    /// and `code`, with `new_password1` and `new_password2` (Django's `SetPasswordForm`).
    /// The token is consumed only once the new password passes the rules; then every
    /// session of the user ends, a login lockout is lifted, their other reset tokens and
    /// login codes are deleted, and their address counts as verified (the mail proved it).
    /// Audited as `password.reset`. Returns how many sessions ended. Throttled by
    /// `email_confirm` per client; a code takes at most five wrong tries.
    ///
    /// # Errors
    /// [`AuthError::Invalid`]: `{"uid":["Invalid value"]}`, `{"token":["Invalid value"]}`
    /// (a wrong, used or expired token or code, or one whose password or address changed
    /// since), `{"new_password2":["The two password fields didn’t match."]}` followed by
    /// the password rules' messages for `new_password2` (Django's `SetPasswordForm`);
    /// [`AuthError::Throttled`];
    /// [`AuthError::Busy`] when the hashing queue is full.
    pub async fn confirm_password_reset(
        &self,
        data: &Map<String, Value>,
        client: &ClientInfo,
    ) -> Result<u64, AuthError> {
        self.throttles()
            .check(CONFIRM_SCOPE, client.ident())
            .await?;
        let by_code = !data.contains_key("uid")
            && !data.contains_key("token")
            && (data.contains_key("code") || data.contains_key("email"));
        let mut fields = Fields::new(data);
        let (uid, token, email, code) = if by_code {
            let email = read_address(&mut fields, "email");
            (None, None, email, fields.required("code", Trim::Yes))
        } else {
            let uid = fields.required("uid", Trim::Yes);
            (uid, fields.required("token", Trim::Yes), None, None)
        };
        let new1 = fields.required("new_password1", Trim::No);
        let new2 = fields.required("new_password2", Trim::No);
        fields.finish()?;
        let (user, token) = if by_code {
            let (email, code) = (email.unwrap_or_default(), code.unwrap_or_default());
            self.reset_token_by_code(&email, &code).await?
        } else {
            let (uid, token) = (uid.unwrap_or_default(), token.unwrap_or_default());
            self.reset_token_by_link(&uid, &token).await?
        };
        let (new1, new2) = (new1.unwrap_or_default(), new2.unwrap_or_default());
        // Django's `SetPasswordForm.clean`: the mismatch, then the validators, both on
        // `new_password2`.
        let empty = Map::new();
        let mut rules = Fields::new(&empty);
        if new1 != new2 {
            rules.fail("new_password2", PASSWORDS_DIFFER);
        }
        check_password(
            self,
            &mut rules,
            "new_password2",
            &new2,
            &attributes_of(&user),
        );
        rules.finish()?;
        let store = self.store();
        if store
            .consume_account_token(token.id, self.now())
            .await?
            .is_none()
        {
            // Used meanwhile, by another request.
            return Err(AuthError::field("token", INVALID_VALUE));
        }
        let ended = self.replace_password(&user, &new2, Some(client)).await?;
        self.audit(
            Audit::new(event::PASSWORD_RESET)
                .user(user.id)
                .login_name(self.lockout_name_of(&user))
                .client(client)
                .detail(json!({"sessions_ended": ended})),
        )
        .await;
        self.clear_login_failures_of(&user).await?;
        for purpose in [Purpose::PasswordReset, Purpose::LoginCode] {
            store
                .delete_account_tokens(user.id, purpose.as_str())
                .await?;
        }
        if !user.email_verified {
            // The address the mail went to, unless it changed meanwhile.
            store.mark_email_proved(user.id, &user.email).await?;
        }
        Ok(ended)
    }

    /// The user and reset token a link names, or `{"uid"|"token":["Invalid value"]}`.
    async fn reset_token_by_link(
        &self,
        uid: &str,
        token: &str,
    ) -> Result<(User, AccountToken), AuthError> {
        let invalid_uid = || AuthError::field("uid", INVALID_VALUE);
        let invalid_token = || AuthError::field("token", INVALID_VALUE);
        let id = decode_uid(uid).ok_or_else(invalid_uid)?;
        if self.store().user_by_id(id).await?.is_none() {
            return Err(invalid_uid());
        }
        let found = self
            .find_token(Purpose::PasswordReset, token)
            .await?
            .filter(|found| found.user_id == id)
            .ok_or_else(invalid_token)?;
        let user = self
            .bound_user(Purpose::PasswordReset, &found)
            .await?
            .ok_or_else(invalid_token)?;
        Ok((user, found))
    }

    /// The user and reset token a mailed code names, or `{"token":["Invalid value"]}`.
    async fn reset_token_by_code(
        &self,
        email: &str,
        code: &str,
    ) -> Result<(User, AccountToken), AuthError> {
        let invalid = || AuthError::field("token", INVALID_VALUE);
        // An unknown address tries the code against no one: the same statements run.
        let owner = self.store().user_by_email(email).await?.map_or(0, |u| u.id);
        let found = self
            .check_code(Purpose::PasswordReset, CodeOwner::User(owner), code)
            .await?
            .ok_or_else(invalid)?;
        let user = self
            .bound_user(Purpose::PasswordReset, &found)
            .await?
            .ok_or_else(invalid)?;
        Ok((user, found))
    }
}
