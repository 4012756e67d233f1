//! Accounts: the rules for what users type (Django's validators, custom fields), and the use
//! cases that create and change users — registration, profile, password, staff actions —
//! shared by the HTTP views and the command line.

mod admin;
mod claims;
mod input;
mod password;
mod profile;
mod register;
pub mod rules;
mod settings;
mod user_fields;

pub use admin::AdminUpdate;
pub use claims::{account_claims, custom_value, full_name};
pub use register::NewAccount;
pub use settings::AccountSettings;
pub use user_fields::{FieldKind, UserField, drf_bool};
