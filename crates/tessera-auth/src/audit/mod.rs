//! The audit log: every security event — logins and their failures, lockouts, refreshes,
//! reuse detection, logouts, password changes, staff and key actions — becomes a row in the
//! store and one structured log line (target `tessera::audit`). Never a token, a password or
//! a hash: only names, ids, the client's address and user agent, and a small JSON detail.
//!
//! Recording does not wait for the database. [`AuditLog::record`] writes the log line and puts
//! the event on a bounded queue; a background writer (started on first use, on the runtime
//! of the request that needed it) takes everything queued — up to [`BATCH`] events — and
//! writes it in one transaction. When the queue is full, recording waits: security events
//! are never dropped to keep a request fast. A batch that fails is retried a few times, and
//! then logged as lost at error level and counted in `tessera_audit_write_failures_total`.
//! [`AuditLog::flush`] waits until everything queued before it is written (the admin
//! list calls it, so staff read their own writes; so does a graceful shutdown).
//!
//! # Vocabulary
//!
//! `<subject>.<what happened>`, so that a prefix (`login.`) selects a family; see [`event`].

mod writer;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_core::{SettingsError, Timestamp};
use tessera_store::{AuditOutcome, NewAuditEvent, User};

use crate::client::ClientInfo;
use crate::datetime::drf_datetime;
use crate::keys::KeyStatus;

pub use writer::{AuditLog, BATCH};

/// The shortest retention that is not "forever".
const MIN_RETENTION: Duration = Duration::from_secs(86_400);

/// The longest login name kept (the stored row's bound, Django's `EmailField`).
const MAX_USERNAME_CHARS: usize = tessera_store::MAX_AUDIT_USERNAME_CHARS;
/// The longest client address kept (the stored row's bound).
const MAX_IP_CHARS: usize = 64;
/// The longest user agent kept (the stored row's bound).
const MAX_USER_AGENT_CHARS: usize = crate::client::MAX_USER_AGENT;
/// The longest session id kept (the stored row's bound).
const MAX_SESSION_CHARS: usize = 64;
/// The longest event name kept (the stored row's bound).
const MAX_EVENT_CHARS: usize = 64;

/// `value`'s first `max` characters: what the stored row keeps, so that the log line says
/// no more than the row (and a client cannot make either large).
fn cut(value: &str, max: usize) -> String {
    value.chars().take(max).collect()
}

/// The event names Tessera records. Failures (`outcome = "failure"`) are the refused
/// attempts and the alarms: `login.failed`, `login.locked`, `account.locked`,
/// `token.reuse_detected`, `admin.permission_denied`, and mails not sent (`mail.failed`,
/// `mail.abandoned`); every other event is a success.
pub mod event {
    /// A login opened a session (every obtain and login route, and registration, which
    /// logs in). `session` is the new session; `username` the login name.
    pub const LOGIN_SUCCEEDED: &str = "login.succeeded";
    /// Wrong credentials, or an inactive account. `username` is the name given, `user` the
    /// account when it exists; `detail.reason` is `unknown_account`, `wrong_password`,
    /// `unusable_password`, `inactive`, `wrong_code` (login by code) or
    /// `email_not_verified` (the right password, under `require_verified_email = "login"`;
    /// not counted towards the lockout) — or `password_change`: a wrong current password
    /// on a password change, which counts as a failed login of its owner.
    pub const LOGIN_FAILED: &str = "login.failed";
    /// A login refused because the name is locked (no password was checked).
    pub const LOGIN_LOCKED: &str = "login.locked";
    /// A new account (registration routes). `username` is its login name (its e-mail
    /// address, or its username with `username_field = "username"`).
    pub const ACCOUNT_REGISTERED: &str = "account.registered";
    /// This failed login locked the name; `detail.seconds` is the lock's length.
    pub const ACCOUNT_LOCKED: &str = "account.locked";
    /// The user changed their password; every session ended (`detail.sessions_ended`).
    pub const PASSWORD_CHANGED: &str = "account.password_changed";
    /// A login (or a password change's current password) matched a stored hash in an older
    /// format — one imported from Django, say — and the same password, hashed again with
    /// argon2id, replaced it; sessions and tokens were left alone. `detail.from` is the old
    /// hash's algorithm (`pbkdf2_sha256`, `bcrypt_sha256`, `argon2i` …), `detail.to` is
    /// `argon2id`.
    pub const PASSWORD_UPGRADED: &str = "password.upgraded";
    /// A refresh (or sliding) token was exchanged; `session` is its session.
    pub const TOKEN_REFRESHED: &str = "token.refreshed";
    /// A refresh token that had been rotated away was presented again: its session was
    /// revoked. `ip` and `user_agent` are the presenter's.
    pub const TOKEN_REUSE_DETECTED: &str = "token.reuse_detected";
    /// One session ended by logout, cookie logout or the blacklist route
    /// (`detail.reason`: `logout` or `blacklisted`).
    pub const LOGOUT: &str = "session.logout";
    /// "Log out everywhere" (`detail.sessions_ended`); `session` is the caller's.
    pub const LOGOUT_ALL: &str = "session.logout_all";
    /// The user ended one session from their sessions list; `session` is that session.
    pub const SESSION_ENDED: &str = "session.ended";
    /// A user created from the command line (`createsuperuser`).
    pub const ADMIN_USER_CREATED: &str = "admin.user_created";
    /// Staff changed a user (`detail` holds the fields set; deactivation adds
    /// `sessions_ended`).
    pub const ADMIN_USER_UPDATED: &str = "admin.user_updated";
    /// Staff deleted a user; `username` keeps the account's e-mail address (its username
    /// when it has none).
    pub const ADMIN_USER_DELETED: &str = "admin.user_deleted";
    /// Staff ended every session of a user (`detail.sessions_ended`).
    pub const ADMIN_SESSIONS_REVOKED: &str = "admin.sessions_revoked";
    /// Staff lifted a user's login lockout.
    pub const ADMIN_USER_UNLOCKED: &str = "admin.user_unlocked";
    /// Staff or the command line were refused an action on a user by the privilege rules
    /// (`detail.action`, and `detail.reason`, the refusal's message).
    pub const ADMIN_PERMISSION_DENIED: &str = "admin.permission_denied";
    /// A password set from the command line (`tessera user set-password`).
    pub const ADMIN_PASSWORD_SET: &str = "admin.password_set";
    /// `tessera import django` wrote users and tokens (not a dry run); `detail` holds the
    /// user table and the counts per table.
    pub const ADMIN_DJANGO_IMPORTED: &str = "admin.django_imported";
    /// A signing key was generated and published (`detail.kid`, `detail.algorithm`).
    pub const KEY_GENERATED: &str = "key.generated";
    /// A key was scheduled to sign (`detail.kid`, `detail.algorithm`, `detail.activates_at`).
    pub const KEY_ROTATED: &str = "key.rotated";
    /// A key stopped signing (`detail.kid`).
    pub const KEY_RETIRED: &str = "key.retired";
    /// A key found stored unencrypted was sealed with the key-encryption key at start
    /// (`detail.kid`, `detail.algorithm`, `detail.reason = "stored_unencrypted"`).
    pub const KEY_SEALED: &str = "key.sealed";
    /// A password-reset mail was sent (recorded by the outbox sender, which alone knows
    /// whether the address belongs to someone).
    pub const PASSWORD_RESET_SENT: &str = "password.reset_sent";
    /// A password was reset by a mailed token or code; every session ended
    /// (`detail.sessions_ended`).
    pub const PASSWORD_RESET: &str = "password.reset";
    /// A verification mail was sent.
    pub const EMAIL_VERIFICATION_SENT: &str = "email.verification_sent";
    /// An address was verified by a mailed token or code.
    pub const EMAIL_VERIFIED: &str = "email.verified";
    /// The user asked to change their address; a confirmation goes to the new one.
    pub const EMAIL_CHANGE_REQUESTED: &str = "email.change_requested";
    /// An address change was confirmed from the new address.
    pub const EMAIL_CHANGED: &str = "email.changed";
    /// A login code was sent.
    pub const LOGIN_CODE_SENT: &str = "login.code_sent";
    /// A mail could not be sent and will be tried again (`detail.kind`, `detail.attempt`,
    /// `detail.reason`: the class of failure).
    pub const MAIL_FAILED: &str = "mail.failed";
    /// A mail was given up: a permanent refusal, or too many attempts (`detail.kind`,
    /// `detail.attempts`, `detail.reason`).
    pub const MAIL_ABANDONED: &str = "mail.abandoned";
    /// A mail was not queued: its recipient had too many lately (`email_recipient` rate);
    /// `detail.kind`.
    pub const MAIL_THROTTLED: &str = "mail.throttled";
    /// Staff queued a verification mail for a user.
    pub const ADMIN_VERIFICATION_RESENT: &str = "admin.verification_resent";
    /// An API key was created (`detail.prefix`, `detail.name`, `detail.scopes`); `actor`
    /// when staff or the command line created it for someone.
    pub const API_KEY_CREATED: &str = "api_key.created";
    /// An API key was revoked (`detail.prefix`); `actor` when staff revoked it.
    pub const API_KEY_REVOKED: &str = "api_key.revoked";
    /// An API key authenticated a request from an address other than its last one
    /// (`detail.prefix`, `detail.previous_ip`, null on its first use).
    pub const API_KEY_USED_NEW_IP: &str = "api_key.used_new_ip";
    /// Staff or the command line created a group (`detail.group_id`, `detail.name`,
    /// `detail.permissions`).
    pub const ADMIN_GROUP_CREATED: &str = "admin.group_created";
    /// Staff or the command line renamed a group or replaced its permissions
    /// (`detail.group_id`, `detail.name`, `detail.previous_name` when renamed,
    /// `detail.permissions` when replaced).
    pub const ADMIN_GROUP_UPDATED: &str = "admin.group_updated";
    /// Staff or the command line deleted a group (`detail.group_id`, `detail.name`,
    /// `detail.permissions`).
    pub const ADMIN_GROUP_DELETED: &str = "admin.group_deleted";
    /// A login's first factor passed and its second step was asked for (`detail.route`;
    /// `detail.purpose`: `verify`, or `setup` under `mfa_required_for_staff`).
    pub const MFA_CHALLENGE: &str = "mfa.challenge";
    /// A second step passed (`detail.route`; `detail.method`: `totp`, `recovery_code`,
    /// `passkey`, or `totp_setup` for a staff login that set TOTP up).
    pub const MFA_VERIFIED: &str = "mfa.verified";
    /// A wrong second factor (`detail.route` and `detail.attempts` during a login;
    /// `detail.purpose`: `confirm` or `disable` otherwise).
    pub const MFA_FAILED: &str = "mfa.failed";
    /// A user set a new, pending TOTP device up (`detail.during_login`: a staff login made
    /// to set it up).
    pub const MFA_TOTP_SETUP: &str = "mfa.totp_setup";
    /// A user confirmed a TOTP device.
    pub const MFA_TOTP_ENABLED: &str = "mfa.totp_enabled";
    /// A user removed their TOTP device and recovery codes.
    pub const MFA_TOTP_DISABLED: &str = "mfa.totp_disabled";
    /// A recovery code was used up (`detail.codes_left`).
    pub const MFA_RECOVERY_CODE_USED: &str = "mfa.recovery_code_used";
    /// A user replaced their recovery codes.
    pub const MFA_RECOVERY_CODES_REGENERATED: &str = "mfa.recovery_codes_regenerated";
    /// Staff or the command line removed a user's second factors (`detail.totp`: whether
    /// TOTP was on; `detail.passkeys`: how many passkeys went).
    pub const ADMIN_MFA_RESET: &str = "admin.mfa_reset";
    /// A user registered a passkey (`detail.passkey_id`, `detail.name`).
    pub const PASSKEY_REGISTERED: &str = "passkey.registered";
    /// A passkey registration was refused (`detail.reason`: `challenge`, `malformed`,
    /// `verification`, `duplicate`).
    pub const PASSKEY_REGISTRATION_FAILED: &str = "passkey.registration_failed";
    /// A user renamed a passkey (`detail.passkey_id`, `detail.name`).
    pub const PASSKEY_RENAMED: &str = "passkey.renamed";
    /// A user deleted a passkey (`detail.passkey_id`, `detail.name`).
    pub const PASSKEY_DELETED: &str = "passkey.deleted";
    /// A passkey proved its user (`detail.passkey_id`; `detail.purpose`: `login` for a
    /// passwordless sign-in, `mfa` for a second factor).
    pub const PASSKEY_USED: &str = "passkey.used";
    /// A passkey assertion was refused (`detail.reason`, `detail.purpose`); the user when
    /// the credential is known.
    pub const PASSKEY_LOGIN_FAILED: &str = "passkey.login_failed";
    /// A user signed in through a linked identity, the second step passed if one was owed
    /// (`detail.provider`).
    pub const SOCIAL_LOGIN: &str = "social.login";
    /// A new account made from a provider's identity (`detail.provider`).
    pub const SOCIAL_SIGNUP: &str = "social.signup";
    /// An identity linked to a user (`detail.provider`, `detail.via`: `link` or `connect`).
    pub const SOCIAL_LINKED: &str = "social.linked";
    /// An identity unlinked by its user (`detail.provider`).
    pub const SOCIAL_UNLINKED: &str = "social.unlinked";
    /// A social login that failed; `detail.reason` says why (`state`, `binding`,
    /// `provider_error`, `discovery`, `token_exchange`, `id_token`, `provider_api`,
    /// `email_not_verified`, `email_required`, `link_required`, `signup_closed`,
    /// `throttled`, `inactive`, `already_linked`, `too_many_identities`, `invalid_email`,
    /// `invalid_username`, `race`, `link_binding`, `link_user`).
    pub const SOCIAL_FAILED: &str = "social.failed";

    /// Every name above, in order.
    pub const ALL: &[&str] = &[
        LOGIN_SUCCEEDED,
        LOGIN_FAILED,
        LOGIN_LOCKED,
        ACCOUNT_REGISTERED,
        ACCOUNT_LOCKED,
        PASSWORD_CHANGED,
        PASSWORD_UPGRADED,
        TOKEN_REFRESHED,
        TOKEN_REUSE_DETECTED,
        LOGOUT,
        LOGOUT_ALL,
        SESSION_ENDED,
        ADMIN_USER_CREATED,
        ADMIN_USER_UPDATED,
        ADMIN_USER_DELETED,
        ADMIN_SESSIONS_REVOKED,
        ADMIN_USER_UNLOCKED,
        ADMIN_PERMISSION_DENIED,
        ADMIN_PASSWORD_SET,
        ADMIN_DJANGO_IMPORTED,
        KEY_GENERATED,
        KEY_ROTATED,
        KEY_RETIRED,
        KEY_SEALED,
        PASSWORD_RESET_SENT,
        PASSWORD_RESET,
        EMAIL_VERIFICATION_SENT,
        EMAIL_VERIFIED,
        EMAIL_CHANGE_REQUESTED,
        EMAIL_CHANGED,
        LOGIN_CODE_SENT,
        MAIL_FAILED,
        MAIL_ABANDONED,
        MAIL_THROTTLED,
        ADMIN_VERIFICATION_RESENT,
        API_KEY_CREATED,
        API_KEY_REVOKED,
        API_KEY_USED_NEW_IP,
        ADMIN_GROUP_CREATED,
        ADMIN_GROUP_UPDATED,
        ADMIN_GROUP_DELETED,
        MFA_CHALLENGE,
        MFA_VERIFIED,
        MFA_FAILED,
        MFA_TOTP_SETUP,
        MFA_TOTP_ENABLED,
        MFA_TOTP_DISABLED,
        MFA_RECOVERY_CODE_USED,
        MFA_RECOVERY_CODES_REGENERATED,
        ADMIN_MFA_RESET,
        PASSKEY_REGISTERED,
        PASSKEY_REGISTRATION_FAILED,
        PASSKEY_RENAMED,
        PASSKEY_DELETED,
        PASSKEY_USED,
        PASSKEY_LOGIN_FAILED,
        SOCIAL_LOGIN,
        SOCIAL_SIGNUP,
        SOCIAL_LINKED,
        SOCIAL_UNLINKED,
        SOCIAL_FAILED,
    ];
}

/// The outcome of a named event: a failure for refused attempts and alarms, else a success.
pub fn outcome_of(name: &str) -> AuditOutcome {
    match name {
        event::LOGIN_FAILED
        | event::LOGIN_LOCKED
        | event::ACCOUNT_LOCKED
        | event::TOKEN_REUSE_DETECTED
        | event::ADMIN_PERMISSION_DENIED
        | event::MAIL_FAILED
        | event::MAIL_ABANDONED
        | event::PASSKEY_REGISTRATION_FAILED
        | event::PASSKEY_LOGIN_FAILED
        | event::MFA_FAILED
        | event::SOCIAL_FAILED => AuditOutcome::Failure,
        _ => AuditOutcome::Success,
    }
}

/// How long the audit log keeps events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditSettings {
    /// Events older than this are deleted (by the server every hour, and by
    /// `tessera pruneaudit`). `0` keeps them forever; otherwise at least a day. Defaults to
    /// 90 days.
    #[serde(with = "tessera_core::duration")]
    pub audit_retention: Duration,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            audit_retention: Duration::from_secs(90 * 86_400),
        }
    }
}

impl AuditSettings {
    /// Refuses a retention between zero and a day.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let retention = self.audit_retention;
        if !retention.is_zero() && retention < MIN_RETENTION {
            return Err(SettingsError {
                setting: "audit_retention".into(),
                message: "must be at least a day (\"1d\"), or 0 to keep events forever".into(),
            });
        }
        Ok(())
    }

    /// The instant before which events go, given `now`; `None` when events are kept
    /// forever.
    pub fn cutoff(&self, now: Timestamp) -> Option<Timestamp> {
        if self.audit_retention.is_zero() {
            return None;
        }
        Some(now - self.audit_retention)
    }
}

/// One event being described, for [`AuditLog::record`]: a name (its outcome follows from it,
/// see [`outcome_of`]) and what is known. The time is the state's clock at recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    event: NewAuditEvent,
    /// `detail.via = "cli"`, added last when the event is made.
    via_cli: bool,
}

impl Audit {
    /// The event `name` (one of [`event`], or an application's own).
    pub fn new(name: &str) -> Self {
        Self {
            event: NewAuditEvent::new(Timestamp::UNIX_EPOCH, name, outcome_of(name)),
            via_cli: false,
        }
    }

    /// Overrides the outcome (an application's own events).
    pub fn outcome(mut self, outcome: AuditOutcome) -> Self {
        self.event.outcome = outcome;
        self
    }

    /// The user the event concerns.
    pub fn user(mut self, user_id: i64) -> Self {
        self.event.user_id = Some(user_id);
        self
    }

    /// The staff member who acted.
    pub fn actor(mut self, actor: &User) -> Self {
        self.event.actor_id = Some(actor.id);
        self
    }

    /// The login name given (or a deleted account's address), cut to 254 characters.
    pub fn login_name(mut self, name: &str) -> Self {
        self.event.username = Some(cut(name, MAX_USERNAME_CHARS));
        self
    }

    /// The client's address and user agent, cut to 64 and 512 characters.
    pub fn client(mut self, client: &ClientInfo) -> Self {
        self.event.ip = client.ip.as_deref().map(|ip| cut(ip, MAX_IP_CHARS));
        self.event.user_agent = client
            .user_agent
            .as_deref()
            .map(|agent| cut(agent, MAX_USER_AGENT_CHARS));
        self
    }

    /// The login session the event concerns (its id, cut to 64 characters).
    pub fn session(mut self, session_id: &str) -> Self {
        self.event.session_id = Some(cut(session_id, MAX_SESSION_CHARS));
        self
    }

    /// A small JSON object with what else is worth knowing (never a secret). An object is
    /// merged into the detail set before (`via`, say); anything else replaces it.
    pub fn detail(mut self, detail: Value) -> Self {
        self.event.detail = match (self.event.detail.take(), detail) {
            (Some(Value::Object(mut before)), Value::Object(more)) => {
                before.extend(more);
                Some(Value::Object(before))
            }
            (_, detail) => Some(detail),
        };
        self
    }

    /// Marks an action taken from the command line: `detail.via = "cli"`, after the rest of
    /// the detail.
    pub fn via_cli(mut self) -> Self {
        self.via_cli = true;
        self
    }

    /// Whether the action was taken from the command line.
    pub(crate) fn is_via_cli(&self) -> bool {
        self.via_cli
    }

    /// The event, at `at`, its name cut to 64 characters.
    pub fn at(mut self, at: Timestamp) -> NewAuditEvent {
        self.event.at = at;
        if self.event.event.chars().count() > MAX_EVENT_CHARS {
            self.event.event = cut(&self.event.event, MAX_EVENT_CHARS);
        }
        if self.via_cli {
            let mut detail = match self.event.detail.take() {
                Some(Value::Object(map)) => map,
                _ => serde_json::Map::new(),
            };
            detail.insert("via".into(), "cli".into());
            self.event.detail = Some(Value::Object(detail));
        }
        self.event
    }
}

/// The event of a key change: `detail` names the key, its algorithm and its times.
pub fn key_event(name: &str, key: &KeyStatus) -> Audit {
    let time = |t: Option<Timestamp>| t.map(drf_datetime);
    Audit::new(name).detail(serde_json::json!({
        "kid": key.kid,
        "algorithm": key.algorithm,
        "activates_at": time(key.activates_at),
        "retired_at": time(key.retired_at),
    }))
}

/// Writes the structured log line of an event (target `tessera::audit`): failures at
/// `WARN`, the rest at `INFO`.
pub fn log_event(event: &NewAuditEvent) {
    let detail = event.detail.as_ref().map(tracing::field::display);
    macro_rules! line {
        ($level:expr) => {
            tracing::event!(
                target: "tessera::audit",
                $level,
                event = event.event.as_str(),
                outcome = event.outcome.as_str(),
                user = event.user_id,
                actor = event.actor_id,
                username = event.username.as_deref(),
                ip = event.ip.as_deref(),
                user_agent = event.user_agent.as_deref(),
                session = event.session_id.as_deref(),
                detail,
                "audit event"
            )
        };
    }
    match event.outcome {
        AuditOutcome::Failure => line!(tracing::Level::WARN),
        AuditOutcome::Success => line!(tracing::Level::INFO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_the_refusals_and_the_alarms() {
        let failures: Vec<&str> = event::ALL
            .iter()
            .copied()
            .filter(|name| outcome_of(name) == AuditOutcome::Failure)
            .collect();
        assert_eq!(
            failures,
            [
                "login.failed",
                "login.locked",
                "account.locked",
                "token.reuse_detected",
                "admin.permission_denied",
                "mail.failed",
                "mail.abandoned",
                "mfa.failed",
                "passkey.registration_failed",
                "passkey.login_failed",
                "social.failed"
            ]
        );
        assert_eq!(outcome_of("app.custom"), AuditOutcome::Success);
    }

    #[test]
    fn every_name_is_a_subject_and_what_happened() {
        for name in event::ALL {
            let (subject, what) = name.split_once('.').expect(name);
            assert!(!subject.is_empty() && !what.is_empty() && !what.contains('.'));
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
            );
        }
    }

    #[test]
    fn retention_is_a_day_or_more_or_forever() {
        let days = |d: u64| AuditSettings {
            audit_retention: Duration::from_secs(d * 86_400),
        };
        assert!(AuditSettings::default().validate().is_ok());
        assert_eq!(
            AuditSettings::default().audit_retention,
            Duration::from_secs(7_776_000)
        );
        assert!(days(1).validate().is_ok());
        assert!(days(0).validate().is_ok());
        let hour = AuditSettings {
            audit_retention: Duration::from_secs(3600),
        };
        assert_eq!(hour.validate().unwrap_err().setting, "audit_retention");
        assert_eq!(days(0).cutoff(Timestamp::from_micros(5)), None);
        assert_eq!(
            days(1).cutoff(Timestamp::from_micros(86_400_000_001)),
            Some(Timestamp::from_micros(1))
        );
    }

    #[test]
    fn the_log_line_holds_what_the_row_holds_cut_to_the_same_bounds() {
        let long = |c: char| std::iter::repeat_n(c, 70_000).collect::<String>();
        let client = ClientInfo {
            user_agent: Some(long('u')),
            ip: Some(long('1')),
        };
        let event = Audit::new(event::LOGIN_FAILED)
            .login_name(&long('é'))
            .client(&client)
            .session(&long('s'))
            .at(Timestamp::from_micros(1));
        let chars = |value: &Option<String>| value.as_deref().map(|v| v.chars().count());
        assert_eq!(chars(&event.username), Some(254));
        assert_eq!(chars(&event.ip), Some(64));
        assert_eq!(chars(&event.user_agent), Some(512));
        assert_eq!(chars(&event.session_id), Some(64));
    }

    #[test]
    fn the_builder_fills_what_it_is_told() {
        let client = ClientInfo {
            user_agent: Some("curl/8".into()),
            ip: Some("10.0.0.1".into()),
        };
        let event = Audit::new(event::LOGIN_FAILED)
            .user(3)
            .login_name("ada@example.com")
            .client(&client)
            .session("sid")
            .detail(serde_json::json!({"reason": "wrong_password"}))
            .at(Timestamp::from_micros(42));
        assert_eq!(event.at, Timestamp::from_micros(42));
        assert_eq!(event.outcome, AuditOutcome::Failure);
        assert_eq!(event.user_id, Some(3));
        assert_eq!(event.username.as_deref(), Some("ada@example.com"));
        assert_eq!(event.ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(event.user_agent.as_deref(), Some("curl/8"));
        assert_eq!(event.session_id.as_deref(), Some("sid"));
        let merged = Audit::new(event::ADMIN_USER_UPDATED)
            .via_cli()
            .detail(serde_json::json!({"is_staff": false}))
            .at(Timestamp::from_micros(1));
        assert_eq!(
            merged.detail.unwrap().to_string(),
            r#"{"is_staff":false,"via":"cli"}"#
        );
        let custom = Audit::new("app.export")
            .outcome(AuditOutcome::Failure)
            .at(Timestamp::from_micros(1));
        assert_eq!(custom.outcome, AuditOutcome::Failure);
    }
}
