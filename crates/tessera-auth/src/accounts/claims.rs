//! What Tessera knows of a user beyond the stored row: the full name, the custom fields'
//! values, and the account claims its tokens carry.

use serde_json::Value;
use tessera_core::Claims;
use tessera_store::User;

use crate::datetime::drf_datetime;
use crate::rules::UserField;

/// `first last`, trimmed; when both names are empty the e-mail address, else the
/// username (an account with neither names nor address), else `""`. (Django's
/// `get_full_name` has no fallback; Tessera's user object always had the address.)
pub fn full_name(user: &User) -> String {
    let name = format!("{} {}", user.first_name, user.last_name)
        .trim()
        .to_owned();
    if !name.is_empty() {
        name
    } else if !user.email.is_empty() {
        user.email.clone()
    } else {
        user.username.clone().unwrap_or_default()
    }
}

/// What names an account in the audit log and on the command line: its e-mail address,
/// or its username when it has no address.
pub fn account_name(user: &User) -> &str {
    match (&user.username, user.email.is_empty()) {
        (Some(username), true) => username,
        _ => &user.email,
    }
}

/// A custom field's value for a user: stored, else its default, else `null`.
pub fn custom_value(user: &User, field: &UserField) -> Value {
    user.extra
        .get(&field.name)
        .or(field.default.as_ref())
        .cloned()
        .unwrap_or(Value::Null)
}

/// The value of the user field `name` — a built-in one
/// ([`BUILT_IN_USER_FIELDS`](crate::rules::BUILT_IN_USER_FIELDS): dates as DRF writes them,
/// `username` and `last_login` `null` when unset) or a custom field of `declared` — as claims
/// and answers carry it; `None` for a name that is neither.
pub fn user_field_value(user: &User, name: &str, declared: &[UserField]) -> Option<Value> {
    let value = match name {
        "id" => Value::from(user.id),
        "email" => Value::from(user.email.clone()),
        "username" => user.username.clone().map_or(Value::Null, Value::from),
        "first_name" => Value::from(user.first_name.clone()),
        "last_name" => Value::from(user.last_name.clone()),
        "full_name" => Value::from(full_name(user)),
        "is_active" => Value::from(user.is_active),
        "is_staff" => Value::from(user.is_staff),
        "is_superuser" => Value::from(user.is_superuser),
        "date_joined" => Value::from(drf_datetime(user.date_joined)),
        "last_login" => user
            .last_login
            .map_or(Value::Null, |at| Value::from(drf_datetime(at))),
        _ => custom_value(user, declared.iter().find(|f| f.name == name)?),
    };
    Some(value)
}

/// The user's account claims for tokens issued at login and registration: `email`,
/// `first_name`, `last_name`, `full_name`, then custom fields marked `claim`.
pub fn account_claims(user: &User, fields: &[UserField]) -> Claims {
    let mut claims = Claims::new();
    claims.insert("email".into(), user.email.clone().into());
    claims.insert("first_name".into(), user.first_name.clone().into());
    claims.insert("last_name".into(), user.last_name.clone().into());
    claims.insert("full_name".into(), full_name(user).into());
    for field in fields.iter().filter(|f| f.claim) {
        claims.insert(field.name.clone(), custom_value(user, field));
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::FieldKind;
    use serde_json::json;

    fn user(first: &str, last: &str) -> User {
        User {
            id: 3,
            email: "a@x.com".into(),
            username: None,
            first_name: first.into(),
            last_name: last.into(),
            is_active: true,
            is_staff: false,
            is_superuser: false,
            date_joined: tessera_core::Timestamp::from_micros(1_795_445_447_123_456),
            last_login: None,
            password_changed_at: None,
            email_verified: false,
            extra: Default::default(),
            password_hash: "secret-hash".into(),
        }
    }

    #[test]
    fn full_name_falls_back_to_the_email() {
        assert_eq!(full_name(&user("Ada", "Lovelace")), "Ada Lovelace");
        assert_eq!(full_name(&user("Ada", "")), "Ada");
        assert_eq!(full_name(&user("", "")), "a@x.com");
    }

    #[test]
    fn without_an_address_the_username_names_the_account() {
        let mut ada = user("", "");
        ada.email = String::new();
        assert_eq!((full_name(&ada), account_name(&ada)), (String::new(), ""));
        ada.username = Some("ada".into());
        assert_eq!((full_name(&ada), account_name(&ada)), ("ada".into(), "ada"));
        ada.email = "a@x.com".into();
        assert_eq!(
            (full_name(&ada), account_name(&ada)),
            ("a@x.com".into(), "a@x.com")
        );
    }

    #[test]
    fn account_claims_follow_the_names_with_the_claimed_custom_fields() {
        let declared = |name: &str, default: Option<Value>, claim: bool| UserField {
            name: name.into(),
            kind: FieldKind::String,
            required: false,
            max_length: None,
            read_only: false,
            claim,
            default,
        };
        let fields = [
            declared("phone_number", None, true),
            declared("tier", Some(json!("free")), true),
            declared("nickname", None, false),
        ];
        let mut ada = user("Ada", "Lovelace");
        ada.extra.insert("phone_number".into(), json!("+44"));
        assert_eq!(custom_value(&ada, &fields[1]), json!("free"));
        assert_eq!(custom_value(&ada, &fields[2]), Value::Null);
        let claims = account_claims(&ada, &fields);
        let names: Vec<_> = claims.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "email",
                "first_name",
                "last_name",
                "full_name",
                "phone_number",
                "tier"
            ]
        );
        assert_eq!(claims["phone_number"], json!("+44"));
    }
}
