//! The rules tokens are built and checked by: claim names, lifetimes and clock leeway, as
//! [`Settings`] gives them.

use std::time::Duration;

use crate::settings::Settings;

/// Claim names, lifetimes and clock leeway, taken from [`Settings`].
///
/// A [`TokenBackend`](crate::TokenBackend) holds one and hands it out through
/// `AsRef<TokenRules>`, so the token methods that need the rules
/// ([`Token::for_user`](crate::Token::for_user), [`Token::jti`](crate::Token::jti) …) take
/// the backend itself: `token.user_id(&backend)`.
#[derive(Debug, Clone)]
pub struct TokenRules {
    pub(crate) token_type_claim: String,
    pub(crate) jti_claim: String,
    pub(crate) user_id_claim: String,
    pub(crate) refresh_exp_claim: String,
    pub(crate) access_lifetime: Duration,
    pub(crate) refresh_lifetime: Duration,
    pub(crate) sliding_lifetime: Duration,
    pub(crate) sliding_refresh_lifetime: Duration,
    /// Seconds of clock skew tolerated on time claims.
    pub(crate) leeway: f64,
}

impl TokenRules {
    /// The rules `settings` describe (claim names, lifetimes and `leeway`).
    pub(crate) fn from_settings(settings: &Settings) -> Self {
        Self {
            token_type_claim: settings.token_type_claim.clone(),
            jti_claim: settings.jti_claim.clone(),
            user_id_claim: settings.user_id_claim.clone(),
            refresh_exp_claim: settings.sliding_token_refresh_exp_claim.clone(),
            access_lifetime: settings.access_token_lifetime,
            refresh_lifetime: settings.refresh_token_lifetime,
            sliding_lifetime: settings.sliding_token_lifetime,
            sliding_refresh_lifetime: settings.sliding_token_refresh_lifetime,
            leeway: settings.leeway.as_secs_f64(),
        }
    }
}

impl AsRef<TokenRules> for TokenRules {
    fn as_ref(&self) -> &TokenRules {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_follow_the_settings() {
        let settings = Settings {
            jti_claim: "id".into(),
            access_token_lifetime: Duration::from_secs(60),
            leeway: Duration::from_millis(1500),
            ..Settings::default()
        };
        let rules = TokenRules::from_settings(&settings);
        assert_eq!(rules.jti_claim, "id");
        assert_eq!(rules.user_id_claim, "user_id");
        assert_eq!(rules.refresh_exp_claim, "refresh_exp");
        assert_eq!(rules.access_lifetime, Duration::from_secs(60));
        assert_eq!(rules.leeway, 1.5);
        assert!(std::ptr::eq(rules.as_ref(), &rules));
    }
}
