//! `manage.py dumpdata auth token_blacklist <app>` JSON: a list of
//! `{"model": "app.model", "pk": …, "fields": {…}}` objects.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use super::source::DjangoSourceError;
use super::{DjangoData, DjangoToken, DjangoUser, NotImported, parse_datetime};

#[derive(Deserialize)]
struct Object {
    model: String,
    #[serde(default)]
    pk: Value,
    #[serde(default)]
    fields: serde_json::Map<String, Value>,
}

fn invalid(message: String) -> DjangoSourceError {
    DjangoSourceError::Invalid(message)
}

/// The model label's table name: `auth.user` → `auth_user`.
fn table_of(label: &str) -> String {
    label.replace('.', "_")
}

/// Parses a dump. The user model is `user_table` (a label such as `authentication.user`
/// or its table name), else the one `<app>.user` (`auth.user` included) whose objects
/// have a `password`.
pub(super) fn parse(
    bytes: &[u8],
    user_table: Option<&str>,
) -> Result<DjangoData, DjangoSourceError> {
    let objects: Vec<Object> = serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("the file is not a dumpdata JSON list: {e}")))?;
    let labels: Vec<String> = {
        let mut labels: Vec<String> = objects
            .iter()
            .filter(|o| o.fields.contains_key("password") && o.model.ends_with(".user"))
            .map(|o| o.model.to_ascii_lowercase())
            .collect();
        labels.sort();
        labels.dedup();
        labels
    };
    let user_label = match user_table {
        Some(asked) => {
            let asked = table_of(&asked.to_ascii_lowercase());
            labels
                .iter()
                .find(|l| table_of(l) == asked)
                .cloned()
                .ok_or_else(|| invalid(format!("the dump has no user model {asked:?}")))?
        }
        None => match labels.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(invalid(
                    "the dump holds no users (auth.user or <app>.user)".into(),
                ));
            }
            many => {
                return Err(invalid(format!(
                    "several models could be the user model ({}); name one with --user-table",
                    many.join(", ")
                )));
            }
        },
    };
    let user_table = table_of(&user_label);
    let mut users = Vec::new();
    let mut not_imported = NotImported::default();
    let mut outstanding = Vec::new();
    let mut blacklisted = std::collections::HashSet::new();
    for object in &objects {
        let label = object.model.to_ascii_lowercase();
        if label == user_label {
            let user = user(object, &user_table)?;
            let count = |field: &str| {
                object
                    .fields
                    .get(field)
                    .and_then(Value::as_array)
                    .map_or(0, |list| list.len() as u64)
            };
            not_imported.group_memberships += count("groups");
            not_imported.user_permissions += count("user_permissions");
            users.push(user);
        } else if label == "auth.group" {
            not_imported.groups += 1;
        } else if label == "token_blacklist.outstandingtoken" {
            outstanding.push(object);
        } else if label == "token_blacklist.blacklistedtoken"
            && let Some(token) = object.fields.get("token").and_then(Value::as_i64)
        {
            blacklisted.insert(token);
        }
    }
    // A natural foreign key names the user by its login name.
    let by_name: HashMap<String, i64> = users
        .iter()
        .map(|u| (u.username.clone().unwrap_or_else(|| u.email.clone()), u.id))
        .collect();
    let mut tokens = Vec::new();
    for object in outstanding {
        let id = pk(object, "token_blacklist_outstandingtoken")?;
        let field = |name: &str| object.fields.get(name);
        let jti = field("jti")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("token_blacklist_outstandingtoken id={id}: no jti")))?;
        let expires_at = field("expires_at")
            .and_then(Value::as_str)
            .and_then(parse_datetime)
            .ok_or_else(|| {
                invalid(format!(
                    "token_blacklist_outstandingtoken id={id}: expires_at is not a date and time"
                ))
            })?;
        let user_id = match field("user") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::Array(key)) => key
                .first()
                .and_then(Value::as_str)
                .and_then(|name| by_name.get(name).copied()),
            _ => None,
        };
        tokens.push(DjangoToken {
            id,
            jti: jti.to_owned(),
            user_id,
            expires_at,
            blacklisted: blacklisted.contains(&id),
        });
    }
    users.sort_by_key(|u| u.id);
    tokens.sort_by_key(|t| t.id);
    Ok(DjangoData {
        user_table,
        users,
        tokens,
        not_imported,
    })
}

fn pk(object: &Object, table: &str) -> Result<i64, DjangoSourceError> {
    match &object.pk {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| invalid(format!("{table}: an object without an integer pk")))
}

fn user(object: &Object, table: &str) -> Result<DjangoUser, DjangoSourceError> {
    let id = pk(object, table)?;
    let fields = &object.fields;
    let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
    let flag =
        |name: &str, default: bool| fields.get(name).and_then(Value::as_bool).unwrap_or(default);
    let time = |name: &str| -> Result<Option<tessera_core::Timestamp>, DjangoSourceError> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => parse_datetime(s).map(Some).ok_or_else(|| {
                invalid(format!(
                    "{table} id={id}: {name} {s:?} is not a date and time"
                ))
            }),
            Some(_) => Err(invalid(format!(
                "{table} id={id}: {name} is not a date and time"
            ))),
        }
    };
    Ok(DjangoUser {
        id,
        username: text("username"),
        email: text("email").unwrap_or_default(),
        first_name: text("first_name").unwrap_or_default(),
        last_name: text("last_name").unwrap_or_default(),
        password: text("password")
            .ok_or_else(|| invalid(format!("{table} id={id}: no password")))?,
        is_active: flag("is_active", true),
        is_staff: flag("is_staff", false),
        is_superuser: flag("is_superuser", false),
        date_joined: time("date_joined")?,
        last_login: time("last_login")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = r#"[
      {"model": "auth.group", "pk": 1, "fields": {"name": "editors", "permissions": [1]}},
      {"model": "auth.user", "pk": 2, "fields": {"password": "pbkdf2_sha256$870000$s$h=",
        "last_login": null, "is_superuser": false, "username": "ada", "first_name": "Ada",
        "last_name": "L", "email": "ada@example.com", "is_staff": true, "is_active": true,
        "date_joined": "2024-05-01T10:20:30.123Z", "groups": [1], "user_permissions": []}},
      {"model": "token_blacklist.outstandingtoken", "pk": 7, "fields": {"user": 2,
        "jti": "abc", "token": "x.y.z", "created_at": "2024-05-01T10:20:30Z",
        "expires_at": "2024-05-02T10:20:30Z"}},
      {"model": "token_blacklist.outstandingtoken", "pk": 8, "fields": {"user": ["ada"],
        "jti": "def", "token": "x.y.z", "created_at": null, "expires_at": "2024-05-02T10:20:30Z"}},
      {"model": "token_blacklist.blacklistedtoken", "pk": 1, "fields": {"token": 8,
        "blacklisted_at": "2024-05-01T11:00:00Z"}}
    ]"#;

    #[test]
    fn a_dump_gives_users_tokens_and_the_counts_of_the_rest() {
        let data = parse(DUMP.as_bytes(), None).unwrap();
        assert_eq!(data.user_table, "auth_user");
        assert_eq!(data.users.len(), 1);
        let ada = &data.users[0];
        assert_eq!(
            (ada.id, ada.username.as_deref(), ada.is_staff),
            (2, Some("ada"), true)
        );
        assert_eq!(ada.date_joined, parse_datetime("2024-05-01T10:20:30.123Z"));
        assert_eq!(data.tokens.len(), 2);
        assert_eq!(
            (data.tokens[0].user_id, data.tokens[0].blacklisted),
            (Some(2), false)
        );
        assert_eq!(
            (data.tokens[1].user_id, data.tokens[1].blacklisted),
            (Some(2), true)
        );
        assert_eq!(data.not_imported.groups, 1);
        assert_eq!(data.not_imported.group_memberships, 1);
    }

    #[test]
    fn a_missing_user_model_or_a_broken_file_is_an_error() {
        assert!(parse(b"{", None).is_err());
        assert!(parse(b"[]", None).is_err());
        assert!(parse(DUMP.as_bytes(), Some("authentication_user")).is_err());
        assert!(parse(DUMP.as_bytes(), Some("auth.user")).is_ok());
    }
}
