//! The account rules: Django's validators for what users type (e-mail addresses,
//! passwords), the custom user fields declared in the configuration, and the account
//! settings that hold them. The use cases in [`crate::accounts`] apply them.

mod email;
mod password;
mod settings;
mod user_fields;

pub use email::{EMAIL_MAX_LENGTH, has_invisible, validate_email};
pub use password::{PasswordPolicy, UserAttributes};
pub use settings::AccountSettings;
pub use user_fields::{CUSTOM_TEXT_MAX_LENGTH, FieldKind, UserField, drf_bool};
