//! How users appear in response bodies (API.md §5's user object).

use serde_json::{Value, json};
use tessera_core::Claims;
use tessera_store::User;

use crate::user_fields::UserField;
use time::OffsetDateTime;

/// `first last`, trimmed, or the e-mail address when both names are empty.
pub fn full_name(user: &User) -> String {
    let name = format!("{} {}", user.first_name, user.last_name)
        .trim()
        .to_owned();
    if name.is_empty() {
        user.email.clone()
    } else {
        name
    }
}

/// A time as DRF's `DateTimeField` writes it: ISO 8601 in UTC with a `Z`, microseconds only
/// when there are any (`2026-11-23T14:50:47.123456Z`).
pub fn drf_datetime(micros: i64) -> String {
    let Ok(at) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000) else {
        return String::new();
    };
    let (date, time) = (at.date(), at.time());
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        date.year(),
        u8::from(date.month()),
        date.day(),
        time.hour(),
        time.minute(),
        time.second()
    );
    match time.microsecond() {
        0 => format!("{base}Z"),
        us => format!("{base}.{us:06}Z"),
    }
}

/// `{"id","email","first_name","last_name","full_name","is_active","date_joined"}`, then
/// each custom field (its stored value, its default, or `null`).
pub fn user_object(user: &User, fields: &[UserField]) -> Value {
    let mut object = json!({
        "id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "full_name": full_name(user),
        "is_active": user.is_active,
        "date_joined": drf_datetime(user.date_joined),
    });
    if let Value::Object(map) = &mut object {
        for field in fields {
            map.insert(field.name.clone(), custom_value(user, field));
        }
    }
    object
}

/// A custom field's value for a user: stored, else its default, else `null`.
pub fn custom_value(user: &User, field: &UserField) -> Value {
    user.extra
        .get(&field.name)
        .or(field.default.as_ref())
        .cloned()
        .unwrap_or(Value::Null)
}

/// The short user object of the login response: `{"id","email","first_name","last_name","full_name"}`.
pub fn login_user_object(user: &User) -> Value {
    json!({
        "id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "full_name": full_name(user),
    })
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
            date_joined: 1_795_445_447_123_456,
            last_login: None,
            password_changed_at: None,
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
    fn datetimes_are_drfs() {
        assert_eq!(
            drf_datetime(1_795_445_447_123_456),
            "2026-11-23T14:50:47.123456Z"
        );
        assert_eq!(drf_datetime(1_795_445_447_000_000), "2026-11-23T14:50:47Z");
    }

    #[test]
    fn the_user_object_has_the_documented_keys_and_no_hash() {
        let text = user_object(&user("Ada", "Lovelace"), &[]).to_string();
        assert_eq!(
            text,
            r#"{"id":3,"email":"a@x.com","first_name":"Ada","last_name":"Lovelace","full_name":"Ada Lovelace","is_active":true,"date_joined":"2026-11-23T14:50:47.123456Z"}"#
        );
    }

    #[test]
    fn custom_fields_follow_with_stored_value_default_or_null() {
        use crate::user_fields::FieldKind;
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
        let object = user_object(&ada, &fields);
        assert_eq!(
            (
                &object["phone_number"],
                &object["tier"],
                &object["nickname"]
            ),
            (&json!("+44"), &json!("free"), &Value::Null)
        );
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
    }
}
