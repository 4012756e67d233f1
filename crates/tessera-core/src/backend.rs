//! simplejwt's `TokenBackend`: turns tokens into signed JWS text and back, applying the
//! registered-claim rules PyJWT applies (`exp`, `nbf`, `iat`, `aud`, `iss`).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::Claims;
use crate::error::{SettingsError, TokenError};
use crate::keys::KeyRing;
use crate::settings::{Audience, Settings};
use crate::token::{Token, TokenKind};

/// The longest token text accepted; anything longer is `Token is invalid` before any work.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Which checks [`TokenBackend::decode_with`] applies beyond the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Refuse a token whose `exp` has passed. Sliding refresh turns it off.
    pub verify_exp: bool,
    /// Refuse a token whose type claim is not the kind's (off for the verify route).
    pub verify_type: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            verify_exp: true,
            verify_type: true,
        }
    }
}

/// Claim names and lifetimes, taken from [`Settings`].
#[derive(Debug, Clone)]
pub(crate) struct TokenRules {
    pub(crate) token_type_claim: String,
    pub(crate) jti_claim: String,
    pub(crate) user_id_claim: String,
    pub(crate) refresh_exp_claim: String,
    pub(crate) access_lifetime: Duration,
    pub(crate) refresh_lifetime: Duration,
    pub(crate) sliding_lifetime: Duration,
    pub(crate) sliding_refresh_lifetime: Duration,
    pub(crate) leeway: f64,
}

/// Encodes and decodes tokens with one key ring and one set of claim rules.
#[derive(Debug, Clone)]
pub struct TokenBackend {
    keys: KeyRing,
    audience: Option<Audience>,
    issuer: Option<String>,
    pub(crate) rules: TokenRules,
}

impl TokenBackend {
    /// Builds the backend from validated settings; a missing signing key is an error.
    pub fn from_settings(settings: &Settings) -> Result<Self, SettingsError> {
        settings.validate()?;
        let secret = settings
            .signing_key
            .as_ref()
            .ok_or_else(|| SettingsError::new("signing_key", "no signing key is configured"))?;
        let keys = KeyRing::hmac(settings.algorithm, secret)?;
        Ok(Self::new(keys, settings))
    }

    /// Builds the backend around an existing key ring.
    pub fn new(keys: KeyRing, settings: &Settings) -> Self {
        Self {
            keys,
            audience: settings.audience.clone(),
            issuer: settings.issuer.clone(),
            rules: TokenRules {
                token_type_claim: settings.token_type_claim.clone(),
                jti_claim: settings.jti_claim.clone(),
                user_id_claim: settings.user_id_claim.clone(),
                refresh_exp_claim: settings.sliding_token_refresh_exp_claim.clone(),
                access_lifetime: settings.access_token_lifetime,
                refresh_lifetime: settings.refresh_token_lifetime,
                sliding_lifetime: settings.sliding_token_lifetime,
                sliding_refresh_lifetime: settings.sliding_token_refresh_lifetime,
                leeway: settings.leeway.as_secs_f64(),
            },
        }
    }

    /// The key ring in use.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The claim holding the user id (`user_id` by default).
    pub fn user_id_claim(&self) -> &str {
        &self.rules.user_id_claim
    }

    /// The claim holding the token id (`jti` by default).
    pub fn jti_claim(&self) -> &str {
        &self.rules.jti_claim
    }

    /// The claim holding the token type (`token_type` by default).
    pub fn token_type_claim(&self) -> &str {
        &self.rules.token_type_claim
    }

    /// The claim holding a sliding token's refresh deadline (`refresh_exp` by default).
    pub fn refresh_exp_claim(&self) -> &str {
        &self.rules.refresh_exp_claim
    }

    /// The signed, compact JWS text of a token; `aud` and `iss` are appended when configured.
    pub fn encode(&self, token: &Token) -> String {
        let mut payload = token.payload().clone();
        if let Some(audience) = &self.audience {
            payload.insert(
                "aud".into(),
                serde_json::to_value(audience).unwrap_or(Value::Null),
            );
        }
        if let Some(issuer) = &self.issuer {
            payload.insert("iss".into(), Value::String(issuer.clone()));
        }
        let payload = serde_json::to_vec(&payload).unwrap_or_default();
        let mut text = String::with_capacity(MAX_TOKEN_LEN / 8);
        text.push_str(self.keys.header_b64());
        text.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut text);
        let signature = self
            .keys
            .sign(text.as_bytes())
            .expect("signing with a validated key ring cannot fail");
        text.push('.');
        text.push_str(&signature);
        text
    }

    /// Decodes and fully verifies a token of `kind` (simplejwt's `Token(raw)`).
    pub fn decode(&self, kind: &TokenKind, raw: &str, now: i64) -> Result<Token, TokenError> {
        self.decode_with(kind, raw, now, DecodeOptions::default())
    }

    /// Decodes a token of any type: signature, expiry and `jti` only (simplejwt's `UntypedToken`).
    pub fn decode_untyped(&self, raw: &str, now: i64) -> Result<Token, TokenError> {
        let options = DecodeOptions {
            verify_type: false,
            ..DecodeOptions::default()
        };
        self.decode_with(&TokenKind::untyped(), raw, now, options)
    }

    /// Decodes with a choice of checks.
    pub fn decode_with(
        &self,
        kind: &TokenKind,
        raw: &str,
        now: i64,
        options: DecodeOptions,
    ) -> Result<Token, TokenError> {
        let payload = self.verified_payload(raw, now, options.verify_exp)?;
        let token = Token::from_payload(kind.clone(), payload);
        if options.verify_exp {
            token.check_exp(self, "exp", now)?;
        }
        if !token.payload().contains_key(&self.rules.jti_claim) {
            return Err(TokenError::NoId);
        }
        if options.verify_type {
            match token.payload().get(&self.rules.token_type_claim) {
                None => return Err(TokenError::NoType),
                Some(Value::String(t)) if t == kind.token_type() => {}
                Some(_) => return Err(TokenError::WrongType),
            }
        }
        Ok(token)
    }

    /// Signature, algorithm and registered claims, as PyJWT checks them.
    fn verified_payload(
        &self,
        raw: &str,
        now: i64,
        verify_exp: bool,
    ) -> Result<Claims, TokenError> {
        if raw.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Invalid);
        }
        let mut parts = raw.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Invalid);
        };
        let header: Claims = decode_json(header_b64)?;
        let Some(Value::String(alg)) = header.get("alg") else {
            return Err(TokenError::Invalid);
        };
        if header.contains_key("crit") {
            return Err(TokenError::Invalid);
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(TokenError::Invalid),
        };
        let message = &raw[..header_b64.len() + 1 + payload_b64.len()];
        if !self.keys.verify(alg, kid, message.as_bytes(), signature) {
            return Err(TokenError::Invalid);
        }
        let payload: Claims = decode_json(payload_b64)?;
        self.check_registered_claims(&payload, now as f64, verify_exp)?;
        Ok(payload)
    }

    fn check_registered_claims(
        &self,
        payload: &Claims,
        now: f64,
        verify_exp: bool,
    ) -> Result<(), TokenError> {
        let leeway = self.rules.leeway;
        let number = |claim: &str| -> Result<Option<f64>, TokenError> {
            match payload.get(claim) {
                None => Ok(None),
                Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(TokenError::Invalid),
                Some(_) => Err(TokenError::Invalid),
            }
        };
        if let Some(iat) = number("iat")?
            && iat > now + leeway
        {
            return Err(TokenError::Invalid);
        }
        if let Some(nbf) = number("nbf")?
            && nbf > now + leeway
        {
            return Err(TokenError::Invalid);
        }
        let exp = number("exp")?;
        if verify_exp
            && let Some(exp) = exp
            && exp <= now - leeway
        {
            return Err(TokenError::Expired);
        }
        if let Some(audience) = &self.audience {
            let accepted = audience.values();
            let matches = match payload.get("aud") {
                Some(Value::String(aud)) => accepted.contains(&aud.as_str()),
                Some(Value::Array(list)) => {
                    let mut names = list.iter().map(Value::as_str);
                    names.clone().all(|n| n.is_some())
                        && names.any(|n| n.is_some_and(|n| accepted.contains(&n)))
                }
                _ => false,
            };
            if !matches {
                return Err(TokenError::Invalid);
            }
        }
        if let Some(issuer) = &self.issuer
            && payload.get("iss").and_then(Value::as_str) != Some(issuer.as_str())
        {
            return Err(TokenError::Invalid);
        }
        Ok(())
    }
}

fn decode_json(segment: &str) -> Result<Claims, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| TokenError::Invalid)?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(TokenError::Invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Algorithm;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;

    fn settings() -> Settings {
        Settings {
            signing_key: Some("test-signing-key-of-at-least-32-bytes".into()),
            ..Settings::default()
        }
    }

    fn backend() -> TokenBackend {
        TokenBackend::from_settings(&settings()).unwrap()
    }

    /// Signs an arbitrary header and payload with the backend's key.
    fn forge(backend: &TokenBackend, header: Value, payload: Value) -> String {
        let message = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(payload.to_string().as_bytes())
        );
        let signature = backend.keys.sign(message.as_bytes()).unwrap();
        format!("{message}.{signature}")
    }

    fn access_payload(exp: i64, iat: i64) -> Value {
        json!({"token_type": "access", "exp": exp, "iat": iat, "jti": "abc", "user_id": "1"})
    }

    fn hs256() -> Value {
        json!({"alg": "HS256", "typ": "JWT"})
    }

    #[test]
    fn header_is_sorted_like_pyjwt_and_payload_keeps_claim_order() {
        let b = backend();
        let raw = b.encode(&Token::for_user(&b, TokenKind::access(), "7", NOW));
        let mut parts = raw.split('.');
        let header = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
        assert_eq!(header, br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload: Claims =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap())
                .unwrap();
        let keys: Vec<_> = payload.keys().map(String::as_str).collect();
        assert_eq!(keys, ["token_type", "exp", "iat", "jti", "user_id"]);
        assert_eq!(payload["user_id"], json!("7"));
        assert_eq!(payload["exp"], json!(NOW + 300));
    }

    #[test]
    fn exp_equal_to_now_is_expired() {
        let b = backend();
        let raw = forge(&b, hs256(), access_payload(NOW, NOW - 10));
        assert_eq!(
            b.decode(&TokenKind::access(), &raw, NOW).unwrap_err(),
            TokenError::Expired
        );
        assert!(b.decode(&TokenKind::access(), &raw, NOW - 1).is_ok());
    }

    #[test]
    fn leeway_extends_exp_and_tolerates_future_iat() {
        let b = TokenBackend::from_settings(&Settings {
            leeway: Duration::from_secs(5),
            ..settings()
        })
        .unwrap();
        let raw = forge(&b, hs256(), access_payload(NOW - 4, NOW - 100));
        assert!(b.decode(&TokenKind::access(), &raw, NOW).is_ok());
        let raw = forge(&b, hs256(), access_payload(NOW - 5, NOW - 100));
        assert_eq!(
            b.decode(&TokenKind::access(), &raw, NOW).unwrap_err(),
            TokenError::Expired
        );
        let raw = forge(&b, hs256(), access_payload(NOW + 100, NOW + 5));
        assert!(b.decode(&TokenKind::access(), &raw, NOW).is_ok());
        let raw = forge(&b, hs256(), access_payload(NOW + 100, NOW + 6));
        assert_eq!(
            b.decode(&TokenKind::access(), &raw, NOW).unwrap_err(),
            TokenError::Invalid
        );
    }

    #[test]
    fn future_iat_and_nbf_are_invalid() {
        let b = backend();
        let raw = forge(&b, hs256(), access_payload(NOW + 100, NOW + 1));
        assert_eq!(
            b.decode(&TokenKind::access(), &raw, NOW).unwrap_err(),
            TokenError::Invalid
        );
        let mut payload = access_payload(NOW + 100, NOW);
        payload["nbf"] = json!(NOW + 1);
        let raw = forge(&b, hs256(), payload);
        assert_eq!(
            b.decode(&TokenKind::access(), &raw, NOW).unwrap_err(),
            TokenError::Invalid
        );
    }

    #[test]
    fn missing_exp_jti_and_type_have_their_own_messages() {
        let b = backend();
        let raw = forge(
            &b,
            hs256(),
            json!({"token_type": "access", "jti": "a", "user_id": "1"}),
        );
        assert_eq!(
            b.decode(&TokenKind::access(), &raw, NOW)
                .unwrap_err()
                .to_string(),
            "Token has no 'exp' claim"
        );
        let raw = forge(
            &b,
            hs256(),
            json!({"token_type": "access", "exp": NOW + 9, "user_id": "1"}),
        );
        assert_eq!(
            b.decode(&TokenKind::access(), &raw, NOW).unwrap_err(),
            TokenError::NoId
        );
        let raw = forge(&b, hs256(), json!({"exp": NOW + 9, "jti": "a"}));
        assert_eq!(
            b.decode(&TokenKind::access(), &raw, NOW).unwrap_err(),
            TokenError::NoType
        );
        let raw = forge(
            &b,
            hs256(),
            json!({"token_type": "refresh", "exp": NOW + 9, "jti": "a"}),
        );
        assert_eq!(
            b.decode(&TokenKind::access(), &raw, NOW).unwrap_err(),
            TokenError::WrongType
        );
    }

    #[test]
    fn untyped_decoding_ignores_the_type_but_not_exp_or_jti() {
        let b = backend();
        let raw = forge(
            &b,
            hs256(),
            json!({"token_type": "refresh", "exp": NOW + 9, "jti": "a"}),
        );
        assert!(b.decode_untyped(&raw, NOW).is_ok());
        let raw = forge(&b, hs256(), json!({"exp": NOW + 9}));
        assert_eq!(b.decode_untyped(&raw, NOW).unwrap_err(), TokenError::NoId);
        let raw = forge(&b, hs256(), json!({"exp": NOW, "jti": "a"}));
        assert_eq!(
            b.decode_untyped(&raw, NOW).unwrap_err(),
            TokenError::Expired
        );
    }

    #[test]
    fn only_the_configured_algorithm_is_accepted() {
        let b = backend();
        let payload = access_payload(NOW + 100, NOW);
        for header in [
            json!({"alg": "none", "typ": "JWT"}),
            json!({"alg": "HS512", "typ": "JWT"}),
            json!({"alg": "RS256", "typ": "JWT"}),
            json!({"typ": "JWT"}),
            json!({"alg": "HS256", "crit": ["exp"]}),
            json!({"alg": "HS256", "kid": "other"}),
        ] {
            let raw = forge(&b, header.clone(), payload.clone());
            assert_eq!(
                b.decode(&TokenKind::access(), &raw, NOW).unwrap_err(),
                TokenError::Invalid,
                "{header}"
            );
        }
        // An unsigned token ("alg":"none" with an empty signature).
        let unsigned = format!(
            "{}.{}.",
            b64(br#"{"alg":"none"}"#),
            b64(payload.to_string().as_bytes())
        );
        assert_eq!(
            b.decode(&TokenKind::access(), &unsigned, NOW).unwrap_err(),
            TokenError::Invalid
        );
    }

    #[test]
    fn tampering_and_garbage_are_invalid_never_a_panic() {
        let b = backend();
        let raw = b.encode(&Token::for_user(&b, TokenKind::access(), "1", NOW));
        let (head, sig) = raw.rsplit_once('.').unwrap();
        let (header, _) = head.split_once('.').unwrap();
        let forged_payload = b64(access_payload(NOW + 100, NOW)
            .to_string()
            .replace("\"1\"", "\"2\"")
            .as_bytes());
        for garbage in [
            String::new(),
            ".".into(),
            "..".into(),
            "a.b.c".into(),
            format!("{header}.{forged_payload}.{sig}"),
            format!("{raw}."),
            format!("{raw}x"),
            raw.replace('.', ".."),
            "x".repeat(MAX_TOKEN_LEN + 1),
            forge(&b, hs256(), json!([1, 2])),
            forge(
                &b,
                hs256(),
                json!({"exp": "tomorrow", "jti": "a", "token_type": "access"}),
            ),
        ] {
            assert_eq!(
                b.decode(&TokenKind::access(), &garbage, NOW).unwrap_err(),
                TokenError::Invalid,
                "{garbage}"
            );
        }
        assert!(b.decode(&TokenKind::access(), &raw, NOW).is_ok());
        // Extreme numbers are compared, not converted: far-future exp and far-past iat are fine.
        let extreme = forge(
            &b,
            hs256(),
            json!({"exp": 1e300, "iat": -1e300, "jti": "a", "token_type": "access"}),
        );
        assert!(b.decode(&TokenKind::access(), &extreme, NOW).is_ok());
    }

    #[test]
    fn another_key_is_invalid() {
        let other = TokenBackend::from_settings(&Settings {
            signing_key: Some("another-key".into()),
            ..settings()
        })
        .unwrap();
        let raw = other.encode(&Token::for_user(&other, TokenKind::access(), "1", NOW));
        assert_eq!(
            backend()
                .decode(&TokenKind::access(), &raw, NOW)
                .unwrap_err(),
            TokenError::Invalid
        );
    }

    #[test]
    fn hs384_and_hs512_round_trip() {
        for algorithm in [Algorithm::HS384, Algorithm::HS512] {
            let b = TokenBackend::from_settings(&Settings {
                algorithm,
                ..settings()
            })
            .unwrap();
            let raw = b.encode(&Token::for_user(&b, TokenKind::access(), "1", NOW));
            assert!(
                b.decode(&TokenKind::access(), &raw, NOW).is_ok(),
                "{algorithm}"
            );
            assert_eq!(
                backend()
                    .decode(&TokenKind::access(), &raw, NOW)
                    .unwrap_err(),
                TokenError::Invalid
            );
        }
    }

    #[test]
    fn audience_and_issuer_are_written_and_required() {
        let s = Settings {
            audience: Some(Audience::One("api".into())),
            issuer: Some("https://auth.example".into()),
            ..settings()
        };
        let b = TokenBackend::from_settings(&s).unwrap();
        let raw = b.encode(&Token::for_user(&b, TokenKind::access(), "1", NOW));
        let payload: Claims = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(raw.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        let keys: Vec<_> = payload.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["token_type", "exp", "iat", "jti", "user_id", "aud", "iss"]
        );
        assert!(b.decode(&TokenKind::access(), &raw, NOW).is_ok());

        let mut wrong = access_payload(NOW + 100, NOW);
        wrong["iss"] = json!("https://auth.example");
        assert_eq!(
            b.decode(
                &TokenKind::access(),
                &forge(&b, hs256(), wrong.clone()),
                NOW
            ),
            Err(TokenError::Invalid)
        );
        wrong["aud"] = json!(["other", "api"]);
        assert!(
            b.decode(
                &TokenKind::access(),
                &forge(&b, hs256(), wrong.clone()),
                NOW
            )
            .is_ok()
        );
        wrong["aud"] = json!("other");
        assert_eq!(
            b.decode(
                &TokenKind::access(),
                &forge(&b, hs256(), wrong.clone()),
                NOW
            ),
            Err(TokenError::Invalid)
        );
        wrong["aud"] = json!("api");
        wrong["iss"] = json!("https://evil.example");
        assert_eq!(
            b.decode(&TokenKind::access(), &forge(&b, hs256(), wrong), NOW),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_missing_signing_key_is_a_settings_error() {
        assert_eq!(
            TokenBackend::from_settings(&Settings::default())
                .unwrap_err()
                .setting,
            "signing_key"
        );
    }
}
