//! Accounts: the use cases that create and change users — registration, profile,
//! password, staff actions — shared by the HTTP views and the command line, under the
//! [`rules`](crate::rules).

mod admin;
mod claims;
mod groups;
mod input;
mod password;
mod profile;
mod register;
mod ways_in;

pub use crate::rules::{
    AccountSettings, FieldKind, LogoutAnswer, PermissionClaims, RegisterAnswer, UserField, drf_bool,
};
pub use admin::{
    AdminAction, AdminUpdate, GRANTS_SUPERUSER_ONLY, GROUPS_SUPERUSER_ONLY, LAST_SUPERUSER,
    STAFF_FLAG_SUPERUSER_ONLY, SUPERUSER_ONLY, actor_refusal, admin_refusal,
};
pub use claims::{account_claims, account_name, custom_value, full_name, user_field_value};
pub use groups::{
    GROUP_NAME_TAKEN, GroupInput, PERMISSION_CLAIMS_MAX_BYTES, invalid_permission, not_a_list,
    unknown_group,
};
pub use input::EMAIL_TAKEN;
pub(crate) use input::{attributes_of, check_password};
pub use register::NewAccount;
pub(crate) use ways_in::Removed;
pub use ways_in::{LAST_WAY_IN, last_way_in};
