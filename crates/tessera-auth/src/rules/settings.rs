//! Settings of the account side: password rules, custom user fields, page size.

use serde::{Deserialize, Serialize};
use tessera_core::{Settings, SettingsError};

use super::password::PasswordPolicy;
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
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            password: PasswordPolicy::default(),
            user_fields: Vec::new(),
            page_size: 20,
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
            .try_for_each(|field| field.validate_claims(settings))
    }
}
