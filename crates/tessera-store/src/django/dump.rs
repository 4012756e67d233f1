//! `manage.py dumpdata auth contenttypes token_blacklist <app>` JSON: a list of
//! `{"model": "app.model", "pk": …, "fields": {…}}` objects, foreign keys as primary keys or
//! (with `--natural-foreign`) as natural keys.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use super::source::DjangoSourceError;
use super::{DjangoData, DjangoGrants, DjangoGroup, DjangoToken, DjangoUser, parse_datetime};

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
    let mut user_objects = Vec::new();
    let mut group_objects = Vec::new();
    let mut names = Names::default();
    let mut outstanding = Vec::new();
    let mut blacklisted = std::collections::HashSet::new();
    for object in &objects {
        let label = object.model.to_ascii_lowercase();
        if label == user_label {
            let user = user(object, &user_table)?;
            user_objects.push((user.id, object));
            users.push(user);
        } else if label == "auth.group" {
            group_objects.push(object);
        } else if label == "contenttypes.contenttype" {
            if let (Ok(id), Some(app_label)) = (
                pk(object, "django_content_type"),
                object.fields.get("app_label").and_then(Value::as_str),
            ) {
                names.app_labels.insert(id, app_label.to_owned());
            }
        } else if label == "auth.permission" {
            if let Ok(id) = pk(object, "auth_permission") {
                names.permissions.insert(id, object);
            }
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
    let grants = grants(&names, &group_objects, &user_objects, &user_table)?;
    Ok(DjangoData {
        user_table,
        users,
        tokens,
        grants,
    })
}

/// What names a permission in a dump without natural keys: the permissions by pk and the
/// content types' app labels by pk.
#[derive(Default)]
struct Names<'a> {
    permissions: HashMap<i64, &'a Object>,
    app_labels: HashMap<i64, String>,
}

impl Names<'_> {
    /// A permission reference as `app_label.codename`: a natural key
    /// (`["codename", "app_label", "model"]`) or a pk of a dumped `auth.permission`.
    fn permission(&self, reference: &Value) -> Option<String> {
        match reference {
            Value::Array(key) => {
                let codename = key.first()?.as_str()?;
                let app_label = key.get(1)?.as_str()?;
                Some(format!("{app_label}.{codename}"))
            }
            Value::Number(n) => {
                let object = self.permissions.get(&n.as_i64()?)?;
                let codename = object.fields.get("codename")?.as_str()?;
                let app_label = match object.fields.get("content_type")? {
                    Value::Array(key) => key.first()?.as_str()?.to_owned(),
                    Value::Number(n) => self.app_labels.get(&n.as_i64()?)?.clone(),
                    _ => return None,
                };
                Some(format!("{app_label}.{codename}"))
            }
            _ => None,
        }
    }
}

/// The groups and the users' grants of a dump. A reference that names nothing in the dump
/// (a permission whose `auth.permission` or content type was not dumped) is unresolved.
fn grants(
    names: &Names<'_>,
    group_objects: &[&Object],
    user_objects: &[(i64, &Object)],
    user_table: &str,
) -> Result<DjangoGrants, DjangoSourceError> {
    let mut grants = DjangoGrants::default();
    for object in group_objects {
        let id = pk(object, "auth_group")?;
        let name = object
            .fields
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("auth_group id={id}: no name")))?;
        let mut permissions = Vec::new();
        for reference in list(object, "permissions") {
            match names.permission(reference) {
                Some(permission) => permissions.push(permission),
                None => grants
                    .unresolved
                    .push(("auth_group_permissions".into(), id)),
            }
        }
        permissions.sort();
        permissions.dedup();
        grants.groups.push(DjangoGroup {
            id,
            name: name.to_owned(),
            permissions,
        });
    }
    grants.groups.sort_by_key(|g| g.id);
    let group_by_name: HashMap<&str, i64> = grants
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.id))
        .collect();
    let mut memberships = Vec::new();
    let mut direct = Vec::new();
    let mut unresolved = Vec::new();
    for (user, object) in user_objects {
        for reference in list(object, "groups") {
            let group = match reference {
                Value::Number(n) => n.as_i64(),
                Value::Array(key) => key
                    .first()
                    .and_then(Value::as_str)
                    .and_then(|name| group_by_name.get(name).copied()),
                _ => None,
            };
            match group {
                Some(group) => memberships.push((*user, group)),
                None => unresolved.push((format!("{user_table}_groups"), *user)),
            }
        }
        for reference in list(object, "user_permissions") {
            match names.permission(reference) {
                Some(permission) => direct.push((*user, permission)),
                None => unresolved.push((format!("{user_table}_user_permissions"), *user)),
            }
        }
    }
    grants.memberships = memberships;
    grants.user_permissions = direct;
    grants.unresolved.extend(unresolved);
    Ok(grants)
}

/// The list field `name` of `object` (empty when absent or not a list).
fn list<'a>(object: &'a Object, name: &str) -> &'a [Value] {
    object
        .fields
        .get(name)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
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
      {"model": "contenttypes.contenttype", "pk": 5, "fields": {"app_label": "notes", "model": "note"}},
      {"model": "auth.permission", "pk": 1, "fields": {"name": "Can change note",
        "content_type": 5, "codename": "change_note"}},
      {"model": "auth.permission", "pk": 2, "fields": {"name": "Can view note",
        "content_type": ["notes", "note"], "codename": "view_note"}},
      {"model": "auth.group", "pk": 1, "fields": {"name": "editors", "permissions": [1]}},
      {"model": "auth.user", "pk": 2, "fields": {"password": "pbkdf2_sha256$870000$s$h=",
        "last_login": null, "is_superuser": false, "username": "ada", "first_name": "Ada",
        "last_name": "L", "email": "ada@example.com", "is_staff": true, "is_active": true,
        "date_joined": "2024-05-01T10:20:30.123Z", "groups": [1], "user_permissions": [2]}},
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
        assert_eq!(
            data.grants.groups,
            [DjangoGroup {
                id: 1,
                name: "editors".into(),
                permissions: vec!["notes.change_note".into()]
            }]
        );
        assert_eq!(data.grants.memberships, [(2, 1)]);
        assert_eq!(
            data.grants.user_permissions,
            [(2, "notes.view_note".into())]
        );
        assert!(data.grants.unresolved.is_empty());
    }

    #[test]
    fn natural_keys_name_groups_and_permissions_and_what_names_nothing_is_unresolved() {
        let dump = r#"[
          {"model": "auth.group", "pk": 4, "fields": {"name": "editors",
            "permissions": [["change_note", "notes", "note"], 99]}},
          {"model": "auth.user", "pk": 2, "fields": {"password": "!", "username": "ada",
            "email": "", "groups": [["editors"], ["ghosts"]],
            "user_permissions": [["delete_note", "notes", "note"]]}}
        ]"#;
        let grants = parse(dump.as_bytes(), None).unwrap().grants;
        assert_eq!(grants.groups[0].permissions, ["notes.change_note"]);
        assert_eq!(grants.memberships, [(2, 4)]);
        assert_eq!(grants.user_permissions, [(2, "notes.delete_note".into())]);
        assert_eq!(
            grants.unresolved,
            [
                ("auth_group_permissions".into(), 4),
                ("auth_user_groups".into(), 2)
            ]
        );
    }

    #[test]
    fn a_missing_user_model_or_a_broken_file_is_an_error() {
        assert!(parse(b"{", None).is_err());
        assert!(parse(b"[]", None).is_err());
        assert!(parse(DUMP.as_bytes(), Some("authentication_user")).is_err());
        assert!(parse(DUMP.as_bytes(), Some("auth.user")).is_ok());
    }
}
