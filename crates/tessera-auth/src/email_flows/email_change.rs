//! E-mail change: the owner asks with their password; a confirmation (link and code) goes
//! to the new address and a notice to the old one; the address changes only once the new
//! one confirms.

use serde_json::{Map, Value, json};
use tessera_store::{StoreError, User};

use super::tokens::Purpose;
use super::{CONFIRM_SCOPE, REQUEST_SCOPE, mask_email, read_address};
use crate::accounts::EMAIL_TAKEN;
use crate::audit::{Audit, event};
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::form::{Fields, Trim};
use crate::mail::MailKind;
use crate::service::Auth;

/// The message for a new address that is the current one.
pub const EMAIL_UNCHANGED: &str = "This is already your e-mail address.";
/// The message for a wrong current password.
const WRONG_PASSWORD: &str = "Current password is incorrect.";

impl Auth {
    /// `POST email/change/` (`new_email`, `password`), by `user`: queues a confirmation to
    /// the new address and a notice to the old one. Nothing changes until the new address
    /// confirms ([`Auth::confirm_email_change`]). Audited as `email.change_requested`
    /// (from `session` when known). Throttled by `email_request`, per user and per client;
    /// a wrong password counts as a failed login of the user, as in a password change.
    ///
    /// # Errors
    /// [`AuthError::Invalid`]: a malformed, unchanged or taken address, a wrong password;
    /// [`AuthError::Throttled`]; [`AuthError::Busy`] when the outbox or the hashing queue
    /// is full.
    pub async fn request_email_change(
        &self,
        user: &User,
        data: &Map<String, Value>,
        client: &ClientInfo,
        session: Option<&str>,
    ) -> Result<(), AuthError> {
        let by_user = format!("user_{}", user.id);
        self.throttles()
            .check_each(REQUEST_SCOPE, &[&by_user, client.ident()])
            .await?;
        let mut fields = Fields::new(data);
        let new_email = read_address(&mut fields, "new_email");
        if let Some(new) = &new_email {
            if *new == user.email {
                fields.fail("new_email", EMAIL_UNCHANGED);
            } else if let Some(other) = self.store().user_by_email(new).await?
                && other.id != user.id
            {
                fields.fail("new_email", EMAIL_TAKEN);
            }
        }
        let password = fields.required("password", Trim::No);
        if let Some(password) = &password
            && !self
                .current_password_matches(user, password, client)
                .await?
        {
            fields.fail("password", WRONG_PASSWORD);
        }
        fields.finish()?;
        let new_email = new_email.unwrap_or_default();
        self.queue_mail(
            MailKind::EmailChangeConfirm,
            &new_email,
            Some(user.id),
            json!({}),
            Some(client),
        )
        .await?;
        if !user.email.is_empty() {
            self.queue_mail(
                MailKind::EmailChangeNotice,
                &user.email,
                Some(user.id),
                json!({"new_email": new_email}),
                Some(client),
            )
            .await?;
        }
        let mut requested = Audit::new(event::EMAIL_CHANGE_REQUESTED)
            .user(user.id)
            .client(client)
            .detail(json!({"new_email": mask_email(&new_email)}));
        if let Some(sid) = session {
            requested = requested.session(sid);
        }
        self.audit(requested).await;
        Ok(())
    }

    /// `POST email/change/confirm/` (`key`, or `email` — the new address — and `code`):
    /// changes the address, which counts as verified; every account token of the user is
    /// deleted (each was bound to the old address). Audited as `email.changed`. Returns the
    /// updated user. Throttled by `email_confirm` per client; a code takes at most five
    /// wrong tries.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] for an unknown, used or expired key or code, or one whose
    /// addresses changed since; [`AuthError::Invalid`] (`email`) when the new address was
    /// taken meanwhile; [`AuthError::Throttled`].
    pub async fn confirm_email_change(
        &self,
        data: &Map<String, Value>,
        client: &ClientInfo,
    ) -> Result<User, AuthError> {
        self.throttles()
            .check(CONFIRM_SCOPE, client.ident())
            .await?;
        let (token, user) = self.redeem_link_or_code(Purpose::EmailChange, data).await?;
        let new_email = token.new_email.as_deref().ok_or(AuthError::NotFound)?;
        let changed = match self
            .store()
            .change_email(user.id, &user.email, new_email)
            .await
        {
            Err(StoreError::DuplicateEmail) => {
                return Err(AuthError::field("email", EMAIL_TAKEN));
            }
            other => other?.ok_or(AuthError::NotFound)?,
        };
        self.audit(
            Audit::new(event::EMAIL_CHANGED)
                .user(user.id)
                .client(client)
                .detail(json!({"new_email": mask_email(&changed.email)})),
        )
        .await;
        Ok(changed)
    }
}
