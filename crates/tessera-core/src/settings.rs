//! Every djangorestframework-simplejwt setting, by its snake_case name, with simplejwt's
//! default, plus the few Tessera adds. Values are checked by [`Settings::validate`].

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::SettingsError;
use crate::keys::Algorithm;
use crate::secret::Secret;

pub mod boolean;

const SIMPLEJWT: &str = "rest_framework_simplejwt";

/// The `aud` value written into tokens and required of incoming ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several audiences: a token must name at least one of them.
    Many(Vec<String>),
}

impl Audience {
    /// The audiences as a list.
    pub fn values(&self) -> Vec<&str> {
        match self {
            Self::One(one) => vec![one.as_str()],
            Self::Many(many) => many.iter().map(String::as_str).collect(),
        }
    }
}

/// Where the signing keys come from (`key_source`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyOrigin {
    /// `signing_key` / `signing_key_file` (and `verifying_key`): one key, rotated by
    /// redeploying. The default.
    #[default]
    Settings,
    /// The store's key table, managed with `tessera keys …` or the admin API: rotation
    /// without downtime, picked up by every instance.
    Store,
}

/// Token settings, named and defaulted as simplejwt's `SIMPLE_JWT` dict.
///
/// Durations are read from whole seconds (`300`) or from text such as `"5m"`, `"7d"`,
/// `"1h 30m"`; lists from a list or from comma-separated text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// How long access tokens live. Defaults to 5 minutes.
    #[serde(with = "duration")]
    pub access_token_lifetime: Duration,
    /// How long refresh tokens live. Defaults to 1 day.
    #[serde(with = "duration")]
    pub refresh_token_lifetime: Duration,
    /// Whether a refresh also returns a new refresh token. Defaults to `false`.
    #[serde(with = "boolean")]
    pub rotate_refresh_tokens: bool,
    /// Whether the refresh token given up in a rotation stops working. Defaults to `false`.
    #[serde(with = "boolean")]
    pub blacklist_after_rotation: bool,
    /// Whether obtaining a pair updates the user's `last_login`. Defaults to `false`.
    #[serde(with = "boolean")]
    pub update_last_login: bool,
    /// Signing algorithm. Defaults to `HS256`.
    pub algorithm: Algorithm,
    /// Key that signs tokens: the HMAC secret, or a PEM private key (PKCS#8, or PKCS#1 for
    /// RSA) for an asymmetric algorithm. No default: it must be configured.
    pub signing_key: Option<Secret>,
    /// Public PEM key that verifies tokens (asymmetric algorithms only); it must belong to
    /// the signing key, which verifies on its own when this is empty. Defaults to empty.
    pub verifying_key: String,
    /// **Tessera:** a file holding `signing_key` (a PEM file, or a file with the secret).
    /// Defaults to none.
    pub signing_key_file: Option<PathBuf>,
    /// **Tessera:** a file holding `verifying_key`. Defaults to none.
    pub verifying_key_file: Option<PathBuf>,
    /// **Tessera:** the `kid` of the configured signing key. Defaults to none: HMAC tokens
    /// carry no `kid`, and a key pair's `kid` is its RFC 7638 thumbprint.
    pub signing_key_id: Option<String>,
    /// **Tessera:** where signing keys come from, `settings` or `store`. Defaults to `settings`.
    pub key_source: KeyOrigin,
    /// **Tessera:** the secret (32 bytes or more) that encrypts private keys kept in the
    /// store (AES-256-GCM). Defaults to none: keys are stored unencrypted, which only
    /// development allows.
    pub key_encryption_key: Option<Secret>,
    /// **Tessera:** how long a new store-kept key is published in the JWKS before it starts
    /// signing. Defaults to 1 hour.
    #[serde(with = "duration")]
    pub key_publish_lead: Duration,
    /// **Tessera:** how often keys are re-read: each instance polls the store's key table
    /// this often, and a remote JWKS is refetched for an unknown `kid` at most this often.
    /// Defaults to 30 seconds.
    #[serde(with = "duration")]
    pub key_refresh_interval: Duration,
    /// **Tessera:** how long a JWKS may be cached: the `max-age` of `/.well-known/jwks.json`
    /// (never beyond `key_publish_lead` − `key_refresh_interval`), and how long a fetched
    /// remote JWKS is used before it is fetched again. Defaults to 5 minutes.
    #[serde(with = "duration")]
    pub jwks_cache_ttl: Duration,
    /// **Tessera:** the time limit of one fetch of `jwk_url`. Defaults to 5 seconds.
    #[serde(with = "duration")]
    pub jwk_timeout: Duration,
    /// `aud` claim written and required. Defaults to none.
    pub audience: Option<Audience>,
    /// `iss` claim written and required. Defaults to none.
    pub issuer: Option<String>,
    /// simplejwt's JSON encoder class. Only `None` (the default) applies to Tessera.
    pub json_encoder: Option<String>,
    /// JWKS URL of a remote issuer. Defaults to none.
    pub jwk_url: Option<String>,
    /// Clock skew tolerated on `exp`, `nbf`, `iat` and `refresh_exp`. Defaults to 0.
    #[serde(with = "duration")]
    pub leeway: Duration,
    /// Accepted words before the token in the authorization header. Defaults to `["Bearer"]`.
    #[serde(deserialize_with = "list")]
    pub auth_header_types: Vec<String>,
    /// Header carrying the token, in Django's `HTTP_…` form or as a plain header name.
    /// Defaults to `HTTP_AUTHORIZATION`.
    pub auth_header_name: String,
    /// User field identifying the user in tokens. Defaults to `id`.
    pub user_id_field: String,
    /// Claim holding the user id (always as text). Defaults to `user_id`.
    pub user_id_claim: String,
    /// simplejwt's authentication rule (the user must be active). Only the default applies.
    pub user_authentication_rule: String,
    /// Token kinds accepted on authenticated requests, in order. Defaults to the access token.
    #[serde(deserialize_with = "list")]
    pub auth_token_classes: Vec<String>,
    /// Claim holding the token type. Defaults to `token_type`.
    pub token_type_claim: String,
    /// simplejwt's stateless user class. Only the default applies.
    pub token_user_class: String,
    /// Claim holding the token id. Defaults to `jti`.
    pub jti_claim: String,
    /// Claim holding a sliding token's refresh deadline. Defaults to `refresh_exp`.
    pub sliding_token_refresh_exp_claim: String,
    /// How long a sliding token authenticates. Defaults to 5 minutes.
    #[serde(with = "duration")]
    pub sliding_token_lifetime: Duration,
    /// How long a sliding token can be refreshed. Defaults to 1 day.
    #[serde(with = "duration")]
    pub sliding_token_refresh_lifetime: Duration,
    /// simplejwt serializer classes. Only the defaults apply: routes are built in.
    pub token_obtain_serializer: String,
    /// See `token_obtain_serializer`.
    pub token_refresh_serializer: String,
    /// See `token_obtain_serializer`.
    pub token_verify_serializer: String,
    /// See `token_obtain_serializer`.
    pub token_blacklist_serializer: String,
    /// See `token_obtain_serializer`.
    pub sliding_token_obtain_serializer: String,
    /// See `token_obtain_serializer`.
    pub sliding_token_refresh_serializer: String,
    /// Whether authentication refuses inactive users. Defaults to `true`.
    #[serde(with = "boolean")]
    pub check_user_is_active: bool,
    /// simplejwt's password-hash claim check. Tessera revokes through sessions instead, so
    /// only `false` (the default) applies.
    #[serde(with = "boolean")]
    pub check_revoke_token: bool,
    /// Claim used by `check_revoke_token`. Defaults to `hash_password`.
    pub revoke_token_claim: String,
    /// **Tessera:** how long a refresh token that was just rotated away still gets the
    /// successor already issued (two tabs refreshing at once). `0` turns it off. Defaults to 10 s.
    #[serde(with = "duration")]
    pub refresh_reuse_grace: Duration,
    /// **Tessera:** the cut-over from a Django project using simplejwt: a simplejwt
    /// refresh token (one without a `sid` claim) imported by `tessera import django` is
    /// adopted once into a new session at the refresh routes, and the logout and blacklist
    /// routes blacklist it. Defaults to `false`: such a token is refused there.
    #[serde(with = "boolean")]
    pub simplejwt_cutover: bool,
    /// **Tessera:** the credential field of the obtain routes, `email` or `username`.
    /// Defaults to `email`.
    pub username_field: UsernameField,
}

/// The credential field users log in with (Django's `USERNAME_FIELD`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UsernameField {
    /// The e-mail address (the default).
    #[default]
    Email,
    /// The username.
    Username,
}

impl UsernameField {
    /// The field's name in request bodies: `email` or `username`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Username => "username",
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        let class = |name: &str| format!("{SIMPLEJWT}.{name}");
        Self {
            access_token_lifetime: Duration::from_secs(5 * 60),
            refresh_token_lifetime: Duration::from_secs(24 * 3600),
            rotate_refresh_tokens: false,
            blacklist_after_rotation: false,
            update_last_login: false,
            algorithm: Algorithm::HS256,
            signing_key: None,
            verifying_key: String::new(),
            signing_key_file: None,
            verifying_key_file: None,
            signing_key_id: None,
            key_source: KeyOrigin::Settings,
            key_encryption_key: None,
            key_publish_lead: Duration::from_secs(3600),
            key_refresh_interval: Duration::from_secs(30),
            jwks_cache_ttl: Duration::from_secs(300),
            jwk_timeout: Duration::from_secs(5),
            audience: None,
            issuer: None,
            json_encoder: None,
            jwk_url: None,
            leeway: Duration::ZERO,
            auth_header_types: vec!["Bearer".to_owned()],
            auth_header_name: "HTTP_AUTHORIZATION".to_owned(),
            user_id_field: "id".to_owned(),
            user_id_claim: "user_id".to_owned(),
            user_authentication_rule: class("authentication.default_user_authentication_rule"),
            auth_token_classes: vec![class("tokens.AccessToken")],
            token_type_claim: "token_type".to_owned(),
            token_user_class: class("models.TokenUser"),
            jti_claim: "jti".to_owned(),
            sliding_token_refresh_exp_claim: "refresh_exp".to_owned(),
            sliding_token_lifetime: Duration::from_secs(5 * 60),
            sliding_token_refresh_lifetime: Duration::from_secs(24 * 3600),
            token_obtain_serializer: class("serializers.TokenObtainPairSerializer"),
            token_refresh_serializer: class("serializers.TokenRefreshSerializer"),
            token_verify_serializer: class("serializers.TokenVerifySerializer"),
            token_blacklist_serializer: class("serializers.TokenBlacklistSerializer"),
            sliding_token_obtain_serializer: class("serializers.TokenObtainSlidingSerializer"),
            sliding_token_refresh_serializer: class("serializers.TokenRefreshSlidingSerializer"),
            check_user_is_active: true,
            check_revoke_token: false,
            revoke_token_claim: "hash_password".to_owned(),
            refresh_reuse_grace: Duration::from_secs(10),
            simplejwt_cutover: false,
            username_field: UsernameField::Email,
        }
    }
}

impl Settings {
    /// Checks every value; the first problem found names its setting.
    pub fn validate(&self) -> Result<(), SettingsError> {
        for (name, value) in [
            ("access_token_lifetime", self.access_token_lifetime),
            ("refresh_token_lifetime", self.refresh_token_lifetime),
            ("sliding_token_lifetime", self.sliding_token_lifetime),
            (
                "sliding_token_refresh_lifetime",
                self.sliding_token_refresh_lifetime,
            ),
        ] {
            if value.is_zero() {
                return Err(SettingsError::new(name, "must be longer than zero seconds"));
            }
        }
        self.validate_keys()?;
        match &self.audience {
            Some(Audience::One(aud)) if aud.is_empty() => {
                return Err(SettingsError::new("audience", "may not be empty"));
            }
            Some(Audience::Many(list)) if list.is_empty() || list.iter().any(String::is_empty) => {
                return Err(SettingsError::new(
                    "audience",
                    "must list non-empty audiences",
                ));
            }
            _ => {}
        }
        if self.issuer.as_deref() == Some("") {
            return Err(SettingsError::new("issuer", "may not be empty"));
        }
        if self.json_encoder.is_some() {
            return Err(SettingsError::new(
                "json_encoder",
                "custom JSON encoders do not apply to Tessera; leave it unset",
            ));
        }
        if let Some(url) = &self.jwk_url {
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            if !rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/')) {
                return Err(SettingsError::new(
                    "jwk_url",
                    format!("{url:?} is not an http(s) URL"),
                ));
            }
            if self.algorithm.is_hmac() {
                return Err(SettingsError::new(
                    "jwk_url",
                    "needs an asymmetric `algorithm` (RS*, PS*, ES*, EdDSA): a JWKS never holds an HMAC secret",
                ));
            }
        }
        if self.auth_header_types.is_empty() {
            return Err(SettingsError::new(
                "auth_header_types",
                "must name at least one type",
            ));
        }
        if let Some(bad) = self
            .auth_header_types
            .iter()
            .find(|t| t.is_empty() || t.bytes().any(|b| !b.is_ascii_graphic()))
        {
            return Err(SettingsError::new(
                "auth_header_types",
                format!("{bad:?} is not a single word of visible ASCII"),
            ));
        }
        let header = self.auth_header();
        if header.is_empty()
            || !header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(SettingsError::new(
                "auth_header_name",
                format!("{:?} is not a header name", self.auth_header_name),
            ));
        }
        if self.user_id_field != "id" {
            return Err(SettingsError::new(
                "user_id_field",
                "only `id` is supported",
            ));
        }
        for (name, value) in [
            ("user_id_claim", &self.user_id_claim),
            ("token_type_claim", &self.token_type_claim),
            ("jti_claim", &self.jti_claim),
            (
                "sliding_token_refresh_exp_claim",
                &self.sliding_token_refresh_exp_claim,
            ),
            ("revoke_token_claim", &self.revoke_token_claim),
        ] {
            if value.is_empty() {
                return Err(SettingsError::new(name, "may not be empty"));
            }
        }
        let defaults = Self::default();
        for (name, value, default) in [
            (
                "user_authentication_rule",
                &self.user_authentication_rule,
                &defaults.user_authentication_rule,
            ),
            (
                "token_user_class",
                &self.token_user_class,
                &defaults.token_user_class,
            ),
            (
                "token_obtain_serializer",
                &self.token_obtain_serializer,
                &defaults.token_obtain_serializer,
            ),
            (
                "token_refresh_serializer",
                &self.token_refresh_serializer,
                &defaults.token_refresh_serializer,
            ),
            (
                "token_verify_serializer",
                &self.token_verify_serializer,
                &defaults.token_verify_serializer,
            ),
            (
                "token_blacklist_serializer",
                &self.token_blacklist_serializer,
                &defaults.token_blacklist_serializer,
            ),
            (
                "sliding_token_obtain_serializer",
                &self.sliding_token_obtain_serializer,
                &defaults.sliding_token_obtain_serializer,
            ),
            (
                "sliding_token_refresh_serializer",
                &self.sliding_token_refresh_serializer,
                &defaults.sliding_token_refresh_serializer,
            ),
        ] {
            if value != default {
                return Err(SettingsError::new(
                    name,
                    format!(
                        "only {default:?} applies; customise behaviour through the tessera-axum library"
                    ),
                ));
            }
        }
        if self.auth_token_classes.is_empty() {
            return Err(SettingsError::new(
                "auth_token_classes",
                "must name at least one token class",
            ));
        }
        if let Some(bad) = self
            .auth_token_classes
            .iter()
            .find(|c| AuthTokenClass::parse(c).is_none())
        {
            return Err(SettingsError::new(
                "auth_token_classes",
                format!("{bad:?} is not a token class (AccessToken or SlidingToken)"),
            ));
        }
        if self.check_revoke_token {
            return Err(SettingsError::new(
                "check_revoke_token",
                "Tessera revokes tokens through sessions on password change; leave it false",
            ));
        }
        Ok(())
    }

    /// The key settings: at most one of each key and its file, no verifying key with HMAC,
    /// nothing key-shaped with `key_source = "store"`, and a publish lead long enough for
    /// every instance and every JWKS cache to learn a key before it signs.
    fn validate_keys(&self) -> Result<(), SettingsError> {
        if let Some(key) = &self.signing_key
            && key.expose().is_empty()
        {
            return Err(SettingsError::new("signing_key", "may not be empty"));
        }
        if self.signing_key.is_some() && self.signing_key_file.is_some() {
            return Err(SettingsError::new(
                "signing_key_file",
                "set either `signing_key` or `signing_key_file`, not both",
            ));
        }
        if !self.verifying_key.is_empty() && self.verifying_key_file.is_some() {
            return Err(SettingsError::new(
                "verifying_key_file",
                "set either `verifying_key` or `verifying_key_file`, not both",
            ));
        }
        if self.algorithm.is_hmac() {
            if !self.verifying_key.is_empty() {
                return Err(SettingsError::new(
                    "verifying_key",
                    "must be empty with an HMAC algorithm (the signing key verifies)",
                ));
            }
            if self.verifying_key_file.is_some() {
                return Err(SettingsError::new(
                    "verifying_key_file",
                    "must be unset with an HMAC algorithm (the signing key verifies)",
                ));
            }
        }
        if let Some(kid) = &self.signing_key_id
            && !crate::keys::is_valid_kid(kid)
        {
            return Err(SettingsError::new(
                "signing_key_id",
                format!("{kid:?} is not a key id (1–128 characters of A–Z a–z 0–9 . _ ~ + = : -)"),
            ));
        }
        if let Some(kek) = &self.key_encryption_key {
            crate::sealing::KeyEncryptionKey::from_secret(kek)?;
        }
        for (name, value) in [
            ("key_refresh_interval", self.key_refresh_interval),
            ("jwk_timeout", self.jwk_timeout),
        ] {
            if value.is_zero() {
                return Err(SettingsError::new(name, "must be longer than zero seconds"));
            }
        }
        if self.key_source == KeyOrigin::Store {
            for (name, set) in [
                ("signing_key", self.signing_key.is_some()),
                ("signing_key_file", self.signing_key_file.is_some()),
                ("verifying_key", !self.verifying_key.is_empty()),
                ("verifying_key_file", self.verifying_key_file.is_some()),
                ("signing_key_id", self.signing_key_id.is_some()),
            ] {
                if set {
                    return Err(SettingsError::new(
                        name,
                        "must be unset with `key_source = \"store\"` (the store holds the keys)",
                    ));
                }
            }
            let needed = self.key_refresh_interval + self.jwks_cache_ttl;
            if self.key_publish_lead < needed {
                return Err(SettingsError::new(
                    "key_publish_lead",
                    format!(
                        "must be at least `key_refresh_interval` + `jwks_cache_ttl` ({} s), so that every \
                         instance and every JWKS cache knows a key before it signs",
                        needed.as_secs()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The `max-age` of the JWKS endpoint: `jwks_cache_ttl`, but never so long that a
    /// client could miss a key published `key_publish_lead` ahead (less one refresh of the
    /// instances that publish it).
    pub fn jwks_max_age(&self) -> Duration {
        let lead = self
            .key_publish_lead
            .saturating_sub(self.key_refresh_interval);
        self.jwks_cache_ttl.min(lead)
    }

    /// The HTTP header carrying the token, from `auth_header_name`
    /// (`HTTP_AUTHORIZATION` becomes `authorization`).
    pub fn auth_header(&self) -> String {
        let name = self
            .auth_header_name
            .strip_prefix("HTTP_")
            .unwrap_or(&self.auth_header_name);
        name.replace('_', "-").to_ascii_lowercase()
    }

    // `auth_token_kinds`, which turns `auth_token_classes` into token kinds, is defined
    // in the `token` module, next to `TokenKind`: settings do not depend on tokens.
}

/// A token class `auth_token_classes` may name: the built-in kinds that authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthTokenClass {
    /// simplejwt's `AccessToken`.
    Access,
    /// simplejwt's `SlidingToken`.
    Sliding,
}

impl AuthTokenClass {
    /// Reads a simplejwt class path (or bare class name); `None` for any other class.
    pub(crate) fn parse(class: &str) -> Option<Self> {
        let name = class
            .strip_prefix(SIMPLEJWT)
            .and_then(|rest| rest.strip_prefix(".tokens."))
            .unwrap_or(class);
        match name {
            "AccessToken" => Some(Self::Access),
            "SlidingToken" => Some(Self::Sliding),
            _ => None,
        }
    }
}

/// Durations as whole seconds, or as text such as `"15m"` or `"7 days"`.
/// Durations in settings: whole seconds, or text such as `"15m"` or `"7d"`. Use with
/// `#[serde(with = "tessera_core::duration")]`.
pub mod duration {
    use super::*;

    /// Writes whole seconds, or fractional seconds for a duration that has a fraction (a
    /// `250ms` poll interval), so that what is written reads back the same.
    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        if value.subsec_nanos() == 0 {
            serializer.serialize_u64(value.as_secs())
        } else {
            serializer.serialize_f64(value.as_secs_f64())
        }
    }

    /// Reads seconds (integer or fractional) or text.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Float(f64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Secs(secs) => Ok(Duration::from_secs(secs)),
            Raw::Float(secs) if (0.0..1e12).contains(&secs) => Ok(Duration::from_secs_f64(secs)),
            Raw::Float(secs) => Err(serde::de::Error::custom(format!(
                "{secs} is not a duration"
            ))),
            Raw::Text(text) => parse(&text).map_err(serde::de::Error::custom),
        }
    }

    /// Parses `"300"`, `"15m"`, `"7d"`, `"1h 30m"`.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        if let Ok(secs) = text.parse::<u64>() {
            return Ok(Duration::from_secs(secs));
        }
        humantime::parse_duration(text).map_err(|e| {
            format!(
                "{text:?} is not a duration ({e}); use seconds or text such as \"15m\" or \"7d\""
            )
        })
    }
}

/// A list given as a list, or as comma-separated text (convenient in environment variables):
/// `"a, b"` is `["a", "b"]`, and empty items are dropped. For `#[serde(deserialize_with =
/// "tessera_core::list")]` on every list setting.
///
/// # Errors
/// When the value is neither a list of strings nor a string.
pub fn list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Raw::deserialize(deserializer)? {
        Raw::List(list) => list,
        Raw::Text(text) => text
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
    })
}

#[cfg(test)]
mod tests;
