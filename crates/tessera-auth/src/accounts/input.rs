//! Reading the account fields of an input object: e-mail, names and custom fields, with
//! Django's validators and DRF's messages.

use serde_json::{Map, Value};
use tessera_store::User;

use crate::error::AuthError;
use crate::form::{Fields, Trim};
use crate::rules::UserField;
use crate::rules::{EMAIL_MAX_LENGTH, UserAttributes, validate_email};
use crate::service::Auth;

/// Django's `max_length` for first and last names.
const NAME_MAX_LENGTH: usize = 150;

/// How an input's fields are read: creating a user, replacing a profile, or patching it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Create,
    Replace,
    Patch,
}

/// The message for an address another account has.
pub const EMAIL_TAKEN: &str = "user with this email already exists.";

/// Reads `email`: trimmed, at most 254 characters, Django-valid, not another user's.
pub(super) async fn read_email(
    auth: &Auth,
    fields: &mut Fields<'_>,
    mode: Mode,
    current: Option<&User>,
) -> Result<Option<String>, AuthError> {
    let email = match mode {
        Mode::Patch => fields.optional("email", Trim::Yes).filter(|e| {
            if e.is_empty() {
                fields.fail("email", "This field may not be blank.");
            }
            !e.is_empty()
        }),
        _ => fields.required("email", Trim::Yes),
    };
    let Some(email) = email else {
        return Ok(None);
    };
    // DRF runs every validator of the field and lists each failure.
    let too_long = email.chars().count() > EMAIL_MAX_LENGTH;
    if too_long {
        fields.fail(
            "email",
            format!("Ensure this field has no more than {EMAIL_MAX_LENGTH} characters."),
        );
    }
    if !validate_email(&email) {
        fields.fail("email", "Enter a valid email address.");
        return Ok(None);
    }
    if too_long {
        return Ok(None);
    }
    if let Some(other) = auth.store().user_by_email(&email).await?
        && current.is_none_or(|me| me.id != other.id)
    {
        fields.fail("email", EMAIL_TAKEN);
        return Ok(None);
    }
    Ok(Some(email))
}

/// Reads an optional name (blank allowed, at most 150 characters).
pub(super) fn read_name(fields: &mut Fields<'_>, name: &str) -> Option<String> {
    let value = fields.optional(name, Trim::Yes)?;
    if value.chars().count() > NAME_MAX_LENGTH {
        fields.fail(
            name,
            format!("Ensure this field has no more than {NAME_MAX_LENGTH} characters."),
        );
        return None;
    }
    Some(value)
}

/// Reads the custom user fields the user may set.
pub(super) fn read_custom(
    data: &Map<String, Value>,
    declared: &[UserField],
    fields: &mut Fields<'_>,
    mode: Mode,
) -> Map<String, Value> {
    let mut values = Map::new();
    for field in declared.iter().filter(|f| !f.read_only) {
        match data.get(&field.name) {
            Some(value) => match field.parse(value) {
                Ok(parsed) => {
                    values.insert(field.name.clone(), parsed);
                }
                Err(message) => fields.fail(&field.name, message),
            },
            None if mode != Mode::Patch && field.is_required() => {
                fields.fail(&field.name, "This field is required.")
            }
            None => {}
        }
    }
    values
}

/// What a password must not resemble: the user's names and address.
pub(super) fn attributes_of(user: &User) -> UserAttributes<'_> {
    vec![
        ("username", user.username.as_deref().unwrap_or_default()),
        ("email", user.email.as_str()),
        ("first_name", user.first_name.as_str()),
        ("last_name", user.last_name.as_str()),
    ]
}

/// Adds the password rules' messages for `password` as field `name`.
pub(super) fn check_password(
    auth: &Auth,
    fields: &mut Fields<'_>,
    name: &str,
    password: &str,
    attributes: &UserAttributes<'_>,
) {
    for message in auth.accounts().password.check(password, attributes) {
        fields.fail(name, message);
    }
}
