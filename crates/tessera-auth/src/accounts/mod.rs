//! Accounts: the use cases that create and change users — registration, profile,
//! password, staff actions — shared by the HTTP views and the command line, under the
//! [`rules`](crate::rules).

mod admin;
mod claims;
mod input;
mod password;
mod profile;
mod register;

pub use crate::rules::{
    AccountSettings, FieldKind, LogoutAnswer, RegisterAnswer, UserField, drf_bool,
};
pub use admin::{
    AdminAction, AdminUpdate, LAST_SUPERUSER, STAFF_FLAG_SUPERUSER_ONLY, SUPERUSER_ONLY,
    admin_refusal,
};
pub use claims::{account_claims, account_name, custom_value, full_name, user_field_value};
pub use input::EMAIL_TAKEN;
pub use register::NewAccount;
