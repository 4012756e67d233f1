//! What the obtain routes put into tokens and answers beyond simplejwt's defaults — the
//! declarative form of a DRF project's `TokenObtainPairSerializer` subclass (`get_token`
//! adding claims, `validate` adding a `user` object).

use serde::{Deserialize, Serialize};
use tessera_core::{Settings, SettingsError};

use super::user_fields::UserField;

/// The user fields every account has, by the names the user object and the claims use.
/// `full_name` is Django's `get_full_name()`.
pub const BUILT_IN_USER_FIELDS: &[&str] = &[
    "id",
    "email",
    "username",
    "first_name",
    "last_name",
    "full_name",
    "is_active",
    "is_staff",
    "is_superuser",
    "date_joined",
    "last_login",
];

/// Claims a token carries of its own, or that the backend checks, under their default names
/// (the configured names are checked too): added claims — configured, from a hook or from
/// custom fields — never take one of these, which would replace what Tessera checks.
pub const TOKEN_OWN_CLAIMS: &[&str] = &[
    "token_type",
    "exp",
    "iat",
    "jti",
    "nbf",
    "aud",
    "iss",
    "sub",
    "user_id",
    "sid",
    "refresh_exp",
];

/// The most fields one list may name: more is a configuration mistake, not a serializer.
const MAX_FIELDS: usize = 64;

/// One obtain route's additions (`[token_obtain]` for `POST token/`,
/// `[token_obtain_sliding]` for `POST token/sliding/`):
///
/// ```toml
/// [token_obtain]
/// claims = ["email", "first_name", "last_name", "full_name"]   # copied into both tokens
/// response_user = ["id", "email", "full_name"]                  # answered as "user"
/// ```
///
/// Each name is a built-in user field ([`BUILT_IN_USER_FIELDS`]) or a declared custom one.
/// Both lists default to empty: simplejwt's `{"refresh","access"}` with its five claims.
/// Claims live as long as the token: a refreshed access token carries the refresh token's
/// claims as they were at login, as simplejwt copies them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenObtain {
    /// User fields copied into the tokens, as claims of the same name.
    pub claims: Vec<String>,
    /// User fields answered, in this order, as a `user` object next to the tokens; empty
    /// answers no `user`.
    pub response_user: Vec<String>,
}

impl TokenObtain {
    /// Checks both lists: known fields, no duplicates, and no claim that a token carries of
    /// its own (`exp`, `user_id`, the configured claim names …). `setting` names the table
    /// in messages.
    ///
    /// # Errors
    /// The first problem, naming `setting`.
    pub fn validate(
        &self,
        setting: &str,
        declared: &[UserField],
        settings: &Settings,
    ) -> Result<(), SettingsError> {
        let fail = |message: String| SettingsError {
            setting: setting.to_owned(),
            message,
        };
        for (list, names) in [
            ("claims", &self.claims),
            ("response_user", &self.response_user),
        ] {
            if names.len() > MAX_FIELDS {
                return Err(fail(format!(
                    "`{list}` names more than {MAX_FIELDS} fields"
                )));
            }
            for (i, name) in names.iter().enumerate() {
                let known = BUILT_IN_USER_FIELDS.contains(&name.as_str())
                    || declared.iter().any(|f| &f.name == name);
                if !known {
                    return Err(fail(format!(
                        "`{list}`: {name:?} is not a user field (built-in: {}; or a field of \
                         `user_fields`)",
                        BUILT_IN_USER_FIELDS.join(", ")
                    )));
                }
                if names[..i].contains(name) {
                    return Err(fail(format!("`{list}`: {name:?} is named twice")));
                }
            }
        }
        let configured = [
            settings.user_id_claim.as_str(),
            settings.token_type_claim.as_str(),
            settings.jti_claim.as_str(),
            settings.sliding_token_refresh_exp_claim.as_str(),
            settings.revoke_token_claim.as_str(),
        ];
        if let Some(name) = self
            .claims
            .iter()
            .find(|n| TOKEN_OWN_CLAIMS.contains(&n.as_str()) || configured.contains(&n.as_str()))
        {
            return Err(fail(format!(
                "`claims`: {name:?} is a claim every token carries of its own"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::FieldKind;

    fn field(name: &str) -> UserField {
        UserField {
            name: name.into(),
            kind: FieldKind::Boolean,
            required: false,
            max_length: None,
            read_only: true,
            claim: false,
            default: None,
        }
    }

    fn shape(claims: &[&str], user: &[&str]) -> TokenObtain {
        TokenObtain {
            claims: claims.iter().map(|s| (*s).to_owned()).collect(),
            response_user: user.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn check(shape: &TokenObtain) -> Result<(), String> {
        shape
            .validate("token_obtain", &[field("is_premium")], &Settings::default())
            .map_err(|e| format!("{}: {}", e.setting, e.message))
    }

    #[test]
    fn built_in_and_declared_fields_are_accepted() {
        let ok = shape(
            &["email", "first_name", "full_name", "is_premium", "username"],
            &["id", "email", "date_joined", "last_login", "is_premium"],
        );
        assert_eq!(check(&ok), Ok(()));
        assert_eq!(check(&TokenObtain::default()), Ok(()));
    }

    #[test]
    fn unknown_fields_and_secrets_are_refused() {
        for name in ["password", "password_hash", "extra", "nope"] {
            let error = check(&shape(&[name], &[])).unwrap_err();
            assert!(error.starts_with("token_obtain: `claims`"), "{error}");
            assert!(error.contains("is not a user field"), "{error}");
            let error = check(&shape(&[], &[name])).unwrap_err();
            assert!(error.contains("`response_user`"), "{error}");
        }
    }

    #[test]
    fn duplicates_and_token_claims_are_refused() {
        let twice = check(&shape(&["email", "email"], &[])).unwrap_err();
        assert!(twice.contains("named twice"), "{twice}");
        // `id` may be answered, but not copied over a claim when the id claim is renamed.
        let settings = Settings {
            user_id_claim: "id".into(),
            ..Settings::default()
        };
        let error = shape(&["id"], &[])
            .validate("token_obtain", &[], &settings)
            .unwrap_err();
        assert!(error.message.contains("carries of its own"), "{error:?}");
        assert!(check(&shape(&["id"], &["id"])).is_ok());
    }

    #[test]
    fn a_list_is_bounded() {
        let many: Vec<String> = (0..65).map(|_| "email".to_owned()).collect();
        let shape = TokenObtain {
            claims: many,
            response_user: Vec::new(),
        };
        assert!(check(&shape).unwrap_err().contains("more than 64"));
    }
}
