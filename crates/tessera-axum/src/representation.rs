//! How users appear in response bodies (docs/API.md §5's user object).

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value, json};
use tessera_auth::accounts::{UserField, full_name};
use tessera_auth::datetime::drf_datetime;
use tessera_core::UsernameField;
use tessera_store::User;

/// `{"id","email","first_name","last_name","full_name","is_active","email_verified","date_joined"}`, then
/// each custom field (its stored value, its default, or `null`) — the user object of
/// e-mail mode; see [`user_object_with`].
pub fn user_object(user: &User, fields: &[UserField]) -> Value {
    user_object_with(user, fields, UsernameField::Email)
}

/// [`user_object`] for the login field `login`: with `username_field = "username"`,
/// `"username"` follows `"id"` (as in dj-rest-auth's `UserDetailsSerializer`).
pub fn user_object_with(user: &User, fields: &[UserField], login: UsernameField) -> Value {
    serde_json::to_value(UserObject::new(user, fields, login))
        .expect("a user object is always JSON")
}

/// The user object of [`user_object_with`] as a value to serialize: written straight into
/// a response body, with no JSON map built first (the profile route answers it on every
/// authenticated GET).
#[derive(Debug, Clone, Copy)]
pub struct UserObject<'a> {
    user: &'a User,
    fields: &'a [UserField],
    login: UsernameField,
}

impl<'a> UserObject<'a> {
    /// The user object of `user`, with the custom `fields`, for the login field `login`.
    pub fn new(user: &'a User, fields: &'a [UserField], login: UsernameField) -> Self {
        Self {
            user,
            fields,
            login,
        }
    }
}

impl Serialize for UserObject<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let user = self.user;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &user.id)?;
        if self.login == UsernameField::Username {
            map.serialize_entry("username", &user.username)?;
        }
        map.serialize_entry("email", &user.email)?;
        map.serialize_entry("first_name", &user.first_name)?;
        map.serialize_entry("last_name", &user.last_name)?;
        map.serialize_entry("full_name", &full_name(user))?;
        map.serialize_entry("is_active", &user.is_active)?;
        map.serialize_entry("email_verified", &user.email_verified)?;
        map.serialize_entry("date_joined", &drf_datetime(user.date_joined))?;
        // Custom names never repeat a key above (`UserField::validate` refuses them) and
        // validated settings never declare a name twice; a list that does anyway (built by
        // hand) gets what a JSON map would keep: the name once, where it was first
        // declared, with the last declaration's default.
        for (at, field) in self.fields.iter().enumerate() {
            let name = &field.name;
            if self.fields[..at]
                .iter()
                .any(|earlier| &earlier.name == name)
            {
                continue;
            }
            let last = self
                .fields
                .iter()
                .rev()
                .find(|later| &later.name == name)
                .unwrap_or(field);
            let value = user.extra.get(name).or(last.default.as_ref());
            map.serialize_entry(name, &value)?;
        }
        map.end()
    }
}

/// The short user object of the login response: `{"id","email","first_name","last_name","full_name"}`.
pub fn login_user_object(user: &User) -> Value {
    login_user_object_with(user, UsernameField::Email)
}

/// [`login_user_object`] for the login field `login` (`"username"` after `"id"` in
/// username mode).
pub fn login_user_object_with(user: &User, login: UsernameField) -> Value {
    Value::Object(identity(user, login))
}

/// `id`, the username in username mode, `email`, the names and the full name.
fn identity(user: &User, login: UsernameField) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("id".into(), json!(user.id));
    if login == UsernameField::Username {
        map.insert("username".into(), json!(user.username));
    }
    map.insert("email".into(), json!(user.email));
    map.insert("first_name".into(), json!(user.first_name));
    map.insert("last_name".into(), json!(user.last_name));
    map.insert("full_name".into(), json!(full_name(user)));
    map
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
            email_verified: false,
            extra: Default::default(),
            password_hash: "secret-hash".into(),
        }
    }

    #[test]
    fn the_user_object_has_the_documented_keys_and_no_hash() {
        let text = user_object(&user("Ada", "Lovelace"), &[]).to_string();
        assert_eq!(
            text,
            r#"{"id":3,"email":"a@x.com","first_name":"Ada","last_name":"Lovelace","full_name":"Ada Lovelace","is_active":true,"email_verified":false,"date_joined":"2026-11-23T14:50:47.123456Z"}"#
        );
    }

    #[test]
    fn username_mode_puts_the_username_after_the_id() {
        let mut ada = user("", "");
        ada.username = Some("ada".into());
        ada.email = String::new();
        let text = login_user_object_with(&ada, UsernameField::Username).to_string();
        assert_eq!(
            text,
            r#"{"id":3,"username":"ada","email":"","first_name":"","last_name":"","full_name":"ada"}"#
        );
        let object = user_object_with(&ada, &[], UsernameField::Username);
        assert_eq!(object["username"], "ada");
        assert_eq!(user_object(&ada, &[]).get("username"), None, "e-mail mode");
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

    #[test]
    fn no_custom_field_may_take_a_key_of_the_user_object() {
        use tessera_auth::accounts::FieldKind;
        let mut ada = user("Ada", "Lovelace");
        ada.username = Some("ada".into());
        let object = user_object_with(&ada, &[], UsernameField::Username);
        let keys: Vec<&String> = object.as_object().unwrap().keys().collect();
        assert!(keys.len() >= 9, "{keys:?}");
        for key in keys {
            let field = UserField {
                name: key.clone(),
                kind: FieldKind::Boolean,
                required: false,
                max_length: None,
                read_only: false,
                claim: false,
                default: None,
            };
            assert!(field.validate().is_err(), "a custom field named {key:?}");
        }
    }

    #[test]
    fn the_view_writes_the_bytes_of_the_map_a_field_declared_twice_included() {
        use tessera_auth::accounts::FieldKind;
        let declared = |name: &str, default: Option<Value>| UserField {
            name: name.into(),
            kind: FieldKind::String,
            required: false,
            max_length: None,
            read_only: false,
            claim: false,
            default,
        };
        let fields = [
            declared("tier", Some(json!("free"))),
            declared("nickname", None),
            declared("tier", Some(json!("gold"))),
            declared("phone_number", None),
        ];
        let mut ada = user("Ada", "");
        ada.username = Some("ada".into());
        ada.extra.insert("phone_number".into(), json!("+44"));
        for login in [UsernameField::Email, UsernameField::Username] {
            for fields in [&fields[..], &[]] {
                let view = serde_json::to_string(&UserObject::new(&ada, fields, login)).unwrap();
                let mut map = identity(&ada, login);
                map.insert("is_active".into(), json!(ada.is_active));
                map.insert("email_verified".into(), json!(ada.email_verified));
                map.insert("date_joined".into(), json!(drf_datetime(ada.date_joined)));
                for field in fields {
                    map.insert(
                        field.name.clone(),
                        tessera_auth::accounts::custom_value(&ada, field),
                    );
                }
                assert_eq!(view, Value::Object(map).to_string(), "{login:?}");
            }
        }
        let text =
            serde_json::to_string(&UserObject::new(&ada, &fields, UsernameField::Email)).unwrap();
        assert!(
            text.ends_with(r#""tier":"gold","nickname":null,"phone_number":"+44"}"#),
            "{text}"
        );
    }
}
