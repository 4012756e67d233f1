//! Settings of the account side: password rules, custom user fields, page size.

use serde::{Deserialize, Serialize};
use tessera_core::{Settings, SettingsError};

use super::password::PasswordPolicy;
use super::token_obtain::TokenObtain;
use super::user_fields::UserField;

/// Account settings, next to simplejwt's in the same configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountSettings {
    /// Password rules (`password_min_length`, `password_reject_common`, …).
    #[serde(flatten)]
    pub password: PasswordPolicy,
    /// Custom user fields. Defaults to none.
    pub user_fields: Vec<UserField>,
    /// Page size of paginated lists (DRF's `PAGE_SIZE`). Defaults to 20.
    pub page_size: usize,
    /// With `username_field = "username"`: whether registration requires an e-mail
    /// address too (Django's `AbstractUser.email` is `blank=True`). Login by e-mail always
    /// requires one. Defaults to `false`.
    #[serde(with = "tessera_core::boolean")]
    pub registration_email_required: bool,
    /// What `POST token/` adds to its tokens and its answer (`[token_obtain]`). Defaults
    /// to nothing: simplejwt's pair.
    pub token_obtain: TokenObtain,
    /// What `POST token/sliding/` adds to its token and its answer
    /// (`[token_obtain_sliding]`). Defaults to nothing.
    pub token_obtain_sliding: TokenObtain,
    /// Whether registration asks for the password twice (`password_confirm`). Defaults to
    /// `true`; `false` is the tutorials' `RegisterView`, which reads `password` alone.
    #[serde(with = "tessera_core::boolean")]
    pub register_password_confirm: bool,
    /// The answer of `POST auth/register/`. Defaults to `account`.
    pub register_answer: RegisterAnswer,
    /// The answer of `POST auth/logout/`. Defaults to `message`.
    pub logout_answer: LogoutAnswer,
    /// What of a user's groups and permissions their access tokens carry as claims
    /// (`groups`, `permissions`), read at issue and at each refresh — and so stale until the
    /// next refresh — and left out past
    /// [`PERMISSION_CLAIMS_MAX_BYTES`](crate::accounts::PERMISSION_CLAIMS_MAX_BYTES).
    /// Defaults to `off`.
    pub token_permission_claims: PermissionClaims,
}

/// The claims of [`PermissionClaims`]: no custom user field copied into tokens may take
/// their names.
pub const PERMISSION_CLAIMS: &[&str] = &["groups", "permissions"];

/// Which of a user's groups and permissions their access tokens carry
/// (`token_permission_claims`). The claims are read when a token is issued or refreshed:
/// a change of groups or permissions reaches a token at its next refresh, so a token can
/// carry a permission taken away up to `access_token_lifetime` ago. A server that must
/// see a change at once checks with `Auth::has_perm`, which reads the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermissionClaims {
    /// No claims.
    #[default]
    Off,
    /// `groups`: the names of the user's groups, sorted.
    Groups,
    /// `permissions`: the user's effective permissions (their own and their groups'),
    /// sorted.
    Permissions,
    /// Both `groups` and `permissions`.
    Both,
}

impl PermissionClaims {
    /// Whether tokens carry the `groups` claim.
    pub fn groups(self) -> bool {
        matches!(self, Self::Groups | Self::Both)
    }

    /// Whether tokens carry the `permissions` claim.
    pub fn permissions(self) -> bool {
        matches!(self, Self::Permissions | Self::Both)
    }
}

/// What `POST auth/register/` answers when it succeeds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisterAnswer {
    /// 201 `{"message","user","tokens":{"refresh","access"}}`.
    #[default]
    Account,
    /// 201 `{"refresh","access"}` — a `RegisterView` that answers
    /// `RefreshToken.for_user(user)`'s pair, as the simplejwt tutorials write it.
    Tokens,
}

/// What `POST auth/logout/` answers when it succeeds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogoutAnswer {
    /// 200 `{"message":"Successfully logged out"}`.
    #[default]
    Message,
    /// 205 Reset Content with an empty body — the tutorials' `LogoutView`.
    ResetContent,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            password: PasswordPolicy::default(),
            user_fields: Vec::new(),
            page_size: 20,
            registration_email_required: false,
            token_obtain: TokenObtain::default(),
            token_obtain_sliding: TokenObtain::default(),
            register_password_confirm: true,
            register_answer: RegisterAnswer::default(),
            logout_answer: LogoutAnswer::default(),
            token_permission_claims: PermissionClaims::default(),
        }
    }
}

impl AccountSettings {
    /// Checks every value; the first problem names its setting.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.password.validate_settings()?;
        for (i, field) in self.user_fields.iter().enumerate() {
            field.validate()?;
            if self.user_fields[..i].iter().any(|f| f.name == field.name) {
                return Err(SettingsError {
                    setting: "user_fields".into(),
                    message: format!("{:?} is declared twice", field.name),
                });
            }
        }
        // Whatever `token_permission_claims` says: a claim of these names must never be one
        // a user can set (`TokenUser::has_perm_claim` reads it).
        if let Some(field) = self
            .user_fields
            .iter()
            .find(|f| f.claim && PERMISSION_CLAIMS.contains(&f.name.as_str()))
        {
            return Err(SettingsError {
                setting: "user_fields".into(),
                message: format!(
                    "{:?} is a claim of `token_permission_claims`; rename the field or stop \
                     copying it into tokens",
                    field.name
                ),
            });
        }
        if !(1..=1000).contains(&self.page_size) {
            return Err(SettingsError {
                setting: "page_size".into(),
                message: "must be between 1 and 1000".into(),
            });
        }
        Ok(())
    }

    /// [`validate`](Self::validate), and no custom field takes the name of a claim the
    /// token settings configure (`user_id_claim = "uid"` and a field `uid` would let users
    /// choose their own id in tokens).
    pub fn validate_with(&self, settings: &Settings) -> Result<(), SettingsError> {
        self.validate()?;
        self.user_fields
            .iter()
            .try_for_each(|field| field.validate_claims(settings))?;
        self.token_obtain
            .validate("token_obtain", &self.user_fields, settings)?;
        self.token_obtain_sliding
            .validate("token_obtain_sliding", &self.user_fields, settings)
    }
}
