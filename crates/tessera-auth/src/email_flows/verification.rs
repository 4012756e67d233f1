//! E-mail verification (dj-rest-auth's `registration/verify-email/` and `resend-email/`):
//! a mail with a link (`key`) and a code; the address marked verified with either.

use serde_json::{Map, Value, json};
use tessera_store::{AccountToken, CodeOwner, User};

use super::tokens::{Purpose, token_shape};
use super::{CONFIRM_SCOPE, read_address};
use crate::actor::Actor;
use crate::audit::{Audit, event};
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::form::{Fields, Trim};
use crate::mail::MailKind;
use crate::secret::token_hash;
use crate::service::Auth;

impl Auth {
    /// `POST verify-email/` (`key`, or `email` and `code`): marks the address verified,
    /// consuming the token. Audited as `email.verified`. Throttled by `email_confirm` per
    /// client; a code takes at most five wrong tries.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] for an unknown, used or expired key or code, or one whose
    /// address changed since; [`AuthError::Invalid`] for missing fields;
    /// [`AuthError::Throttled`].
    pub async fn verify_email(
        &self,
        data: &Map<String, Value>,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.throttles()
            .check(CONFIRM_SCOPE, client.ident())
            .await?;
        let (token, user) = self.redeem_link_or_code(Purpose::VerifyEmail, data).await?;
        // Only the address the mail went to is proved: not one it changed to meanwhile.
        if !self.store().mark_email_proved(user.id, &user.email).await? {
            return Err(AuthError::NotFound);
        }
        let method = if data.contains_key("key") {
            "link"
        } else {
            "code"
        };
        self.audit(
            Audit::new(event::EMAIL_VERIFIED)
                .user(token.user_id)
                .client(client)
                .detail(json!({"method": method})),
        )
        .await;
        Ok(())
    }

    /// `POST verify-email/resend/` (`email`): queues a verification mail, whatever the
    /// address — the sender drops it for an unknown, inactive or already verified one.
    /// Throttled as [`Auth::request_password_reset`].
    ///
    /// # Errors
    /// As [`Auth::request_password_reset`].
    pub async fn resend_email_verification(
        &self,
        data: &Map<String, Value>,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.request_mail(MailKind::VerifyEmail, data, client).await
    }

    /// Queues a verification mail for `user`, by staff (the admin API or the command line).
    /// Audited as `admin.verification_resent`. An already verified address gets none.
    ///
    /// # Errors
    /// [`AuthError::MailOff`] with `email_backend = "off"`; [`AuthError::Invalid`]
    /// (`email`) when the user has no address; [`AuthError::Busy`] when the outbox is full.
    pub async fn staff_resend_verification(
        &self,
        user: &User,
        actor: Actor<'_>,
    ) -> Result<(), AuthError> {
        if !self.mail_enabled() {
            return Err(AuthError::MailOff);
        }
        if user.email.is_empty() {
            return Err(AuthError::field(
                "email",
                "This user has no e-mail address.",
            ));
        }
        let client = match actor {
            Actor::Staff { client, .. } => Some(client),
            Actor::CommandLine => None,
        };
        self.queue_mail(
            MailKind::VerifyEmail,
            &user.email,
            Some(user.id),
            json!({}),
            client,
        )
        .await?;
        self.audit(actor.event(event::ADMIN_VERIFICATION_RESENT, user))
            .await;
        Ok(())
    }

    /// A new account with an address gets a verification mail (none while mail is
    /// switched off). Failing to queue it is logged: the account stands.
    pub(crate) async fn queue_registration_mail(&self, user: &User, client: &ClientInfo) {
        if user.email.is_empty() || !self.mail_enabled() {
            return;
        }
        let queued = self
            .queue_mail(
                MailKind::VerifyEmail,
                &user.email,
                Some(user.id),
                json!({}),
                Some(client),
            )
            .await;
        if let Err(error) = queued {
            tracing::warn!(%error, user = user.id, "could not queue the verification mail of a new account");
        }
    }

    /// Consumes the token of `purpose` that `data` names — `key`, or `email` and `code` —
    /// and finds its user, still bound to it. For the code of an e-mail change, `email` is
    /// the new address.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] for missing or malformed fields; [`AuthError::NotFound`] for
    /// anything else.
    pub(super) async fn redeem_link_or_code(
        &self,
        purpose: Purpose,
        data: &Map<String, Value>,
    ) -> Result<(AccountToken, User), AuthError> {
        let by_code =
            !data.contains_key("key") && (data.contains_key("code") || data.contains_key("email"));
        let mut fields = Fields::new(data);
        let store = self.store();
        let token = if by_code {
            let email = read_address(&mut fields, "email");
            let code = fields.required("code", Trim::Yes);
            fields.finish()?;
            let (email, code) = (email.unwrap_or_default(), code.unwrap_or_default());
            let owner = if purpose == Purpose::EmailChange {
                CodeOwner::NewEmail(&email)
            } else {
                CodeOwner::User(store.user_by_email(&email).await?.map_or(0, |u| u.id))
            };
            let found = self
                .check_code(purpose, owner, &code)
                .await?
                .ok_or(AuthError::NotFound)?;
            store.consume_account_token(found.id, self.now()).await?
        } else {
            let key = fields.required("key", Trim::Yes);
            fields.finish()?;
            let key = key.unwrap_or_default();
            if token_shape(&key) {
                store
                    .redeem_account_token(purpose.as_str(), &token_hash(&key), self.now())
                    .await?
            } else {
                None
            }
        };
        let token = token.ok_or(AuthError::NotFound)?;
        let user = self
            .bound_user(purpose, &token)
            .await?
            .ok_or(AuthError::NotFound)?;
        Ok((token, user))
    }
}
