//! Custom user fields declared in the configuration (a Django custom user's `phone_number`,
//! `date_of_birth`, `is_premium` …): their declarations, and DRF's checks on their values.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_core::{Settings, SettingsError};

use super::token_obtain::{BUILT_IN_USER_FIELDS, TOKEN_OWN_CLAIMS};
use crate::form::{Text, too_long};

/// The longest text a string field without `max_length` takes: what a client can make the
/// store keep is bounded.
pub const CUSTOM_TEXT_MAX_LENGTH: usize = 10_000;

/// A field's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    /// Text (DRF `CharField`).
    String,
    /// A whole number (DRF `IntegerField`).
    Integer,
    /// `true` or `false` (DRF `BooleanField`).
    Boolean,
    /// A calendar date, `YYYY-MM-DD` (DRF `DateField`).
    Date,
}

/// One custom user field.
///
/// ```toml
/// [[user_fields]]
/// name = "phone_number"
/// type = "string"
/// max_length = 20
/// claim = true
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserField {
    /// The field's name in request and response bodies (and as a claim).
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: FieldKind,
    /// Must be given at registration (and in a full profile update). Defaults to `false`.
    #[serde(default, with = "tessera_core::boolean")]
    pub required: bool,
    /// The longest text allowed (strings only). Defaults to 10,000 characters.
    #[serde(default)]
    pub max_length: Option<usize>,
    /// Users cannot set it themselves (only its default applies). Defaults to `false`.
    #[serde(default, with = "tessera_core::boolean")]
    pub read_only: bool,
    /// Copied into the tokens issued at login and registration. Defaults to `false`.
    #[serde(default, with = "tessera_core::boolean")]
    pub claim: bool,
    /// The value a new user gets when none is given.
    #[serde(default)]
    pub default: Option<Value>,
}

/// Names a custom field may not take besides the built-in user fields
/// ([`BUILT_IN_USER_FIELDS`]) and a token's own claims ([`TOKEN_OWN_CLAIMS`], under their
/// default names; the configured claim names are checked by
/// [`UserField::validate_claims`]): request fields and the answers' own keys, the user
/// object's included.
const RESERVED: &[&str] = &[
    "email_verified",
    "password",
    "password_confirm",
    "old_password",
    "new_password",
    "new_password_confirm",
    "tokens",
    "user",
    "message",
];

impl UserField {
    /// Checks the declaration; messages name the setting and the field.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let error = |message: String| SettingsError {
            setting: "user_fields".into(),
            message,
        };
        let name = &self.name;
        let identifier = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && name.len() <= 64;
        if !identifier {
            return Err(error(format!(
                "{name:?} must be a lower-case identifier (a-z, 0-9, _) of at most 64 characters"
            )));
        }
        if [BUILT_IN_USER_FIELDS, TOKEN_OWN_CLAIMS, RESERVED]
            .iter()
            .any(|names| names.contains(&name.as_str()))
        {
            return Err(error(format!("{name:?} is a built-in field or claim name")));
        }
        if self.max_length.is_some() && self.kind != FieldKind::String {
            return Err(error(format!(
                "{name:?}: max_length applies to string fields only"
            )));
        }
        if self.max_length == Some(0) {
            return Err(error(format!("{name:?}: max_length must be at least 1")));
        }
        if self
            .max_length
            .is_some_and(|max| max > CUSTOM_TEXT_MAX_LENGTH)
        {
            return Err(error(format!(
                "{name:?}: max_length must be at most {CUSTOM_TEXT_MAX_LENGTH}"
            )));
        }
        if self.required && self.read_only {
            return Err(error(format!(
                "{name:?} cannot be both required and read_only"
            )));
        }
        if let Some(default) = &self.default
            && let Err(message) = self.parse(default)
        {
            return Err(error(format!("{name:?}: default {default}: {message}")));
        }
        Ok(())
    }

    /// Checks the name against the claim names `settings` configure (`user_id_claim`,
    /// `token_type_claim`, `jti_claim`, `sliding_token_refresh_exp_claim`,
    /// `revoke_token_claim`). Whether or not the field is a claim: a field's name is one
    /// key among the claims and the user object, and `claim = true` can be set later.
    pub fn validate_claims(&self, settings: &Settings) -> Result<(), SettingsError> {
        let configured = [
            ("user_id_claim", &settings.user_id_claim),
            ("token_type_claim", &settings.token_type_claim),
            ("jti_claim", &settings.jti_claim),
            (
                "sliding_token_refresh_exp_claim",
                &settings.sliding_token_refresh_exp_claim,
            ),
            ("revoke_token_claim", &settings.revoke_token_claim),
        ];
        match configured.iter().find(|(_, claim)| **claim == self.name) {
            Some((setting, _)) => Err(SettingsError {
                setting: "user_fields".into(),
                message: format!(
                    "{:?} is the name of a claim every token carries (`{setting}`); \
                     rename the field",
                    self.name
                ),
            }),
            None => Ok(()),
        }
    }

    /// Whether a request must carry the field when creating a user.
    pub fn is_required(&self) -> bool {
        self.required && self.default.is_none() && !self.read_only
    }

    /// A submitted value, checked and normalised as DRF's field of that type would, or
    /// DRF's message.
    pub fn parse(&self, value: &Value) -> Result<Value, String> {
        if value.is_null() {
            return if self.required {
                Err("This field may not be null.".into())
            } else {
                Ok(Value::Null)
            };
        }
        match self.kind {
            FieldKind::String => {
                let text = match value {
                    Value::String(s) => s.trim().to_owned(),
                    Value::Number(n) => n.to_string(),
                    _ => return Err("Not a valid string.".into()),
                };
                if text.is_empty() && self.required {
                    return Err("This field may not be blank.".into());
                }
                let max = self.max_length.unwrap_or(CUSTOM_TEXT_MAX_LENGTH);
                if text.chars().nth(max).is_some() {
                    return Err(too_long(max));
                }
                if let Some(message) = Text::Multiline.refusal(&text) {
                    return Err(message.into());
                }
                Ok(Value::String(text))
            }
            FieldKind::Integer => {
                let invalid = || "A valid integer is required.".to_owned();
                match value {
                    Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                        (Some(i), _) => Ok(i.into()),
                        (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                            Ok((f as i64).into())
                        }
                        _ => Err(invalid()),
                    },
                    Value::String(s) if s.len() <= 1000 => {
                        let s = s.trim();
                        // DRF strips a trailing ".0…" before parsing.
                        let digits = match s.split_once('.') {
                            Some((whole, zeros)) if zeros.chars().all(|c| c == '0') => whole,
                            _ => s,
                        };
                        digits
                            .parse::<i64>()
                            .map(Value::from)
                            .map_err(|_| invalid())
                    }
                    _ => Err(invalid()),
                }
            }
            FieldKind::Boolean => drf_bool(value)
                .map(Value::Bool)
                .ok_or_else(|| "Must be a valid boolean.".into()),
            FieldKind::Date => {
                let wrong = || {
                    "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
                        .to_owned()
                };
                let Value::String(s) = value else {
                    return Err(wrong());
                };
                let format = time::macros::format_description!("[year]-[month]-[day]");
                time::Date::parse(s.trim(), &format)
                    .map(|_| Value::String(s.trim().to_owned()))
                    .map_err(|_| wrong())
            }
        }
    }
}

/// DRF's `BooleanField` reading: `true`/`false`, `1`/`0`, and its words (`"yes"`, `"off"` …).
pub fn drf_bool(value: &Value) -> Option<bool> {
    const TRUE: &[&str] = &[
        "t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "1",
    ];
    const FALSE: &[&str] = &[
        "f", "F", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "0",
    ];
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) if n.as_i64() == Some(1) => Some(true),
        Value::Number(n) if n.as_i64() == Some(0) => Some(false),
        Value::String(s) if TRUE.contains(&s.as_str()) => Some(true),
        Value::String(s) if FALSE.contains(&s.as_str()) => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(kind: FieldKind) -> UserField {
        UserField {
            name: "f".into(),
            kind,
            required: false,
            max_length: None,
            read_only: false,
            claim: false,
            default: None,
        }
    }

    #[test]
    fn values_are_checked_with_drfs_messages() {
        let string = UserField {
            max_length: Some(5),
            ..field(FieldKind::String)
        };
        assert_eq!(string.parse(&json!(" +44 ")), Ok(json!("+44")));
        assert_eq!(string.parse(&json!(12)), Ok(json!("12")));
        assert_eq!(
            string.parse(&json!("123456")),
            Err("Ensure this field has no more than 5 characters.".into())
        );
        assert_eq!(string.parse(&json!([1])), Err("Not a valid string.".into()));
        assert_eq!(string.parse(&json!(null)), Ok(json!(null)));

        let integer = field(FieldKind::Integer);
        assert_eq!(integer.parse(&json!("42")), Ok(json!(42)));
        assert_eq!(integer.parse(&json!("42.00")), Ok(json!(42)));
        assert_eq!(integer.parse(&json!(7.0)), Ok(json!(7)));
        for bad in [json!(7.5), json!("x"), json!(true), json!("1e3")] {
            assert_eq!(
                integer.parse(&bad),
                Err("A valid integer is required.".into()),
                "{bad}"
            );
        }

        let boolean = field(FieldKind::Boolean);
        assert_eq!(boolean.parse(&json!("yes")), Ok(json!(true)));
        assert_eq!(boolean.parse(&json!(0)), Ok(json!(false)));
        assert_eq!(
            boolean.parse(&json!("maybe")),
            Err("Must be a valid boolean.".into())
        );

        let date = field(FieldKind::Date);
        assert_eq!(date.parse(&json!("1815-12-10")), Ok(json!("1815-12-10")));
        for bad in [json!("10/12/1815"), json!("1815-13-01"), json!(1815)] {
            assert!(
                date.parse(&bad)
                    .unwrap_err()
                    .starts_with("Date has wrong format."),
                "{bad}"
            );
        }

        let required = UserField {
            required: true,
            ..field(FieldKind::String)
        };
        assert_eq!(
            required.parse(&json!(null)),
            Err("This field may not be null.".into())
        );
        assert_eq!(
            required.parse(&json!("  ")),
            Err("This field may not be blank.".into())
        );
    }

    #[test]
    fn declarations_are_checked() {
        assert!(field(FieldKind::String).validate().is_ok());
        for bad in [
            UserField {
                name: "Phone".into(),
                ..field(FieldKind::String)
            },
            UserField {
                name: "email".into(),
                ..field(FieldKind::String)
            },
            UserField {
                name: "sid".into(),
                ..field(FieldKind::String)
            },
            UserField {
                max_length: Some(3),
                ..field(FieldKind::Integer)
            },
            UserField {
                required: true,
                read_only: true,
                ..field(FieldKind::String)
            },
            UserField {
                default: Some(json!("x")),
                ..field(FieldKind::Boolean)
            },
        ] {
            let err = bad.validate().unwrap_err();
            assert_eq!(err.setting, "user_fields", "{bad:?}");
        }
        let with_default = UserField {
            required: true,
            default: Some(json!(false)),
            ..field(FieldKind::Boolean)
        };
        assert!(with_default.validate().is_ok() && !with_default.is_required());
    }

    #[test]
    fn strings_refuse_nul_and_controls_and_are_bounded() {
        let string = field(FieldKind::String);
        assert_eq!(
            string.parse(&json!("x\u{0}y")),
            Err(crate::form::NULL_CHARACTERS.into())
        );
        assert_eq!(
            string.parse(&json!("bell\u{7}")),
            Err(crate::form::CONTROL_CHARACTERS.into())
        );
        assert_eq!(string.parse(&json!("a\nb\tc")), Ok(json!("a\nb\tc")));
        let longest = "x".repeat(CUSTOM_TEXT_MAX_LENGTH);
        assert_eq!(string.parse(&json!(longest)), Ok(json!(longest)));
        assert_eq!(
            string.parse(&json!(format!("{longest}x"))),
            Err(too_long(CUSTOM_TEXT_MAX_LENGTH))
        );
        assert_eq!(
            field(FieldKind::Date).parse(&json!("1815-12-10\u{0}")),
            Err("Date has wrong format. Use one of these formats instead: YYYY-MM-DD.".into())
        );
        let too_wide = UserField {
            max_length: Some(CUSTOM_TEXT_MAX_LENGTH + 1),
            ..field(FieldKind::String)
        };
        assert_eq!(too_wide.validate().unwrap_err().setting, "user_fields");
    }

    #[test]
    fn names_of_configured_claims_are_refused_claim_or_not() {
        let uid = |claim: bool| UserField {
            name: "uid".into(),
            claim,
            ..field(FieldKind::String)
        };
        let defaults = Settings::default();
        assert!(uid(true).validate_claims(&defaults).is_ok());
        for claim in [true, false] {
            for configure in [
                (|s: &mut Settings| s.user_id_claim = "uid".into()) as fn(&mut Settings),
                |s| s.token_type_claim = "uid".into(),
                |s| s.jti_claim = "uid".into(),
                |s| s.sliding_token_refresh_exp_claim = "uid".into(),
                |s| s.revoke_token_claim = "uid".into(),
            ] {
                let mut settings = Settings::default();
                configure(&mut settings);
                let err = uid(claim).validate_claims(&settings).unwrap_err();
                assert_eq!(err.setting, "user_fields");
                assert!(err.message.contains("\"uid\""), "{}", err.message);
            }
        }
    }

    #[test]
    fn declarations_parse_from_toml_shaped_data() {
        let parsed: UserField = serde_json::from_value(
            json!({"name": "is_premium", "type": "boolean", "read_only": true, "default": false}),
        )
        .unwrap();
        assert_eq!(parsed.kind, FieldKind::Boolean);
        assert!(parsed.read_only);
        assert!(
            serde_json::from_value::<UserField>(
                json!({"name": "x", "type": "string", "colour": 1})
            )
            .is_err()
        );
    }
}
