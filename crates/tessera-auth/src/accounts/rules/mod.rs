//! Django's validators for what users type: e-mail addresses and passwords.

mod email;
mod password;

pub use email::{EMAIL_MAX_LENGTH, validate_email};
pub use password::{PasswordPolicy, UserAttributes};
