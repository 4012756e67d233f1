//! [`MailKind`]: which mail a row of the outbox asks for.

use std::fmt;
use std::str::FromStr;

/// Which mail to send. Stored in the outbox as its snake_case name ([`MailKind::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// A link and a code to choose a new password (`password_reset`).
    PasswordReset,
    /// A link and a code that prove the address belongs to the user (`verify_email`).
    VerifyEmail,
    /// To the new address of an e-mail change: a link and a code that confirm it
    /// (`email_change_confirm`).
    EmailChangeConfirm,
    /// To the old address of an e-mail change: a change was asked for, nothing to click
    /// (`email_change_notice`).
    EmailChangeNotice,
    /// A code that logs the user in (`login_code`).
    LoginCode,
}

impl MailKind {
    /// Every kind, in declaration order.
    pub const ALL: [MailKind; 5] = [
        Self::PasswordReset,
        Self::VerifyEmail,
        Self::EmailChangeConfirm,
        Self::EmailChangeNotice,
        Self::LoginCode,
    ];

    /// The snake_case name, as stored and as the templates' file names begin.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::VerifyEmail => "verify_email",
            Self::EmailChangeConfirm => "email_change_confirm",
            Self::EmailChangeNotice => "email_change_notice",
            Self::LoginCode => "login_code",
        }
    }
}

impl fmt::Display for MailKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no [`MailKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mail kind {0:?}")]
pub struct UnknownMailKind(pub String);

impl FromStr for MailKind {
    type Err = UnknownMailKind;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownMailKind(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for kind in MailKind::ALL {
            assert_eq!(kind.as_str().parse::<MailKind>(), Ok(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
    }

    #[test]
    fn an_unknown_name_is_refused() {
        assert_eq!(
            "PasswordReset".parse::<MailKind>(),
            Err(UnknownMailKind("PasswordReset".into()))
        );
    }
}
