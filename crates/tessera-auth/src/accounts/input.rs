//! Reading the account fields of an input object: e-mail, names and custom fields, with
//! Django's validators and DRF's messages.

use serde_json::{Map, Value};
use tessera_core::UsernameField;
use tessera_store::User;

use crate::error::AuthError;
use crate::form::{Fields, Text, Trim, too_long};
use crate::rules::UserField;
use crate::rules::{
    EMAIL_MAX_LENGTH, USERNAME_INVALID, USERNAME_MAX_LENGTH, USERNAME_TAKEN, UserAttributes,
    has_invisible, is_valid_username, normalize_username, validate_email,
};
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

/// Reads `email`: trimmed, normalised (NFKC, the domain in its IDNA processed form: see
/// [`tessera_store::normalize_email`]), at most 255 characters, Django-valid, with no
/// invisible code point and no domain label mixing scripts, not another user's. The
/// normalised address is what is checked, compared and stored.
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
    let Some(typed) = email else {
        return Ok(None);
    };
    check_email(auth, fields, &typed, current).await
}

/// Whether an account may have no e-mail address: in username mode, unless
/// `registration_email_required` (Django's `AbstractUser.email` is `blank=True`).
pub(super) fn email_is_optional(auth: &Auth) -> bool {
    auth.settings().username_field == UsernameField::Username
        && !auth.accounts().registration_email_required
}

/// Reads `email` where it may be left out or blank (`required=False, allow_blank=True`):
/// absent gives `None`, blank `Some("")` (no address), anything else is checked as
/// [`read_email`] checks it.
pub(super) async fn read_optional_email(
    auth: &Auth,
    fields: &mut Fields<'_>,
    current: Option<&User>,
) -> Result<Option<String>, AuthError> {
    match fields.optional("email", Trim::Yes) {
        None => Ok(None),
        Some(typed) if typed.is_empty() => Ok(Some(typed)),
        Some(typed) => check_email(auth, fields, &typed, current).await,
    }
}

/// Reads `email` as the settings want it: [`read_optional_email`] when accounts may go
/// without one ([`email_is_optional`]), else [`read_email`] in `mode`.
pub(super) async fn read_account_email(
    auth: &Auth,
    fields: &mut Fields<'_>,
    mode: Mode,
    current: Option<&User>,
) -> Result<Option<String>, AuthError> {
    if email_is_optional(auth) {
        read_optional_email(auth, fields, current).await
    } else {
        read_email(auth, fields, mode, current).await
    }
}

/// Checks a typed, non-blank address (see [`read_email`]); the normalised address, or
/// `None` after recording why not.
async fn check_email(
    auth: &Auth,
    fields: &mut Fields<'_>,
    typed: &str,
    current: Option<&User>,
) -> Result<Option<String>, AuthError> {
    // Invisible code points are refused as typed: normalising drops some from domains.
    let email = tessera_store::normalize_email(typed);
    // DRF runs every validator of the field and lists each failure.
    let over = email.chars().nth(EMAIL_MAX_LENGTH).is_some();
    if over {
        fields.fail("email", too_long(EMAIL_MAX_LENGTH));
    }
    if has_invisible(typed) || !validate_email(&email) {
        fields.fail("email", "Enter a valid email address.");
        return Ok(None);
    }
    if over {
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

/// Reads `username` (username mode): required (optional in a PATCH), NFKC-normalised as
/// Django's `normalize_username` does, then checked in DRF's validator order —
/// `UnicodeUsernameValidator`, uniqueness, the 150-character `max_length` — with their
/// messages. The normalised name is what is checked, compared and stored.
pub(super) async fn read_username(
    auth: &Auth,
    fields: &mut Fields<'_>,
    mode: Mode,
    current: Option<&User>,
) -> Result<Option<String>, AuthError> {
    let typed = match mode {
        Mode::Patch => fields.optional("username", Trim::Yes).filter(|u| {
            if u.is_empty() {
                fields.fail("username", "This field may not be blank.");
            }
            !u.is_empty()
        }),
        _ => fields.required("username", Trim::Yes),
    };
    let Some(typed) = typed else {
        return Ok(None);
    };
    let username = normalize_username(&typed);
    let valid = is_valid_username(&username);
    if !valid {
        fields.fail("username", USERNAME_INVALID);
    }
    let over = username.chars().nth(USERNAME_MAX_LENGTH).is_some();
    // A name the rules refuse is no account's: no need to ask the store.
    if valid
        && !over
        && let Some(other) = auth.store().user_by_username(&username).await?
        && current.is_none_or(|me| me.id != other.id)
    {
        fields.fail("username", USERNAME_TAKEN);
        return Ok(None);
    }
    if over {
        fields.fail("username", too_long(USERNAME_MAX_LENGTH));
    }
    Ok((valid && !over).then_some(username))
}

/// Reads an optional name (blank allowed, at most 150 characters, one line: no control
/// character, as names are shown in lists, logs and terminals).
pub(super) fn read_name(fields: &mut Fields<'_>, name: &str) -> Option<String> {
    let value = fields.optional(name, Trim::Yes)?;
    if let Some(message) = check_name(&value) {
        fields.fail(name, message);
        return None;
    }
    Some(value)
}

/// What is wrong with a name or a username (at most 150 characters, one line), if anything.
pub(crate) fn check_name(value: &str) -> Option<String> {
    if value.chars().nth(NAME_MAX_LENGTH).is_some() {
        return Some(too_long(NAME_MAX_LENGTH));
    }
    Text::Line.refusal(value).map(str::to_owned)
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
pub(crate) fn attributes_of(user: &User) -> UserAttributes<'_> {
    vec![
        ("username", user.username.as_deref().unwrap_or_default()),
        ("email", user.email.as_str()),
        ("first_name", user.first_name.as_str()),
        ("last_name", user.last_name.as_str()),
    ]
}

/// Adds the password rules' messages for `password` as field `name`.
pub(crate) fn check_password(
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
