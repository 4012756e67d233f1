//! Tokens as simplejwt models them: a kind (type claim and lifetime) and an ordered payload.
//!
//! The methods that need claim names or lifetimes take anything holding the
//! [`TokenRules`] — in practice the [`TokenBackend`](crate::TokenBackend): `token.jti(&backend)`.

use std::borrow::Cow;
use std::time::Duration;

use serde_json::Value;

use crate::Claims;
use crate::error::TokenError;
use crate::rules::TokenRules;
use crate::settings::{AuthTokenClass, Settings};
use crate::timestamp::Timestamp;

/// A kind of token: the class name used in error messages, the value of its type claim,
/// and its lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenKind {
    class_name: Cow<'static, str>,
    token_type: Cow<'static, str>,
    lifetime: Lifetime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lifetime {
    Access,
    Refresh,
    Sliding,
    Fixed(Duration),
}

impl TokenKind {
    /// simplejwt's `AccessToken`: type `access`, lifetime `access_token_lifetime`.
    pub fn access() -> Self {
        Self::builtin("AccessToken", "access", Lifetime::Access)
    }

    /// simplejwt's `RefreshToken`: type `refresh`, lifetime `refresh_token_lifetime`.
    pub fn refresh() -> Self {
        Self::builtin("RefreshToken", "refresh", Lifetime::Refresh)
    }

    /// simplejwt's `SlidingToken`: type `sliding`, lifetime `sliding_token_lifetime`, and a
    /// `refresh_exp` claim `sliding_token_refresh_lifetime` ahead.
    pub fn sliding() -> Self {
        Self::builtin("SlidingToken", "sliding", Lifetime::Sliding)
    }

    /// simplejwt's `UntypedToken`, for checks that ignore the type (the verify route).
    pub fn untyped() -> Self {
        Self::builtin("UntypedToken", "untyped", Lifetime::Fixed(Duration::ZERO))
    }

    /// A user-defined kind (e-mail verification, password reset …) with its own type claim
    /// value and lifetime.
    pub fn custom(
        class_name: impl Into<String>,
        token_type: impl Into<String>,
        lifetime: Duration,
    ) -> Self {
        Self {
            class_name: Cow::Owned(class_name.into()),
            token_type: Cow::Owned(token_type.into()),
            lifetime: Lifetime::Fixed(lifetime),
        }
    }

    fn builtin(class_name: &'static str, token_type: &'static str, lifetime: Lifetime) -> Self {
        Self {
            class_name: Cow::Borrowed(class_name),
            token_type: Cow::Borrowed(token_type),
            lifetime,
        }
    }

    /// The class name, as simplejwt reports it in `messages[].token_class`.
    pub fn class_name(&self) -> &str {
        &self.class_name
    }

    /// The value of the type claim.
    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    /// How long a token of this kind lives under `backend`'s settings.
    pub fn lifetime(&self, backend: &impl AsRef<TokenRules>) -> Duration {
        let rules = backend.as_ref();
        match self.lifetime {
            Lifetime::Access => rules.access_lifetime,
            Lifetime::Refresh => rules.refresh_lifetime,
            Lifetime::Sliding => rules.sliding_lifetime,
            Lifetime::Fixed(lifetime) => lifetime,
        }
    }

    /// The built-in kind a valid `auth_token_classes` entry names.
    fn for_auth_class(class: AuthTokenClass) -> Self {
        match class {
            AuthTokenClass::Access => Self::access(),
            AuthTokenClass::Sliding => Self::sliding(),
        }
    }
}

// Kept next to `TokenKind` rather than in `settings`, so that settings need not know tokens.
impl Settings {
    /// The token kinds named by `auth_token_classes`, in order.
    pub fn auth_token_kinds(&self) -> Vec<TokenKind> {
        self.auth_token_classes
            .iter()
            .filter_map(|c| AuthTokenClass::parse(c))
            .map(TokenKind::for_auth_class)
            .collect()
    }
}

/// A token: its kind and its claims, in the order they were set.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    kind: TokenKind,
    payload: Claims,
}

/// The whole-second claim value `lifetime` after `from`.
fn epoch_after(from: Timestamp, lifetime: Duration) -> i64 {
    from.as_secs()
        .saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX))
}

impl Token {
    /// A new token of `kind` issued at `now`: type, `exp`, `iat`, `jti` (and `refresh_exp` for
    /// sliding tokens), in simplejwt's order.
    pub fn new(backend: &impl AsRef<TokenRules>, kind: TokenKind, now: Timestamp) -> Self {
        let rules = backend.as_ref();
        let mut token = Self {
            payload: Claims::new(),
            kind,
        };
        token.payload.insert(
            rules.token_type_claim.clone(),
            Value::String(token.kind.token_type().to_owned()),
        );
        token.set_exp(rules, now);
        token.set_iat(now);
        token.set_jti(rules);
        if token.kind.lifetime == Lifetime::Sliding {
            let refresh_exp = epoch_after(now, rules.sliding_refresh_lifetime);
            token
                .payload
                .insert(rules.refresh_exp_claim.clone(), refresh_exp.into());
        }
        token
    }

    /// A new token for a user: [`Token::new`] plus the user id claim, always as text.
    pub fn for_user(
        backend: &impl AsRef<TokenRules>,
        kind: TokenKind,
        user_id: &str,
        now: Timestamp,
    ) -> Self {
        let rules = backend.as_ref();
        let mut token = Self::new(rules, kind, now);
        token.payload.insert(
            rules.user_id_claim.clone(),
            Value::String(user_id.to_owned()),
        );
        token
    }

    pub(crate) fn from_payload(kind: TokenKind, payload: Claims) -> Self {
        Self { kind, payload }
    }

    /// The token's kind.
    pub fn kind(&self) -> &TokenKind {
        &self.kind
    }

    /// All claims, in order.
    pub fn payload(&self) -> &Claims {
        &self.payload
    }

    /// One claim.
    pub fn get(&self, claim: &str) -> Option<&Value> {
        self.payload.get(claim)
    }

    /// Sets a claim; a new claim goes last, an existing one keeps its place.
    pub fn insert(&mut self, claim: impl Into<String>, value: impl Into<Value>) {
        self.payload.insert(claim.into(), value.into());
    }

    /// Removes a claim, the others keeping their order; returns its value, if it was set.
    pub fn remove(&mut self, claim: &str) -> Option<Value> {
        self.payload.shift_remove(claim)
    }

    /// The `jti` claim, when it is text.
    pub fn jti(&self, backend: &impl AsRef<TokenRules>) -> Option<&str> {
        self.get(&backend.as_ref().jti_claim)
            .and_then(Value::as_str)
    }

    /// The user id claim as text (a number is accepted too, for tokens from other issuers).
    pub fn user_id(&self, backend: &impl AsRef<TokenRules>) -> Option<String> {
        match self.get(&backend.as_ref().user_id_claim)? {
            Value::String(id) => Some(id.clone()),
            Value::Number(id) => Some(id.to_string()),
            _ => None,
        }
    }

    /// A whole-second time claim (`exp`, `iat`, `refresh_exp`) as the instant it names.
    pub fn epoch_claim(&self, claim: &str) -> Option<Timestamp> {
        let value = self.get(claim)?;
        let secs = value
            .as_i64()
            .or_else(|| value.as_f64().map(|f| f as i64))?;
        Some(Timestamp::from_secs(secs))
    }

    /// Sets `exp` to `now` plus the kind's lifetime.
    pub fn set_exp(&mut self, backend: &impl AsRef<TokenRules>, now: Timestamp) {
        let exp = epoch_after(now, self.kind.lifetime(backend));
        self.payload.insert("exp".to_owned(), exp.into());
    }

    /// Sets `iat` (whole seconds).
    pub fn set_iat(&mut self, now: Timestamp) {
        self.payload.insert("iat".to_owned(), now.as_secs().into());
    }

    /// Sets a fresh `jti`: a random UUID as 32 lowercase hex digits.
    pub fn set_jti(&mut self, backend: &impl AsRef<TokenRules>) {
        let jti = uuid::Uuid::new_v4().simple().to_string();
        self.payload
            .insert(backend.as_ref().jti_claim.clone(), Value::String(jti));
    }

    /// simplejwt's `check_exp`: the time claim must exist and lie ahead of `now` (with leeway).
    pub fn check_exp(
        &self,
        backend: &impl AsRef<TokenRules>,
        claim: &str,
        now: Timestamp,
    ) -> Result<(), TokenError> {
        let value = self
            .get(claim)
            .ok_or_else(|| TokenError::MissingClaim(claim.to_owned()))?;
        let Some(at) = value.as_f64() else {
            return Err(TokenError::Invalid);
        };
        if at <= now.as_secs() as f64 - backend.as_ref().leeway {
            return Err(if claim == "exp" {
                TokenError::Expired
            } else {
                TokenError::ClaimExpired(claim.to_owned())
            });
        }
        Ok(())
    }

    /// The access token a refresh token grants: a new access token whose other claims
    /// (everything but type, `exp`, `iat` and `jti`) are copied from this one, in order.
    pub fn access_token(&self, backend: &impl AsRef<TokenRules>, now: Timestamp) -> Token {
        let rules = backend.as_ref();
        let mut access = Token::new(rules, TokenKind::access(), now);
        for (claim, value) in &self.payload {
            let own = claim == &rules.token_type_claim
                || claim == &rules.jti_claim
                || claim == "exp"
                || claim == "iat";
            if !own {
                access.payload.insert(claim.clone(), value.clone());
            }
        }
        access
    }

    /// Rotation: a new `jti`, `exp` and `iat`, every other claim kept in place.
    pub fn rotate(&mut self, backend: &impl AsRef<TokenRules>, now: Timestamp) {
        let rules = backend.as_ref();
        self.set_jti(rules);
        self.set_exp(rules, now);
        self.set_iat(now);
    }

    /// Sliding refresh: `exp` moves to `now` plus the sliding lifetime; `jti` and
    /// `refresh_exp` stay.
    pub fn slide(&mut self, backend: &impl AsRef<TokenRules>, now: Timestamp) {
        self.set_exp(backend, now);
        self.set_iat(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::TokenBackend;
    use serde_json::json;

    const NOW: Timestamp = Timestamp::from_secs(1_700_000_000);

    fn backend() -> TokenBackend {
        TokenBackend::from_settings(&Settings {
            signing_key: Some("k".repeat(32).into()),
            ..Settings::default()
        })
        .unwrap()
    }

    fn keys(token: &Token) -> Vec<&str> {
        token.payload().keys().map(String::as_str).collect()
    }

    #[test]
    fn new_tokens_have_simplejwts_claims_in_order() {
        let b = backend();
        let refresh = Token::for_user(&b, TokenKind::refresh(), "5", NOW);
        assert_eq!(
            keys(&refresh),
            ["token_type", "exp", "iat", "jti", "user_id"]
        );
        assert_eq!(refresh.get("token_type"), Some(&json!("refresh")));
        assert_eq!(refresh.epoch_claim("exp"), Some(NOW.add_secs(86_400)));
        assert_eq!(refresh.user_id(&b).as_deref(), Some("5"));
        let jti = refresh.jti(&b).unwrap();
        assert!(
            jti.len() == 32
                && jti
                    .bytes()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }

    #[test]
    fn sliding_tokens_put_refresh_exp_after_jti() {
        let b = backend();
        let sliding = Token::for_user(&b, TokenKind::sliding(), "5", NOW);
        assert_eq!(
            keys(&sliding),
            ["token_type", "exp", "iat", "jti", "refresh_exp", "user_id"]
        );
        assert_eq!(sliding.epoch_claim("exp"), Some(NOW.add_secs(300)));
        assert_eq!(
            sliding.epoch_claim("refresh_exp"),
            Some(NOW.add_secs(86_400))
        );
    }

    #[test]
    fn access_token_copies_every_claim_but_its_own() {
        let b = backend();
        let mut refresh = Token::for_user(&b, TokenKind::refresh(), "5", NOW.add_secs(-100));
        refresh.insert("sid", "s1");
        refresh.insert("email", "a@x.com");
        let access = refresh.access_token(&b, NOW);
        assert_eq!(
            keys(&access),
            ["token_type", "exp", "iat", "jti", "user_id", "sid", "email"]
        );
        assert_eq!(access.get("token_type"), Some(&json!("access")));
        assert_eq!(access.epoch_claim("exp"), Some(NOW.add_secs(300)));
        assert_eq!(access.epoch_claim("iat"), Some(NOW));
        assert_ne!(access.jti(&b), refresh.jti(&b));
        assert_eq!(access.get("email"), Some(&json!("a@x.com")));
    }

    #[test]
    fn rotation_renews_id_and_times_and_keeps_order() {
        let b = backend();
        let mut refresh = Token::for_user(&b, TokenKind::refresh(), "5", NOW.add_secs(-100));
        refresh.insert("sid", "s1");
        let before = refresh.clone();
        refresh.rotate(&b, NOW);
        assert_eq!(keys(&refresh), keys(&before));
        assert_ne!(refresh.jti(&b), before.jti(&b));
        assert_eq!(refresh.epoch_claim("exp"), Some(NOW.add_secs(86_400)));
        assert_eq!(refresh.epoch_claim("iat"), Some(NOW));
        assert_eq!(refresh.get("sid"), before.get("sid"));
    }

    #[test]
    fn sliding_refresh_keeps_jti_and_refresh_exp() {
        let b = backend();
        let mut sliding = Token::for_user(&b, TokenKind::sliding(), "5", NOW.add_secs(-1000));
        let before = sliding.clone();
        sliding.slide(&b, NOW);
        assert_eq!(sliding.jti(&b), before.jti(&b));
        assert_eq!(sliding.get("refresh_exp"), before.get("refresh_exp"));
        assert_eq!(sliding.epoch_claim("exp"), Some(NOW.add_secs(300)));
    }

    #[test]
    fn check_exp_reports_other_claims_by_name() {
        let b = backend();
        let sliding = Token::for_user(&b, TokenKind::sliding(), "5", NOW);
        assert!(
            sliding
                .check_exp(&b, "refresh_exp", NOW.add_secs(86_399))
                .is_ok()
        );
        assert_eq!(
            sliding
                .check_exp(&b, "refresh_exp", NOW.add_secs(86_400))
                .unwrap_err()
                .to_string(),
            "Token 'refresh_exp' claim has expired"
        );
        assert_eq!(
            sliding.check_exp(&b, "exp", NOW.add_secs(300)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            sliding.check_exp(&b, "nope", NOW).unwrap_err().to_string(),
            "Token has no 'nope' claim"
        );
    }

    #[test]
    fn custom_kinds_have_their_own_type_and_lifetime() {
        let b = backend();
        let kind = TokenKind::custom(
            "EmailVerificationToken",
            "email_verification",
            Duration::from_secs(3600),
        );
        let token = Token::for_user(&b, kind.clone(), "9", NOW);
        assert_eq!(token.get("token_type"), Some(&json!("email_verification")));
        assert_eq!(token.epoch_claim("exp"), Some(NOW.add_secs(3600)));
        let raw = b.encode(&token).unwrap();
        assert!(b.decode(&kind, &raw, NOW).is_ok());
        assert_eq!(
            b.decode(&TokenKind::access(), &raw, NOW),
            Err(TokenError::WrongType)
        );
    }

    #[test]
    fn user_id_accepts_numbers_from_other_issuers() {
        let b = backend();
        let mut token = Token::new(&b, TokenKind::access(), NOW);
        token.insert("user_id", 12);
        assert_eq!(token.user_id(&b).as_deref(), Some("12"));
        token.insert("user_id", json!([1]));
        assert_eq!(token.user_id(&b), None);
    }
}
