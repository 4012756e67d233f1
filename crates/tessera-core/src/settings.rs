//! Every djangorestframework-simplejwt setting, by its snake_case name, with simplejwt's
//! default, plus the few Tessera adds. Values are checked by [`Settings::validate`].

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::SettingsError;
use crate::keys::Algorithm;
use crate::secret::Secret;

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
    pub rotate_refresh_tokens: bool,
    /// Whether the refresh token given up in a rotation stops working. Defaults to `false`.
    pub blacklist_after_rotation: bool,
    /// Whether obtaining a pair updates the user's `last_login`. Defaults to `false`.
    pub update_last_login: bool,
    /// Signing algorithm. Defaults to `HS256`.
    pub algorithm: Algorithm,
    /// Key that signs tokens (the HMAC secret). No default: it must be configured.
    pub signing_key: Option<Secret>,
    /// Key that verifies tokens (asymmetric algorithms only). Defaults to empty.
    pub verifying_key: String,
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
    pub check_user_is_active: bool,
    /// simplejwt's password-hash claim check. Tessera revokes through sessions instead, so
    /// only `false` (the default) applies.
    pub check_revoke_token: bool,
    /// Claim used by `check_revoke_token`. Defaults to `hash_password`.
    pub revoke_token_claim: String,
    /// **Tessera:** how long a refresh token that was just rotated away still gets the
    /// successor already issued (two tabs refreshing at once). `0` turns it off. Defaults to 10 s.
    #[serde(with = "duration")]
    pub refresh_reuse_grace: Duration,
    /// **Tessera:** the credential field of the obtain routes, `email` or `username`.
    /// Defaults to `email`.
    pub username_field: String,
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
            username_field: "email".to_owned(),
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
        if !self.algorithm.is_supported() {
            return Err(SettingsError::new(
                "algorithm",
                format!(
                    "{} is not supported yet; use HS256, HS384 or HS512",
                    self.algorithm.name()
                ),
            ));
        }
        if let Some(key) = &self.signing_key
            && key.expose().is_empty()
        {
            return Err(SettingsError::new("signing_key", "may not be empty"));
        }
        if !self.verifying_key.is_empty() && self.algorithm.is_hmac() {
            return Err(SettingsError::new(
                "verifying_key",
                "must be empty with an HMAC algorithm (the signing key verifies)",
            ));
        }
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
        if self.jwk_url.is_some() {
            return Err(SettingsError::new(
                "jwk_url",
                "remote JWKS verification is not supported yet",
            ));
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
            .find(|c| token_class_kind(c).is_none())
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
        if !matches!(self.username_field.as_str(), "email" | "username") {
            return Err(SettingsError::new(
                "username_field",
                "must be `email` or `username`",
            ));
        }
        Ok(())
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

    /// The token kinds named by `auth_token_classes`, in order.
    pub fn auth_token_kinds(&self) -> Vec<crate::TokenKind> {
        self.auth_token_classes
            .iter()
            .filter_map(|c| token_class_kind(c))
            .collect()
    }
}

/// Maps a simplejwt class path (or bare class name) to a built-in token kind.
fn token_class_kind(class: &str) -> Option<crate::TokenKind> {
    let name = class
        .strip_prefix(SIMPLEJWT)
        .and_then(|rest| rest.strip_prefix(".tokens."))
        .unwrap_or(class);
    match name {
        "AccessToken" => Some(crate::TokenKind::access()),
        "SlidingToken" => Some(crate::TokenKind::sliding()),
        _ => None,
    }
}

/// Durations as whole seconds, or as text such as `"15m"` or `"7 days"`.
pub(crate) mod duration {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(value.as_secs())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
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
    pub(crate) fn parse(text: &str) -> Result<Duration, String> {
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

/// A list given as a list, or as comma-separated text (convenient in environment variables).
fn list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
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
mod tests {
    use super::*;

    fn with_key() -> Settings {
        Settings {
            signing_key: Some("k".repeat(32).into()),
            ..Settings::default()
        }
    }

    #[test]
    fn defaults_are_simplejwts() {
        let s = Settings::default();
        assert_eq!(s.access_token_lifetime, Duration::from_secs(300));
        assert_eq!(s.refresh_token_lifetime, Duration::from_secs(86_400));
        assert!(!s.rotate_refresh_tokens && !s.blacklist_after_rotation && !s.update_last_login);
        assert_eq!(s.algorithm, Algorithm::HS256);
        assert_eq!(s.auth_header_types, ["Bearer"]);
        assert_eq!(s.auth_header(), "authorization");
        assert_eq!(s.user_id_claim, "user_id");
        assert_eq!(
            s.auth_token_classes,
            ["rest_framework_simplejwt.tokens.AccessToken"]
        );
        assert_eq!(s.leeway, Duration::ZERO);
        assert!(with_key().validate().is_ok());
    }

    #[test]
    fn durations_parse_from_seconds_and_text() {
        let s: Settings = serde_json::from_value(serde_json::json!({
            "access_token_lifetime": 900,
            "refresh_token_lifetime": "7d",
            "sliding_token_lifetime": "1h 30m",
            "leeway": 1.5,
        }))
        .unwrap();
        assert_eq!(s.access_token_lifetime, Duration::from_secs(900));
        assert_eq!(s.refresh_token_lifetime, Duration::from_secs(7 * 86_400));
        assert_eq!(s.sliding_token_lifetime, Duration::from_secs(5400));
        assert_eq!(s.leeway, Duration::from_millis(1500));
        assert!(
            duration::parse("soon")
                .unwrap_err()
                .contains("not a duration")
        );
    }

    #[test]
    fn lists_parse_from_comma_separated_text() {
        let s: Settings =
            serde_json::from_value(serde_json::json!({"auth_header_types": "Bearer, JWT"}))
                .unwrap();
        assert_eq!(s.auth_header_types, ["Bearer", "JWT"]);
    }

    #[test]
    fn invalid_values_name_their_setting() {
        type Mutation = Box<dyn Fn(&mut Settings)>;
        let cases: Vec<(&str, Mutation)> = vec![
            (
                "access_token_lifetime",
                Box::new(|s| s.access_token_lifetime = Duration::ZERO),
            ),
            ("signing_key", Box::new(|s| s.signing_key = Some("".into()))),
            ("algorithm", Box::new(|s| s.algorithm = Algorithm::RS256)),
            ("verifying_key", Box::new(|s| s.verifying_key = "x".into())),
            (
                "audience",
                Box::new(|s| s.audience = Some(Audience::Many(vec![]))),
            ),
            ("issuer", Box::new(|s| s.issuer = Some(String::new()))),
            (
                "json_encoder",
                Box::new(|s| s.json_encoder = Some("x.Encoder".into())),
            ),
            (
                "jwk_url",
                Box::new(|s| s.jwk_url = Some("https://x".into())),
            ),
            (
                "auth_header_types",
                Box::new(|s| s.auth_header_types = vec!["Be arer".into()]),
            ),
            (
                "auth_header_name",
                Box::new(|s| s.auth_header_name = "HTTP_AUTH ORIZATION".into()),
            ),
            (
                "user_id_field",
                Box::new(|s| s.user_id_field = "uuid".into()),
            ),
            ("jti_claim", Box::new(|s| s.jti_claim = String::new())),
            (
                "token_obtain_serializer",
                Box::new(|s| s.token_obtain_serializer = "my.Serializer".into()),
            ),
            (
                "auth_token_classes",
                Box::new(|s| s.auth_token_classes = vec!["RefreshToken".into()]),
            ),
            (
                "check_revoke_token",
                Box::new(|s| s.check_revoke_token = true),
            ),
            (
                "username_field",
                Box::new(|s| s.username_field = "phone".into()),
            ),
        ];
        for (name, mutate) in cases {
            let mut s = with_key();
            mutate(&mut s);
            let err = s.validate().unwrap_err();
            assert_eq!(err.setting, name, "{err}");
            assert!(err.to_string().contains(name));
        }
    }

    #[test]
    fn auth_token_classes_accept_paths_and_bare_names() {
        let s = Settings {
            auth_token_classes: vec![
                "AccessToken".into(),
                "rest_framework_simplejwt.tokens.SlidingToken".into(),
            ],
            ..with_key()
        };
        assert!(s.validate().is_ok());
        let kinds: Vec<_> = s
            .auth_token_kinds()
            .iter()
            .map(|k| k.class_name().to_owned())
            .collect();
        assert_eq!(kinds, ["AccessToken", "SlidingToken"]);
    }

    #[test]
    fn plain_header_names_are_accepted() {
        let s = Settings {
            auth_header_name: "X-Auth-Token".into(),
            ..with_key()
        };
        assert_eq!(s.auth_header(), "x-auth-token");
        assert!(s.validate().is_ok());
    }
}
