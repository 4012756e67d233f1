//! simplejwt's `TokenBackend`: turns tokens into signed JWS text and back, applying the
//! registered-claim rules PyJWT applies (`exp`, `nbf`, `iat`, `aud`, `iss`).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use serde_json::Value;

use crate::Claims;
use crate::encoding::{b64_append, b64_decode};
use crate::error::{SettingsError, TokenError};
use crate::jwks::KeySource;
use crate::keys::{Key, KeyError, KeyRing, is_valid_kid};
use crate::rules::TokenRules;
use crate::settings::{Audience, KeyOrigin, Settings};
use crate::timestamp::Timestamp;
use crate::token::{Token, TokenKind};
use header::Header;

/// The longest token text accepted; anything longer is `Token is invalid` before any work.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

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
    rules: TokenRules,
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
            rules: TokenRules::from_settings(settings),
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
        let mut buffer = Vec::new();
        let header = Header::decode(raw.split('.').next()?, &mut buffer).ok()?;
        let kid = header.kid()?;
        (is_valid_kid(kid) && self.keys.load().find(kid).is_none()).then(|| kid.to_owned())
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
        b64_append(&payload, &mut text);
        let signature = ring
            .sign(text.as_bytes())
            .ok_or_else(|| KeyError::new("signing the token failed"))?;
        text.push('.');
        text.push_str(&signature);
        Ok(text)
    }

    /// Decodes and fully verifies a token of `kind` (simplejwt's `Token(raw)`).
    pub fn decode(&self, kind: &TokenKind, raw: &str, now: Timestamp) -> Result<Token, TokenError> {
        self.decode_with(kind, raw, now, DecodeOptions::default())
    }

    /// Decodes a token of any type: signature, expiry and `jti` only (simplejwt's `UntypedToken`).
    pub fn decode_untyped(&self, raw: &str, now: Timestamp) -> Result<Token, TokenError> {
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
        now: Timestamp,
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
        now: Timestamp,
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
        let message = &raw[..header_b64.len() + 1 + payload_b64.len()];
        let ring = self.keys.load();
        let verified = if let Some(key) = ring.own_header(header_b64) {
            // The header this ring writes: its key is the active one, its `alg` the key's.
            key.verify(key.algorithm().name(), message.as_bytes(), signature)
        } else {
            let mut buffer = Vec::new();
            let header = Header::decode(header_b64, &mut buffer)?;
            let (alg, kid) = header.checked()?;
            self.verify_signature(&ring, alg, kid, message.as_bytes(), signature)
        };
        if !verified {
            return Err(TokenError::Invalid);
        }
        let payload: Claims = decode_json(payload_b64)?;
        self.check_registered_claims(&payload, now.as_secs() as f64, verify_exp)?;
        Ok(payload)
    }

    /// The key named by `kid` (the ring's, else the key source's), or the active key for a
    /// token without one; the signature must be made with that key's own algorithm.
    fn verify_signature(
        &self,
        ring: &KeyRing,
        alg: &str,
        kid: Option<&str>,
        message: &[u8],
        signature: &str,
    ) -> bool {
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

/// Token claims are read through the backend's rules: `token.jti(&backend)`.
impl AsRef<TokenRules> for TokenBackend {
    fn as_ref(&self) -> &TokenRules {
        &self.rules
    }
}

/// A base64url JSON object segment of a token (header or payload).
fn decode_json(segment: &str) -> Result<Claims, TokenError> {
    let bytes = b64_decode(segment).ok_or(TokenError::Invalid)?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(TokenError::Invalid),
    }
}

mod header;

#[cfg(test)]
mod tests;
