//! The core's two error types: why a token was refused, and why settings were.

use std::fmt;

/// Why a token was refused. `Display` gives simplejwt's exact, user-facing message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// Bad signature, wrong algorithm, malformed token, wrong audience or issuer, future `iat`…
    Invalid,
    /// The `exp` claim has passed (leeway included).
    Expired,
    /// The token has no `jti` claim.
    NoId,
    /// The token has no type claim.
    NoType,
    /// The token's type claim names another kind of token.
    WrongType,
    /// The token was revoked, rotated away or never issued by this server.
    Blacklisted,
    /// A claim the check needs is missing.
    MissingClaim(String),
    /// A time claim other than `exp` (e.g. `refresh_exp`) has passed.
    ClaimExpired(String),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid => f.write_str("Token is invalid"),
            Self::Expired => f.write_str("Token is expired"),
            Self::NoId => f.write_str("Token has no id"),
            Self::NoType => f.write_str("Token has no type"),
            Self::WrongType => f.write_str("Token has wrong type"),
            Self::Blacklisted => f.write_str("Token is blacklisted"),
            Self::MissingClaim(claim) => write!(f, "Token has no '{claim}' claim"),
            Self::ClaimExpired(claim) => write!(f, "Token '{claim}' claim has expired"),
        }
    }
}

impl std::error::Error for TokenError {}

/// A setting with a value that cannot work. `Display` names the setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// The setting's snake_case name, e.g. `access_token_lifetime`.
    pub setting: String,
    /// What is wrong with it.
    pub message: String,
}

impl SettingsError {
    pub(crate) fn new(setting: &str, message: impl Into<String>) -> Self {
        Self {
            setting: setting.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid setting `{}`: {}", self.setting, self.message)
    }
}

impl std::error::Error for SettingsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_simplejwts() {
        assert_eq!(TokenError::Invalid.to_string(), "Token is invalid");
        assert_eq!(TokenError::Expired.to_string(), "Token is expired");
        assert_eq!(TokenError::NoId.to_string(), "Token has no id");
        assert_eq!(TokenError::NoType.to_string(), "Token has no type");
        assert_eq!(TokenError::WrongType.to_string(), "Token has wrong type");
        assert_eq!(TokenError::Blacklisted.to_string(), "Token is blacklisted");
        assert_eq!(
            TokenError::MissingClaim("exp".into()).to_string(),
            "Token has no 'exp' claim"
        );
        assert_eq!(
            TokenError::ClaimExpired("refresh_exp".into()).to_string(),
            "Token 'refresh_exp' claim has expired"
        );
    }
}
