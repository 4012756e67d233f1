//! The account rules: Django's validators for what users type (e-mail addresses,
//! usernames, passwords), the custom user fields declared in the configuration, and the account
//! settings that hold them. The use cases in [`crate::accounts`] apply them.

mod email;
mod password;
mod settings;
mod token_obtain;
mod user_fields;
mod username;

pub use email::{EMAIL_MAX_LENGTH, has_invisible, validate_email};
pub use password::{PasswordPolicy, UserAttributes};
pub use settings::{
    AccountSettings, LogoutAnswer, PERMISSION_CLAIMS, PermissionClaims, RegisterAnswer,
};
pub use token_obtain::{BUILT_IN_USER_FIELDS, TOKEN_OWN_CLAIMS, TokenObtain};
pub use user_fields::{CUSTOM_TEXT_MAX_LENGTH, FieldKind, UserField, drf_bool};
pub use username::{
    USERNAME_INVALID, USERNAME_MAX_LENGTH, USERNAME_TAKEN, is_valid_username, normalize_username,
};
