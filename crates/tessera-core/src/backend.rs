//! simplejwt's `TokenBackend`: turns tokens into signed JWS text and back, applying the
//! registered-claim rules PyJWT applies (`exp`, `nbf`, `iat`, `aud`, `iss`).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::Claims;
use crate::error::{SettingsError, TokenError};
use crate::jwks::KeySource;
use crate::keys::{Key, KeyError, KeyRing, is_valid_kid};
use crate::settings::{Audience, KeyOrigin, Settings};
use crate::token::{Token, TokenKind};

/// Header parameters that point at keys outside the ring (RFC 7515 §4.1.2–4.1.6). Honouring
/// them would let a token choose its own key, so a token carrying one is invalid.
const FOREIGN_KEY_HEADERS: [&str; 5] = ["jku", "jwk", "x5u", "x5c", "x5t#S256"];

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
///
/// The ring can be swapped while the backend is in use ([`TokenBackend::set_keys`]): clones
/// share it, so a key rotation reaches every request at once. A [`KeySource`] (a remote
/// JWKS) is asked for `kid`s the ring does not hold.
#[derive(Debug, Clone)]
pub struct TokenBackend {
    keys: Arc<ArcSwap<KeyRing>>,
    remote: Arc<OnceLock<Arc<dyn KeySource>>>,
    audience: Option<Audience>,
    issuer: Option<String>,
    pub(crate) rules: TokenRules,
}

impl TokenBackend {
    /// Builds the backend from validated settings: `signing_key` (an HMAC secret, or a PEM
    /// private key for an asymmetric `algorithm`), the optional `verifying_key` that must
    /// belong to it, and `signing_key_id`. A missing signing key is an error.
    ///
    /// With `key_source = "store"` the ring starts empty — it neither signs nor verifies —
    /// until the store layer installs the stored keys with [`TokenBackend::set_keys`]
    /// (the service layer does). `signing_key_file` and `verifying_key_file`
    /// must have been read into `signing_key` and `verifying_key` by the caller: the core
    /// does no I/O.
    pub fn from_settings(settings: &Settings) -> Result<Self, SettingsError> {
        settings.validate()?;
        if settings.key_source == KeyOrigin::Store {
            let empty = KeyRing::verify_only([]).map_err(|e| e.for_setting("key_source"))?;
            return Ok(Self::new(empty, settings));
        }
        for (file, setting) in [
            (&settings.signing_key_file, "signing_key_file"),
            (&settings.verifying_key_file, "verifying_key_file"),
        ] {
            if file.is_some() {
                return Err(SettingsError::new(
                    setting,
                    "must be read into the key setting before the backend is built",
                ));
            }
        }
        let keys = KeyRing::new(Self::settings_key(settings)?, [])
            .map_err(|e| e.for_setting("signing_key"))?;
        Ok(Self::new(keys, settings))
    }

    /// The signing key the settings describe, with its key id: `signing_key_id` when set,
    /// else none for an HMAC secret and the RFC 7638 thumbprint for a key pair.
    pub fn settings_key(settings: &Settings) -> Result<Key, SettingsError> {
        let secret = settings
            .signing_key
            .as_ref()
            .ok_or_else(|| SettingsError::new("signing_key", "no signing key is configured"))?;
        let algorithm = settings.algorithm;
        let mut key = if algorithm.is_hmac() {
            Key::hmac(algorithm, secret.expose().as_bytes())
        } else {
            Key::from_private_pem(algorithm, secret.expose())
        }
        .map_err(|e| e.for_setting("signing_key"))?;
        if !settings.verifying_key.trim().is_empty() {
            let verifying = Key::from_public_pem(algorithm, &settings.verifying_key)
                .map_err(|e| e.for_setting("verifying_key"))?;
            key.check_pair(&verifying)
                .map_err(|e| e.for_setting("verifying_key"))?;
        }
        let kid = settings.signing_key_id.clone().or_else(|| key.thumbprint());
        if let Some(kid) = kid {
            key = key
                .with_kid(kid)
                .map_err(|e| e.for_setting("signing_key_id"))?;
        }
        Ok(key)
    }

    /// Builds the backend around an existing key ring.
    pub fn new(keys: KeyRing, settings: &Settings) -> Self {
        Self {
            keys: Arc::new(ArcSwap::from_pointee(keys)),
            remote: Arc::new(OnceLock::new()),
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

    /// Also verifies tokens whose `kid` the ring does not hold with the keys of `source`
    /// (for this backend and every clone of it). A backend takes one source, once; a second
    /// call is refused and hands the source back.
    pub fn set_key_source(&self, source: Arc<dyn KeySource>) -> Result<(), Arc<dyn KeySource>> {
        self.remote.set(source)
    }

    /// The key source, if one is set.
    pub fn key_source(&self) -> Option<&Arc<dyn KeySource>> {
        self.remote.get()
    }

    /// What to await before decoding `raw`: the key source's refresh for the token's `kid`
    /// when the ring does not hold it (see [`KeySource::refresh`]). `None` when there is
    /// nothing to do — no key source, no valid `kid`, or a key of the ring.
    pub fn refresh_for<'a>(
        &'a self,
        raw: &str,
    ) -> Option<Pin<Box<dyn Future<Output = ()> + Send + 'a>>> {
        let remote = self.remote.get()?;
        let kid = self.foreign_kid(raw)?;
        Some(Box::pin(async move { remote.refresh(&kid).await }))
    }

    /// The token's `kid` when it is valid and the ring does not hold it.
    fn foreign_kid(&self, raw: &str) -> Option<String> {
        if raw.len() > MAX_TOKEN_LEN {
            return None;
        }
        let header: Claims = decode_json(raw.split('.').next()?).ok()?;
        let Some(Value::String(kid)) = header.get("kid") else {
            return None;
        };
        (is_valid_kid(kid) && self.keys.load().find(kid).is_none()).then(|| kid.clone())
    }

    /// The key ring in use now.
    pub fn keys(&self) -> Arc<KeyRing> {
        self.keys.load_full()
    }

    /// Replaces the key ring; every clone of this backend signs and verifies with the new
    /// ring from the next token on.
    pub fn set_keys(&self, keys: KeyRing) {
        self.keys.store(Arc::new(keys));
    }

    /// Whether tokens can be signed (the ring has an active key).
    pub fn can_sign(&self) -> bool {
        self.keys.load().active().is_some()
    }

    /// The `kid` of `raw` when neither the ring nor the key source holds it — what an async
    /// layer should fetch before decoding. `None` for tokens without a (valid) `kid`, for
    /// known keys, and when there is no key source to ask.
    pub fn unknown_kid(&self, raw: &str) -> Option<String> {
        let remote = self.remote.get()?;
        self.foreign_kid(raw)
            .filter(|kid| remote.key(kid).is_none())
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
    ///
    /// # Errors
    /// When the ring has no signing key (a verify-only ring, or `key_source = "store"`
    /// before the stored keys are installed) or signing fails.
    pub fn encode(&self, token: &Token) -> Result<String, KeyError> {
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
        let ring = self.keys.load();
        let mut text = String::with_capacity(MAX_TOKEN_LEN / 8);
        let header = ring.header_b64().ok_or_else(|| {
            KeyError::new("no signing key is installed: this key ring only verifies")
        })?;
        text.push_str(header);
        text.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut text);
        let signature = ring
            .sign(text.as_bytes())
            .ok_or_else(|| KeyError::new("signing the token failed"))?;
        text.push('.');
        text.push_str(&signature);
        Ok(text)
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
        if header.contains_key("crit")
            || FOREIGN_KEY_HEADERS.iter().any(|h| header.contains_key(*h))
        {
            return Err(TokenError::Invalid);
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) if is_valid_kid(kid) => Some(kid.as_str()),
            Some(_) => return Err(TokenError::Invalid),
        };
        let message = &raw[..header_b64.len() + 1 + payload_b64.len()];
        if !self.verify_signature(alg, kid, message.as_bytes(), signature) {
            return Err(TokenError::Invalid);
        }
        let payload: Claims = decode_json(payload_b64)?;
        self.check_registered_claims(&payload, now as f64, verify_exp)?;
        Ok(payload)
    }

    /// The key named by `kid` (the ring's, else the key source's), or the active key for a
    /// token without one; the signature must be made with that key's own algorithm.
    fn verify_signature(
        &self,
        alg: &str,
        kid: Option<&str>,
        message: &[u8],
        signature: &str,
    ) -> bool {
        let ring = self.keys.load();
        if let Some(key) = ring.lookup(kid) {
            return key.verify(alg, message, signature);
        }
        match (kid, self.remote.get()) {
            (Some(kid), Some(remote)) => remote
                .key(kid)
                .is_some_and(|key| key.verify(alg, message, signature)),
            _ => false,
        }
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
        let signature = backend.keys().sign(message.as_bytes()).unwrap();
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
        let raw = b
            .encode(&Token::for_user(&b, TokenKind::access(), "7", NOW))
            .unwrap();
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
        let raw = b
            .encode(&Token::for_user(&b, TokenKind::access(), "1", NOW))
            .unwrap();
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
        let raw = other
            .encode(&Token::for_user(&other, TokenKind::access(), "1", NOW))
            .unwrap();
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
            let raw = b
                .encode(&Token::for_user(&b, TokenKind::access(), "1", NOW))
                .unwrap();
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
        let raw = b
            .encode(&Token::for_user(&b, TokenKind::access(), "1", NOW))
            .unwrap();
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

    fn pem_key(algorithm: Algorithm, kid: &str) -> Key {
        crate::keys::tests::private_key(algorithm)
            .with_kid(kid)
            .unwrap()
    }

    fn ring_backend(active: Key, others: Vec<Key>) -> TokenBackend {
        TokenBackend::new(KeyRing::new(active, others).unwrap(), &settings())
    }

    /// Signs `header.payload` with `key`, whatever the header says.
    fn forge_with(key: &Key, header: Value, payload: Value) -> String {
        let message = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(payload.to_string().as_bytes())
        );
        let signature = key.sign(message.as_bytes()).unwrap();
        format!("{message}.{signature}")
    }

    #[test]
    fn asymmetric_tokens_carry_a_sorted_header_with_kid_and_verify_by_it() {
        for alg in Algorithm::ALL.into_iter().filter(|a| !a.is_hmac()) {
            let b = ring_backend(pem_key(alg, "k1"), vec![]);
            let raw = b
                .encode(&Token::for_user(&b, TokenKind::access(), "1", NOW))
                .unwrap();
            let header = URL_SAFE_NO_PAD
                .decode(raw.split('.').next().unwrap())
                .unwrap();
            let expected = format!(r#"{{"alg":"{alg}","kid":"k1","typ":"JWT"}}"#);
            assert_eq!(String::from_utf8(header).unwrap(), expected);
            assert!(b.decode(&TokenKind::access(), &raw, NOW).is_ok(), "{alg}");
        }
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_and_new_ones_verifiable() {
        let old = pem_key(Algorithm::RS256, "old");
        let new = pem_key(Algorithm::EdDSA, "new");
        let b = ring_backend(old.clone(), vec![]);
        let before = b
            .encode(&Token::for_user(&b, TokenKind::access(), "1", NOW))
            .unwrap();
        // The new key is published (verifies) before it signs …
        b.set_keys(KeyRing::new(old.clone(), [new.clone()]).unwrap());
        let clone = b.clone();
        // … then signs, the old key still verifying.
        b.set_keys(KeyRing::new(new.clone(), [old]).unwrap());
        let after = clone
            .encode(&Token::for_user(&b, TokenKind::access(), "1", NOW))
            .unwrap();
        assert!(after.starts_with(&b64(br#"{"alg":"EdDSA","kid":"new","typ":"JWT"}"#)));
        for raw in [&before, &after] {
            assert!(clone.decode(&TokenKind::access(), raw, NOW).is_ok());
        }
        // Once the old key drops out, its tokens are invalid.
        b.set_keys(KeyRing::new(new, []).unwrap());
        assert_eq!(
            b.decode(&TokenKind::access(), &before, NOW).unwrap_err(),
            TokenError::Invalid
        );
        assert!(b.decode(&TokenKind::access(), &after, NOW).is_ok());
    }

    #[test]
    fn kid_tricks_are_invalid() {
        let active = pem_key(Algorithm::RS256, "active");
        // Another RSA key pair than the fixture's.
        let generated = crate::keys::generate_private_key(Algorithm::RS256).unwrap();
        let retired = Key::from_private_pem(Algorithm::RS256, generated.expose())
            .unwrap()
            .with_kid("retired")
            .unwrap();
        let b = ring_backend(active.clone(), vec![retired.clone()]);
        let payload = access_payload(NOW + 100, NOW);
        let header = |extra: Value| {
            let mut h = json!({"alg": "RS256", "typ": "JWT"});
            for (k, v) in extra.as_object().unwrap() {
                h[k] = v.clone();
            }
            h
        };
        // Sanity: both keys verify their own tokens.
        assert!(
            b.decode(
                &TokenKind::access(),
                &forge_with(&active, header(json!({"kid": "active"})), payload.clone()),
                NOW
            )
            .is_ok()
        );
        assert!(
            b.decode(
                &TokenKind::access(),
                &forge_with(&retired, header(json!({"kid": "retired"})), payload.clone()),
                NOW
            )
            .is_ok()
        );
        let cases = [
            ("unknown kid", &active, header(json!({"kid": "nobody"}))),
            (
                "kid with a path",
                &active,
                header(json!({"kid": "../active"})),
            ),
            (
                "kid with a slash",
                &active,
                header(json!({"kid": "keys/active"})),
            ),
            ("kid not text", &active, header(json!({"kid": 1}))),
            (
                "kid of another key",
                &active,
                header(json!({"kid": "retired"})),
            ),
            // Without kid only the active key is tried.
            ("no kid, retired key", &retired, header(json!({}))),
            (
                "jku",
                &active,
                header(json!({"kid": "active", "jku": "https://evil.example/jwks"})),
            ),
            (
                "x5u",
                &active,
                header(json!({"kid": "active", "x5u": "https://evil.example/cert"})),
            ),
            (
                "jwk",
                &active,
                header(json!({"kid": "active", "jwk": {"kty": "oct", "k": "AA"}})),
            ),
            (
                "x5c",
                &active,
                header(json!({"kid": "active", "x5c": ["MII"]})),
            ),
        ];
        for (name, key, header) in cases {
            let raw = forge_with(key, header, payload.clone());
            assert_eq!(
                b.decode(&TokenKind::access(), &raw, NOW).unwrap_err(),
                TokenError::Invalid,
                "{name}"
            );
        }
        assert!(
            b.decode(
                &TokenKind::access(),
                &forge_with(&active, header(json!({})), payload),
                NOW
            )
            .is_ok()
        );
    }

    #[test]
    fn hmac_signed_with_the_public_key_is_invalid() {
        // The classic confusion: an attacker signs HS256 with the server's public key bytes.
        let public_pem = include_str!("keys/testdata/rsa2048.pub.pem");
        let b = ring_backend(pem_key(Algorithm::RS256, "rsa"), vec![]);
        let jwk_text = b.keys().jwks().to_string();
        let payload = access_payload(NOW + 100, NOW);
        for secret in [public_pem.as_bytes(), jwk_text.as_bytes()] {
            let hmac = Key::hmac(Algorithm::HS256, secret).unwrap();
            for header in [
                json!({"alg": "HS256", "kid": "rsa", "typ": "JWT"}),
                json!({"alg": "HS256", "typ": "JWT"}),
            ] {
                let raw = forge_with(&hmac, header.clone(), payload.clone());
                assert_eq!(
                    b.decode(&TokenKind::access(), &raw, NOW).unwrap_err(),
                    TokenError::Invalid,
                    "{header}"
                );
            }
        }
        // And `none` with the kid of a real key.
        let unsigned = format!(
            "{}.{}.",
            b64(br#"{"alg":"none","kid":"rsa"}"#),
            b64(payload.to_string().as_bytes())
        );
        assert_eq!(
            b.decode(&TokenKind::access(), &unsigned, NOW).unwrap_err(),
            TokenError::Invalid
        );
    }

    #[test]
    fn a_key_source_verifies_kids_the_ring_does_not_hold() {
        let remote_key = pem_key(Algorithm::ES256, "remote");
        let public = Key::from_jwk(&remote_key.public_jwk().unwrap(), Algorithm::ES256).unwrap();
        let source = crate::jwks::StaticKeys(
            [("remote".to_owned(), Arc::new(public))]
                .into_iter()
                .collect(),
        );
        let verifier = TokenBackend::new(KeyRing::verify_only([]).unwrap(), &settings());
        verifier.set_key_source(Arc::new(source)).unwrap();
        assert!(
            verifier
                .set_key_source(Arc::new(crate::jwks::StaticKeys::default()))
                .is_err()
        );
        assert!(!verifier.can_sign());
        let payload = access_payload(NOW + 100, NOW);
        let good = forge_with(
            &remote_key,
            json!({"alg": "ES256", "kid": "remote"}),
            payload.clone(),
        );
        assert!(verifier.decode(&TokenKind::access(), &good, NOW).is_ok());
        assert_eq!(verifier.unknown_kid(&good), None);
        let unknown = forge_with(
            &remote_key,
            json!({"alg": "ES256", "kid": "later"}),
            payload.clone(),
        );
        assert_eq!(verifier.unknown_kid(&unknown).as_deref(), Some("later"));
        assert_eq!(
            verifier
                .decode(&TokenKind::access(), &unknown, NOW)
                .unwrap_err(),
            TokenError::Invalid
        );
        let pathy = forge_with(
            &remote_key,
            json!({"alg": "ES256", "kid": "../x"}),
            payload.clone(),
        );
        assert_eq!(verifier.unknown_kid(&pathy), None);
        let no_kid = forge_with(&remote_key, json!({"alg": "ES256"}), payload);
        assert_eq!(
            verifier
                .decode(&TokenKind::access(), &no_kid, NOW)
                .unwrap_err(),
            TokenError::Invalid
        );
        assert_eq!(
            backend().unknown_kid(&good),
            None,
            "no key source, nothing to fetch"
        );
    }

    #[test]
    fn pem_keys_come_from_settings_with_a_matching_verifying_key() {
        let s = Settings {
            algorithm: Algorithm::RS256,
            signing_key: Some(include_str!("keys/testdata/rsa2048.pem").into()),
            verifying_key: include_str!("keys/testdata/rsa2048.pub.pem").into(),
            ..Settings::default()
        };
        let b = TokenBackend::from_settings(&s).unwrap();
        let kid = b.keys().active().unwrap().kid().unwrap().to_owned();
        assert_eq!(kid.len(), 43, "the RFC 7638 thumbprint: {kid}");
        let raw = b
            .encode(&Token::for_user(&b, TokenKind::access(), "1", NOW))
            .unwrap();
        assert!(b.decode(&TokenKind::access(), &raw, NOW).is_ok());
        let named = TokenBackend::from_settings(&Settings {
            signing_key_id: Some("2026-11".into()),
            ..s.clone()
        })
        .unwrap();
        assert_eq!(named.keys().active().unwrap().kid(), Some("2026-11"));
        let mismatched = Settings {
            verifying_key: include_str!("keys/testdata/ec256.pub.pem").into(),
            ..s.clone()
        };
        assert_eq!(
            TokenBackend::from_settings(&mismatched)
                .unwrap_err()
                .setting,
            "verifying_key"
        );
        let wrong = Settings {
            algorithm: Algorithm::ES256,
            verifying_key: String::new(),
            ..s.clone()
        };
        let err = TokenBackend::from_settings(&wrong).unwrap_err();
        assert_eq!(err.setting, "signing_key", "{err}");
        let store = Settings {
            key_source: crate::settings::KeyOrigin::Store,
            signing_key: None,
            verifying_key: String::new(),
            ..s
        };
        let empty = TokenBackend::from_settings(&store).unwrap();
        assert!(!empty.can_sign() && empty.keys().keys().next().is_none());
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
