//! How users appear in response bodies (docs/API.md §5's user object).

use serde_json::{Value, json};
use tessera_auth::accounts::{UserField, custom_value, full_name};
use tessera_auth::datetime::drf_datetime;
use tessera_store::User;

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
            date_joined: tessera_core::Timestamp::from_micros(1_795_445_447_123_456),
            last_login: None,
            password_changed_at: None,
            extra: Default::default(),
            password_hash: "secret-hash".into(),
        }
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
        use tessera_auth::accounts::FieldKind;
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
    }
}
