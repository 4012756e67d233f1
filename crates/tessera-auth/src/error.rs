//! [`AuthError`]: every way a use case can fail, typed, with no HTTP in it. The HTTP crate
//! turns it into DRF's bodies; the command line prints it as one line.

use tessera_core::{KeyError, SettingsError, TokenError, TokenKind};
use tessera_store::StoreError;

use crate::form::FieldErrors;
use crate::keys::KeysError;

/// Why a token kind refused a token, one entry per kind tried (simplejwt's `messages`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindRejection {
    /// The kind that refused it.
    pub kind: TokenKind,
    /// Its reason, one of simplejwt's token messages.
    pub message: String,
}

/// A use case that did not happen. Nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A token failed one of simplejwt's checks (`Token is expired`, …).
    #[error("{0}")]
    Token(#[from] TokenError),
    /// No accepted token kind takes the token; why each refused, in the configured order.
    #[error("Given token not valid for any token type")]
    NoValidTokenKind(Vec<KindRejection>),
    /// The token names no user.
    #[error("Token contained no recognizable user identification")]
    NoUserClaim,
    /// The token's user does not exist.
    #[error("User not found")]
    UserNotFound,
    /// The token's user is inactive.
    #[error("User is inactive")]
    UserInactive,
    /// The token was issued before a password change or a "log out everywhere".
    #[error("The user's password has been changed.")]
    PasswordChanged,
    /// A WebSocket ticket that is malformed, unknown, used, expired, or whose session,
    /// user or password changed since (one message for all, to tell an attacker nothing).
    #[error("Invalid or expired ticket.")]
    InvalidTicket,
    /// An API key that is malformed, unknown, wrong, revoked or expired, or whose user is
    /// gone or inactive (one message for all, to tell an attacker nothing).
    #[error("Invalid API key.")]
    InvalidApiKey,
    /// No active account has these credentials (a wrong login code, say): the login route's
    /// answer.
    #[error("No active account found with the given credentials")]
    InvalidCredentials,
    /// An `mfa_token` that is malformed, unknown, used, expired, out of guesses, of another
    /// purpose or route, or whose user is gone, inactive or locked out (one message for all).
    #[error("Invalid or expired MFA token.")]
    MfaTokenInvalid,
    /// A multi-factor action refused as the account stands (TOTP on already, or not on);
    /// the message says why.
    #[error("{0}")]
    MfaRefused(&'static str),
    /// A login by a user whose e-mail address is not verified, under
    /// `require_verified_email = "login"`.
    #[error("E-mail address is not verified.")]
    EmailNotVerified,
    /// A refresh for a user who is gone or inactive.
    #[error("No active account found for the given token.")]
    NoActiveAccount,
    /// A mail was asked for while `email_backend = "off"` (a staff member's verification
    /// mail, a test mail).
    #[error("E-mail is switched off.")]
    MailOff,
    /// A passkey ceremony was asked for while passkeys are unavailable: no relying party is
    /// configured and `public_url`'s host is none passkeys can be bound to.
    #[error("Passkeys are not configured on this server.")]
    PasskeysOff,
    /// Input that breaks a rule, field by field (DRF's serializer errors).
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),
    /// The thing acted on does not exist (an administrator's target user).
    #[error("not found")]
    NotFound,
    /// The privilege rules refuse this actor this action (a staff member who is not a
    /// superuser acting on a superuser, removing the last active superuser …); the message
    /// says why.
    #[error("{0}")]
    PermissionDenied(String),
    /// Over a throttle's rate; a request is allowed again after `wait` seconds.
    #[error("throttled for {wait} s")]
    Throttled {
        /// Seconds until a request will be allowed.
        wait: u64,
    },
    /// Too much work is queued (password hashing) or a dependency is momentarily away.
    #[error("busy; retry after {retry_after} s")]
    Busy {
        /// Seconds after which a retry makes sense.
        retry_after: u64,
    },
    /// A signing-key operation was refused or failed.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// A token could not be signed (no signing key is installed).
    #[error("cannot sign tokens: {0}")]
    Signing(#[from] KeyError),
    /// A setting cannot be served (it is named).
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The store failed; a momentary failure (a lost connection, a full pool) is
    /// [`StoreError::is_transient`].
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthError {
    /// One field error: `{"field": ["message"]}`.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        Self::Invalid(errors)
    }

    /// The setting at fault, when a setting cannot be served.
    pub fn setting(&self) -> Option<&str> {
        match self {
            Self::Settings(error) | Self::Keys(KeysError::Settings(error)) => Some(&error.setting),
            _ => None,
        }
    }
}

impl From<FieldErrors> for AuthError {
    fn from(errors: FieldErrors) -> Self {
        Self::Invalid(errors)
    }
}
