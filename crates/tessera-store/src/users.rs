//! Users.

use serde::Serialize;

use crate::email::normalize_email;
use crate::error::{Result, map_user_write_error};
use crate::store::Store;

/// Every column of `users`, in a fixed order.
macro_rules! user_columns {
    () => {
        "id, email, username, first_name, last_name, password_hash, \
         is_active, is_staff, is_superuser, date_joined, last_login"
    };
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct User {
    /// Primary key.
    pub id: i64,
    /// Normalized email (domain lower-cased); unique.
    pub email: String,
    /// Optional unique username (never the empty string).
    pub username: Option<String>,
    /// First name, may be empty.
    pub first_name: String,
    /// Last name, may be empty.
    pub last_name: String,
    /// Inactive users cannot log in.
    pub is_active: bool,
    /// Django's `is_staff`.
    pub is_staff: bool,
    /// Django's `is_superuser`.
    pub is_superuser: bool,
    /// When the account was created, microseconds since the Unix epoch.
    pub date_joined: i64,
    /// Last successful login, microseconds since the Unix epoch.
    pub last_login: Option<i64>,
    /// PHC string; `""` or a value starting with `'!'` means "unusable password".
    #[serde(skip)]
    pub password_hash: String,
}

impl User {
    /// `true` unless the hash is empty or starts with `'!'` (Django's unusable password).
    pub fn has_usable_password(&self) -> bool {
        !self.password_hash.is_empty() && !self.password_hash.starts_with('!')
    }
}

/// Data for [`Store::create_user`].
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    /// Email; normalized by [`Store::create_user`].
    pub email: String,
    /// `None` or a non-empty username (`Some("")` is stored as `None`).
    pub username: Option<String>,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Already-hashed password (PHC string), or `"!"` for an unusable password.
    pub password_hash: String,
    /// Active flag.
    pub is_active: bool,
    /// Staff flag.
    pub is_staff: bool,
    /// Superuser flag.
    pub is_superuser: bool,
    /// Creation time, microseconds since the Unix epoch.
    pub date_joined: i64,
}

/// Flags to change with [`Store::set_user_flags`]; `None` leaves a flag as it is.
#[derive(Debug, Clone, Default)]
pub struct UserFlags {
    /// New `is_active`, if any.
    pub is_active: Option<bool>,
    /// New `is_staff`, if any.
    pub is_staff: Option<bool>,
    /// New `is_superuser`, if any.
    pub is_superuser: Option<bool>,
}

impl Store {
    /// Inserts a user (email normalized) and returns it.
    ///
    /// # Errors
    /// [`StoreError::DuplicateEmail`](crate::StoreError::DuplicateEmail) /
    /// [`StoreError::DuplicateUsername`](crate::StoreError::DuplicateUsername) on a unique
    /// violation of that column; the database error otherwise.
    pub async fn create_user(&self, new: &NewUser) -> Result<User> {
        let email = normalize_email(&new.email);
        let username = new.username.as_deref().filter(|u| !u.is_empty());
        sqlx::query_as::<_, User>(concat!(
            "INSERT INTO users (email, username, first_name, last_name, password_hash, \
             is_active, is_staff, is_superuser, date_joined) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ",
            user_columns!()
        ))
        .bind(email)
        .bind(username)
        .bind(&new.first_name)
        .bind(&new.last_name)
        .bind(&new.password_hash)
        .bind(new.is_active)
        .bind(new.is_staff)
        .bind(new.is_superuser)
        .bind(new.date_joined)
        .fetch_one(&self.pool)
        .await
        .map_err(map_user_write_error)
    }

    /// The user with this id.
    ///
    /// # Errors
    /// The database error.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        Ok(sqlx::query_as::<_, User>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The user with this email; the input is normalized first (domain case-insensitive,
    /// local part case-sensitive, as in Django).
    ///
    /// # Errors
    /// The database error.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        Ok(sqlx::query_as::<_, User>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE email = $1"
        ))
        .bind(normalize_email(email))
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The user with exactly this username.
    ///
    /// # Errors
    /// The database error.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        Ok(sqlx::query_as::<_, User>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// All users, ordered by id.
    ///
    /// # Errors
    /// The database error.
    pub async fn list_users(&self) -> Result<Vec<User>> {
        Ok(sqlx::query_as::<_, User>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Replaces the password hash. `false` if there is no such user.
    ///
    /// # Errors
    /// The database error.
    pub async fn set_password_hash(&self, id: i64, hash: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(id)
            .bind(hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Sets the given flags in one statement. `false` if there is no such user.
    ///
    /// # Errors
    /// The database error.
    pub async fn set_user_flags(&self, id: i64, flags: &UserFlags) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE users SET is_active = COALESCE($2, is_active), \
             is_staff = COALESCE($3, is_staff), is_superuser = COALESCE($4, is_superuser) \
             WHERE id = $1",
        )
        .bind(id)
        .bind(flags.is_active)
        .bind(flags.is_staff)
        .bind(flags.is_superuser)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a successful login at `at_micros`. A missing user is not an error.
    ///
    /// # Errors
    /// The database error.
    pub async fn set_last_login(&self, id: i64, at_micros: i64) -> Result<()> {
        sqlx::query("UPDATE users SET last_login = $2 WHERE id = $1")
            .bind(id)
            .bind(at_micros)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes the user and (by `ON DELETE CASCADE`) their sessions. `false` if there is no
    /// such user.
    ///
    /// # Errors
    /// The database error.
    pub async fn delete_user(&self, id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_with_hash(hash: &str) -> User {
        User {
            id: 1,
            email: "a@x.com".into(),
            username: None,
            first_name: String::new(),
            last_name: String::new(),
            is_active: true,
            is_staff: false,
            is_superuser: false,
            date_joined: 0,
            last_login: None,
            password_hash: hash.into(),
        }
    }

    #[test]
    fn usable_password() {
        assert!(user_with_hash("$argon2id$v=19$m=19456,t=2,p=1$abc$def").has_usable_password());
        assert!(!user_with_hash("").has_usable_password());
        assert!(!user_with_hash("!").has_usable_password());
        assert!(!user_with_hash("!randomchars").has_usable_password());
    }

    #[test]
    fn serialization_skips_password_hash() {
        let json = serde_json::to_value(user_with_hash("$argon2id$secret")).unwrap();
        assert!(json.get("password_hash").is_none(), "{json}");
        assert_eq!(json["email"], "a@x.com");
        assert_eq!(json["is_active"], true);
        assert!(!json.to_string().contains("secret"));
    }
}
