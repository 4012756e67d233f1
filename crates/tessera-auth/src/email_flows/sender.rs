//! The outbox sender: a background task (not offline) that claims due mails with a lease,
//! resolves their user, mints their token then, renders and sends them — woken at once by
//! a mail queued in this process, and every [`MAIL_POLL_INTERVAL`] otherwise (mails queued
//! by other servers, retries coming due).
//!
//! A transient failure (a 4xx answer, a lost connection, a timeout) deletes the minted
//! token and tries again later, each wait twice the last (30 s, 1 min, … at most an hour);
//! a permanent one (5xx), or the [`MAIL_MAX_ATTEMPTS`]th failure, gives the mail up.

use std::time::Duration;

use serde_json::{Value, json};
use tessera_core::Timestamp;
use tessera_store::{NewAccountToken, OutboxMail, User};

use super::mask_email;
use super::tokens::{Purpose, Secrets, code_hash, encode_uid};
use crate::audit::{Audit, event};
use crate::error::AuthError;
use crate::mail::{Email, MailError, MailKind};
use crate::secret::token_hash;
use crate::service::{Auth, BackgroundTask};

/// How long a sender holds a mail it claimed (longer when four `email_timeout`s are
/// longer); another server takes it over after.
pub const MAIL_LEASE: Duration = Duration::from_secs(60);
/// How often the sender looks for due mails when nothing woke it.
pub const MAIL_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Mails handled in one round before the sender looks at the time again.
pub const MAIL_BATCH: i64 = 20;
/// Failed sends before a mail is given up.
pub const MAIL_MAX_ATTEMPTS: i64 = 8;
/// The wait after the first failure; each further failure doubles it.
const FIRST_RETRY: Duration = Duration::from_secs(30);
/// The longest wait between attempts.
const LONGEST_RETRY: Duration = Duration::from_secs(3600);

/// A mail ready to go, and what to do after.
struct Prepared {
    email: Email,
    /// The token minted for it, deleted if the mail does not leave.
    minted: Option<i64>,
    /// Its user.
    user_id: i64,
    /// The event recorded once it left.
    sent_event: Option<&'static str>,
}

/// What becomes of a claimed mail.
enum Plan {
    Send(Box<Prepared>),
    /// Not sent, for this reason (`unknown_address`, `inactive` …).
    Drop(&'static str),
}

impl Auth {
    /// Starts the outbox sender: it holds the service only while a round runs, and ends
    /// with the last clone.
    pub(crate) fn start_mail_sender(&self) {
        let weak = self.downgrade();
        let wake = self.mail_state().wake().clone();
        let task = tokio::spawn(async move {
            loop {
                let Some(auth) = weak.upgrade() else { return };
                if auth.store().is_closed() {
                    return;
                }
                let full = match auth.send_due_mail().await {
                    Ok(sent) => sent >= MAIL_BATCH as usize,
                    Err(error) => {
                        tracing::warn!(%error, "the outbox sender could not claim mail");
                        false
                    }
                };
                drop(auth);
                if !full {
                    tokio::select! {
                        () = wake.notified() => {}
                        () = tokio::time::sleep(MAIL_POLL_INTERVAL) => {}
                    }
                }
            }
        });
        self.keep_mail_sender(BackgroundTask(task));
    }

    /// One round of the sender: claims due mails one at a time, each under its own lease
    /// (so that a slow server cannot make the lease of a mail waiting behind another run
    /// out), and sends each (or drops it, or schedules it again), up to [`MAIL_BATCH`].
    /// Returns how many were handled. The background task runs it; tests and tools may
    /// too.
    ///
    /// # Errors
    /// The store's, when claiming fails. A failure while handling one mail is logged and
    /// leaves it to be taken again when its lease runs out.
    pub async fn send_due_mail(&self) -> Result<usize, AuthError> {
        // A send takes at most four `email_timeout`s (the mailer's bound).
        let hold = MAIL_LEASE.max(self.mail_settings().email_timeout * 4 + Duration::from_secs(10));
        let mut handled = 0;
        while handled < MAIL_BATCH {
            let now = self.now();
            let lease = now + hold;
            let Some(mail) = self
                .store()
                .claim_due_mail(now, lease, 1)
                .await?
                .into_iter()
                .next()
            else {
                break;
            };
            handled += 1;
            if let Err(error) = self.handle_mail(&mail, lease).await {
                tracing::warn!(%error, id = mail.id, kind = mail.kind, "could not handle a queued mail");
            }
        }
        Ok(usize::try_from(handled).unwrap_or(usize::MAX))
    }

    /// Sends one claimed mail, or drops it, or schedules it again.
    async fn handle_mail(&self, mail: &OutboxMail, lease: Timestamp) -> Result<(), AuthError> {
        let Ok(kind) = mail.kind.parse::<MailKind>() else {
            self.drop_mail(mail, "unknown_kind", lease).await?;
            return Ok(());
        };
        let prepared = match self.plan(kind, mail).await? {
            Plan::Drop(reason) => return self.drop_mail(mail, reason, lease).await,
            Plan::Send(prepared) => prepared,
        };
        match self.mailer().send(&prepared.email).await {
            Ok(()) => {
                self.store().finish_mail(mail.id, lease).await?;
                metrics::counter!("tessera_mail_sent_total", "kind" => kind.as_str()).increment(1);
                if let Some(name) = prepared.sent_event {
                    self.audit(Audit::new(name).user(prepared.user_id)).await;
                }
            }
            Err(error) => {
                if let Some(id) = prepared.minted {
                    self.store().delete_account_token(id).await?;
                }
                self.mail_failed(kind, mail, prepared.user_id, &error, lease)
                    .await?;
            }
        }
        Ok(())
    }

    /// A mail that did not leave: scheduled again, or given up.
    async fn mail_failed(
        &self,
        kind: MailKind,
        mail: &OutboxMail,
        user_id: i64,
        error: &MailError,
        lease: Timestamp,
    ) -> Result<(), AuthError> {
        let attempt = mail.attempts + 1;
        let reason = failure_class(error);
        metrics::counter!("tessera_mail_failures_total", "kind" => kind.as_str()).increment(1);
        if error.permanent || attempt >= MAIL_MAX_ATTEMPTS {
            self.store().finish_mail(mail.id, lease).await?;
            tracing::error!(
                id = mail.id,
                kind = kind.as_str(),
                attempts = attempt,
                error = %error,
                "a mail was given up"
            );
            let detail = json!({"kind": kind.as_str(), "attempts": attempt, "reason": reason});
            self.audit(
                Audit::new(event::MAIL_ABANDONED)
                    .user(user_id)
                    .detail(detail),
            )
            .await;
        } else {
            let next = self.now() + retry_after(mail.attempts);
            self.store()
                .retry_mail(mail.id, lease, next, &error.message)
                .await?;
            tracing::warn!(
                id = mail.id,
                kind = kind.as_str(),
                attempt,
                error = %error,
                "a mail was not sent; trying again later"
            );
            let detail = json!({"kind": kind.as_str(), "attempt": attempt, "reason": reason});
            self.audit(Audit::new(event::MAIL_FAILED).user(user_id).detail(detail))
                .await;
        }
        Ok(())
    }

    /// A mail not sent for `reason`: deleted and counted.
    async fn drop_mail(
        &self,
        mail: &OutboxMail,
        reason: &'static str,
        lease: Timestamp,
    ) -> Result<(), AuthError> {
        self.store().finish_mail(mail.id, lease).await?;
        let kind = mail.kind.clone();
        metrics::counter!("tessera_mail_dropped_total", "kind" => kind, "reason" => reason)
            .increment(1);
        tracing::debug!(
            id = mail.id,
            kind = mail.kind,
            reason,
            "a queued mail was dropped"
        );
        Ok(())
    }

    /// The user a mail is for: by id when the request knew them (their address must still
    /// be the recipient), else by the recipient address.
    async fn recipient_user(&self, mail: &OutboxMail) -> Result<Option<User>, AuthError> {
        let user = match mail.user_id {
            Some(id) => self.store().user_by_id(id).await?,
            None => self.store().user_by_email(&mail.recipient).await?,
        };
        Ok(user.filter(|user| !user.email.is_empty() && user.email == mail.recipient))
    }

    /// Decides what to send: resolves the user, mints the token, renders the texts.
    async fn plan(&self, kind: MailKind, mail: &OutboxMail) -> Result<Plan, AuthError> {
        let detail: Value = serde_json::from_str(&mail.detail).unwrap_or(Value::Null);
        let flows = self.email_flow_settings();
        let (user, purpose) = match kind {
            MailKind::PasswordReset => {
                let Some(user) = self.recipient_user(mail).await? else {
                    return Ok(Plan::Drop("unknown_address"));
                };
                if !user.is_active {
                    return Ok(Plan::Drop("inactive"));
                }
                if !user.has_usable_password()
                    && self.store().social_identities_of(user.id).await?.is_empty()
                {
                    // Django's `PasswordResetForm.get_users`: no reset for accounts
                    // without a usable password — unless a linked provider signs the
                    // account in (it proved the address): how a social account gets a
                    // password.
                    return Ok(Plan::Drop("unusable_password"));
                }
                (user, Some(Purpose::PasswordReset))
            }
            MailKind::VerifyEmail => {
                let Some(user) = self.recipient_user(mail).await? else {
                    return Ok(Plan::Drop("unknown_address"));
                };
                if !user.is_active {
                    return Ok(Plan::Drop("inactive"));
                }
                if user.email_verified {
                    return Ok(Plan::Drop("already_verified"));
                }
                (user, Some(Purpose::VerifyEmail))
            }
            MailKind::LoginCode => {
                if !flows.login_by_code {
                    return Ok(Plan::Drop("disabled"));
                }
                let Some(user) = self.recipient_user(mail).await? else {
                    return Ok(Plan::Drop("unknown_address"));
                };
                if !user.is_active {
                    return Ok(Plan::Drop("inactive"));
                }
                if !user.has_usable_password() {
                    // As a reset: an account without a usable password (Django's
                    // `set_unusable_password`) is not logged into by mail either.
                    return Ok(Plan::Drop("unusable_password"));
                }
                (user, Some(Purpose::LoginCode))
            }
            MailKind::EmailChangeConfirm | MailKind::EmailChangeNotice => {
                let Some(id) = mail.user_id else {
                    return Ok(Plan::Drop("unknown_address"));
                };
                let Some(user) = self.store().user_by_id(id).await? else {
                    return Ok(Plan::Drop("unknown_address"));
                };
                if !user.is_active {
                    return Ok(Plan::Drop("inactive"));
                }
                if kind == MailKind::EmailChangeConfirm {
                    if let Some(other) = self.store().user_by_email(&mail.recipient).await?
                        && other.id != user.id
                    {
                        return Ok(Plan::Drop("address_taken"));
                    }
                    (user, Some(Purpose::EmailChange))
                } else {
                    (user, None)
                }
            }
        };
        let expires = purpose.map(|p| self.lifetime_of(p));
        let mut vars: Vec<(&str, String)> = vec![
            ("site", self.site()),
            ("email", mail.recipient.clone()),
            (
                "login",
                self.login_name_of(&user).unwrap_or(&user.email).to_owned(),
            ),
        ];
        if let Some(lifetime) = expires {
            vars.push(("expires", describe(lifetime)));
        }
        let mut minted = None;
        if let Some(purpose) = purpose {
            let new_email = (purpose == Purpose::EmailChange).then_some(mail.recipient.as_str());
            let secrets = Secrets::generate()?;
            let now = self.now();
            let new = NewAccountToken {
                purpose: purpose.as_str(),
                user_id: user.id,
                token_hash: &token_hash(&secrets.token),
                binding: &purpose.binding(&user, new_email),
                new_email,
                now,
                expires_at: now + self.lifetime_of(purpose),
            };
            let code = secrets.code.clone();
            let hasher = self.api_key_hasher().clone();
            let stored = self
                .store()
                .mint_account_token(&new, &move |id| code_hash(&hasher, id, &code))
                .await?;
            minted = Some(stored.id);
            if let Some(url) = self.link(purpose, &user, &secrets.token) {
                vars.push(("url", url));
            }
            vars.push(("code", secrets.code));
        }
        if kind == MailKind::EmailChangeNotice {
            let new_email = detail
                .get("new_email")
                .and_then(Value::as_str)
                .unwrap_or_default();
            vars.push(("new_email", mask_email(new_email)));
        }
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (subject, text, html) = self.mail_state().templates().render(kind, &vars);
        let sent_event = match kind {
            MailKind::PasswordReset => Some(event::PASSWORD_RESET_SENT),
            MailKind::VerifyEmail => Some(event::EMAIL_VERIFICATION_SENT),
            MailKind::LoginCode => Some(event::LOGIN_CODE_SENT),
            MailKind::EmailChangeConfirm | MailKind::EmailChangeNotice => None,
        };
        Ok(Plan::Send(Box::new(Prepared {
            email: Email {
                to: mail.recipient.clone(),
                subject,
                text,
                html,
            },
            minted,
            user_id: user.id,
            sent_event,
        })))
    }

    /// How long a token of `purpose` works.
    pub(crate) fn lifetime_of(&self, purpose: Purpose) -> Duration {
        let flows = self.email_flow_settings();
        match purpose {
            Purpose::PasswordReset => flows.password_reset_timeout,
            Purpose::VerifyEmail => flows.email_verification_timeout,
            Purpose::EmailChange => flows.email_change_timeout,
            Purpose::LoginCode => flows.login_code_timeout,
        }
    }

    /// The public URL without a trailing slash.
    fn server(&self) -> &str {
        self.mail_state().public_url().trim_end_matches('/')
    }

    /// The host of the public URL (the mails' `site`).
    fn site(&self) -> String {
        url::Url::parse(self.server())
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_else(|| self.server().to_owned())
    }

    /// The link of a mail carrying `token` for `user`; login codes have none.
    fn link(&self, purpose: Purpose, user: &User, token: &str) -> Option<String> {
        let flows = self.email_flow_settings();
        let template = match purpose {
            Purpose::PasswordReset => &flows.password_reset_url,
            Purpose::VerifyEmail => &flows.email_verification_url,
            Purpose::EmailChange => &flows.email_change_url,
            Purpose::LoginCode => return None,
        };
        Some(
            template
                .replace("{server}", self.server())
                .replace("{uid}", &encode_uid(user.id))
                .replace("{token}", token)
                .replace("{key}", token),
        )
    }

    /// Sends the test message ([`Email::test_message`]) to `to` now, through the
    /// configured backend (Django's `sendtestemail`).
    ///
    /// # Errors
    /// [`AuthError::MailOff`] with `email_backend = "off"`; the mail's failure, as
    /// [`AuthError::Settings`] naming `email_backend` (what to fix is the mail
    /// configuration).
    pub async fn send_test_email(&self, to: &str) -> Result<(), AuthError> {
        if !self.mail_enabled() {
            return Err(AuthError::MailOff);
        }
        let email = Email::test_message(to, self.server(), self.now());
        self.mailer().send(&email).await.map_err(|error| {
            AuthError::Settings(tessera_core::SettingsError {
                setting: "email_backend".into(),
                message: error.message,
            })
        })
    }
}

/// The wait before the attempt after `failed` failures: 30 s doubled for each earlier
/// failure, at most an hour.
fn retry_after(failed: i64) -> Duration {
    let doublings = u32::try_from(failed.clamp(0, 16)).unwrap_or(16);
    FIRST_RETRY
        .saturating_mul(2u32.saturating_pow(doublings))
        .min(LONGEST_RETRY)
}

/// The kind of a failure, for the audit log (never the server's words, which may quote the
/// address).
fn failure_class(error: &MailError) -> &'static str {
    if error.permanent {
        "permanent"
    } else if error.message.contains("timed out") {
        "timeout"
    } else {
        "transient"
    }
}

/// A lifetime as the mails say it: "1 hour", "3 days", "15 minutes".
fn describe(lifetime: Duration) -> String {
    let secs = lifetime.as_secs();
    let (count, unit) = if secs >= 86_400 && secs.is_multiple_of(86_400) {
        (secs / 86_400, "day")
    } else if secs >= 3600 && secs.is_multiple_of(3600) {
        (secs / 3600, "hour")
    } else if secs >= 60 && secs.is_multiple_of(60) {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_an_hour() {
        assert_eq!(retry_after(0), Duration::from_secs(30));
        assert_eq!(retry_after(1), Duration::from_secs(60));
        assert_eq!(retry_after(3), Duration::from_secs(240));
        assert_eq!(retry_after(7), Duration::from_secs(3600));
        assert_eq!(retry_after(i64::MAX), Duration::from_secs(3600));
    }

    #[test]
    fn lifetimes_read_well() {
        assert_eq!(describe(Duration::from_secs(3600)), "1 hour");
        assert_eq!(describe(Duration::from_secs(3 * 86_400)), "3 days");
        assert_eq!(describe(Duration::from_secs(900)), "15 minutes");
        assert_eq!(describe(Duration::from_secs(90)), "90 seconds");
    }
}
