//! Registration: a new account from what the user typed (the registration routes), or from
//! the command line (`createsuperuser`), under the same rules.

use serde_json::{Map, Value};
use tessera_core::UsernameField;
use tessera_store::{NewUser, StoreError, User};

use super::input::{
    EMAIL_TAKEN, Mode, check_name, check_password, email_is_optional, read_account_email,
    read_custom, read_email, read_name, read_username,
};
use crate::audit::{Audit, event};
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::form::{Fields, Trim};
use crate::rules::USERNAME_TAKEN;
use crate::service::Auth;

/// An account made by staff or the command line, not by its owner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewAccount {
    /// The e-mail address; may be blank when accounts may go without one
    /// ([`Auth::email_is_optional`]).
    pub email: String,
    /// The username: required with `username_field = "username"`, optional otherwise;
    /// Django's rules either way.
    pub username: Option<String>,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// The password; `None` makes it unusable (no password login).
    pub password: Option<String>,
    /// Staff (admin API) and superuser.
    pub superuser: bool,
}

impl Auth {
    /// Registers an account from `data` (`email`, `first_name`, `last_name`, `password`,
    /// `password_confirm` and the custom fields users may set — `username` first with
    /// `username_field = "username"`, where `email` may then be left out or blank unless
    /// `registration_email_required`), with DRF's messages in field order, after the
    /// `register` throttle for the client's address (`10/hour` by default). The password
    /// is hashed within the share of the hashing queue other work than logins has.
    /// Audited as `account.registered`. A new account with an address is sent a
    /// verification mail.
    ///
    /// # Errors
    /// [`AuthError::Throttled`] over the `register` rate; [`AuthError::Invalid`] field by
    /// field (an address taken, a weak password …); [`AuthError::Busy`] when the hashing
    /// queue is full.
    pub async fn register(
        &self,
        data: &Map<String, Value>,
        client: &ClientInfo,
    ) -> Result<User, AuthError> {
        self.throttles().check("register", client.ident()).await?;
        let declared = &self.accounts().user_fields;
        let mut fields = Fields::new(data);
        let username = if self.settings().username_field == UsernameField::Username {
            read_username(self, &mut fields, Mode::Create, None).await?
        } else {
            None
        };
        let email = read_account_email(self, &mut fields, Mode::Create, None).await?;
        let first_name = read_name(&mut fields, "first_name").unwrap_or_default();
        let last_name = read_name(&mut fields, "last_name").unwrap_or_default();
        let mut extra = read_custom(data, declared, &mut fields, Mode::Create);
        let password = fields.required("password", Trim::No);
        if let Some(password) = &password {
            let attributes = vec![
                ("username", username.as_deref().unwrap_or_default()),
                ("email", email.as_deref().unwrap_or_default()),
                ("first_name", first_name.as_str()),
                ("last_name", last_name.as_str()),
            ];
            check_password(self, &mut fields, "password", password, &attributes);
        }
        // Read after the password rules so that errors keep DRF's field order.
        let confirm = if self.accounts().register_password_confirm {
            fields.required("password_confirm", Trim::No)
        } else {
            password.clone()
        };
        fields.finish()?;
        let (email, password) = (email.unwrap_or_default(), password.unwrap_or_default());
        if Some(&password) != confirm.as_ref() {
            return Err(AuthError::field(
                "password_confirm",
                "Password fields do not match.",
            ));
        }
        for field in declared {
            if let (false, Some(default)) = (extra.contains_key(&field.name), &field.default) {
                extra.insert(field.name.clone(), default.clone());
            }
        }
        let password_hash = self.hashing().hash_for(&password, client).await?;
        let user = self
            .create(NewUser {
                email,
                username,
                first_name,
                last_name,
                password_hash,
                is_active: true,
                date_joined: self.now(),
                extra,
                ..NewUser::default()
            })
            .await?;
        self.audit(
            Audit::new(event::ACCOUNT_REGISTERED)
                .user(user.id)
                .login_name(self.lockout_name_of(&user))
                .client(client),
        )
        .await;
        self.queue_registration_mail(&user, client).await;
        Ok(user)
    }

    /// Creates an account for staff or the command line (`createsuperuser`): the same
    /// username, address and password rules as registration, custom fields at their
    /// defaults. Audited as `admin.user_created` with `detail.via = "cli"`.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] for a bad or taken username or address, or a weak password.
    pub async fn create_account(&self, account: NewAccount) -> Result<User, AuthError> {
        let by_username = self.settings().username_field == UsernameField::Username;
        let typed_username = account.username.filter(|u| !u.trim().is_empty());
        let mut data = Map::new();
        data.insert(
            "email".into(),
            Value::String(account.email.trim().to_owned()),
        );
        if let Some(username) = &typed_username {
            data.insert("username".into(), Value::String(username.clone()));
        }
        let mut fields = Fields::new(&data);
        let username = if by_username || typed_username.is_some() {
            read_username(self, &mut fields, Mode::Create, None).await?
        } else {
            None
        };
        let email = read_account_email(self, &mut fields, Mode::Create, None)
            .await?
            .unwrap_or_default();
        let names = [
            ("first_name", account.first_name.as_str()),
            ("last_name", account.last_name.as_str()),
        ];
        for (name, value) in names {
            if let Some(message) = check_name(value) {
                fields.fail(name, message);
            }
        }
        if let Some(password) = &account.password {
            let attributes = vec![
                ("username", username.as_deref().unwrap_or_default()),
                ("email", email.as_str()),
                ("first_name", account.first_name.as_str()),
                ("last_name", account.last_name.as_str()),
            ];
            check_password(self, &mut fields, "password", password, &attributes);
        }
        fields.finish()?;
        let password_hash = match &account.password {
            Some(password) => self.hashing().hash(password).await?,
            None => "!".to_owned(),
        };
        let user = self
            .create(NewUser {
                email,
                username,
                first_name: account.first_name.trim().to_owned(),
                last_name: account.last_name.trim().to_owned(),
                password_hash,
                is_active: true,
                is_staff: account.superuser,
                is_superuser: account.superuser,
                date_joined: self.now(),
                // Custom user fields start at their configured defaults.
                extra: self
                    .accounts()
                    .user_fields
                    .iter()
                    .filter_map(|f| Some((f.name.clone(), f.default.clone()?)))
                    .collect(),
            })
            .await?;
        let mut created = Audit::new(event::ADMIN_USER_CREATED)
            .user(user.id)
            .login_name(self.lockout_name_of(&user));
        if account.superuser {
            created = created.detail(serde_json::json!({"is_staff": true, "is_superuser": true}));
        }
        self.audit(created.via_cli()).await;
        Ok(user)
    }

    /// Checks an address for a new account, as registration does (valid, at most 254
    /// characters, not another account's), before asking for anything else; returns it
    /// trimmed.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] under `email`.
    pub async fn check_new_email(&self, email: &str) -> Result<String, AuthError> {
        let mut data = Map::new();
        data.insert("email".into(), Value::String(email.to_owned()));
        let mut fields = Fields::new(&data);
        let checked = read_email(self, &mut fields, Mode::Create, None).await?;
        fields.finish()?;
        Ok(checked.unwrap_or_default())
    }

    /// Checks a username for a new account, as registration does (Django's rules, not
    /// another account's), before asking for anything else; returns it NFKC-normalised.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] under `username`.
    pub async fn check_new_username(&self, username: &str) -> Result<String, AuthError> {
        let mut data = Map::new();
        data.insert("username".into(), Value::String(username.to_owned()));
        let mut fields = Fields::new(&data);
        let checked = read_username(self, &mut fields, Mode::Create, None).await?;
        fields.finish()?;
        Ok(checked.unwrap_or_default())
    }

    /// Whether accounts may have no e-mail address: with `username_field = "username"`,
    /// unless `registration_email_required`. A blank address then means none.
    pub fn email_is_optional(&self) -> bool {
        email_is_optional(self)
    }

    /// Inserts a user; an address taken between the check and the insert is a field error.
    async fn create(&self, user: NewUser) -> Result<User, AuthError> {
        match self.store().create_user(&user).await {
            Ok(user) => Ok(user),
            Err(StoreError::DuplicateEmail) => Err(AuthError::field("email", EMAIL_TAKEN)),
            Err(StoreError::DuplicateUsername) => Err(AuthError::field("username", USERNAME_TAKEN)),
            Err(e) => Err(e.into()),
        }
    }
}
