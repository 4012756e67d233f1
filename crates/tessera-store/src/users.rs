//! Users.

use serde::Serialize;

use tessera_core::Timestamp;

use crate::Store;
use crate::django::BLACKLIST_USER_FOREIGN;
use crate::email::normalize_email;
use crate::engine::Retry;
use crate::error::{Result, map_user_write_error};
use crate::sessions::{REVOKE_USER_SESSIONS, RevokeReason};

/// Every column of `users`, in a fixed order.
macro_rules! user_columns {
    () => {
        "id, email, username, first_name, last_name, password_hash, \
         is_active, is_staff, is_superuser, date_joined, last_login, password_changed_at, extra, \
         email_verified"
    };
}

/// The columns of `users` qualified as `u.` (for joins).
macro_rules! user_columns_u {
    () => {
        "u.id, u.email, u.username, u.first_name, u.last_name, u.password_hash, \
         u.is_active, u.is_staff, u.is_superuser, u.date_joined, u.last_login, \
         u.password_changed_at, u.extra, u.email_verified"
    };
}

/// Values of the custom user fields, by field name.
pub type Extra = serde_json::Map<String, serde_json::Value>;

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct User {
    /// Primary key.
    pub id: i64,
    /// Normalized email (domain lower-cased); `""` when the user has none (username
    /// mode), otherwise unique.
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
    /// When the account was created.
    pub date_joined: Timestamp,
    /// Last successful login.
    pub last_login: Option<Timestamp>,
    /// Last password change (or "log out everywhere").
    pub password_changed_at: Option<Timestamp>,
    /// Values of the custom user fields declared in the configuration.
    #[sqlx(json)]
    pub extra: Extra,
    /// Whether the e-mail address was proved: a verification mail's link or code, a
    /// password reset or an address change confirmed by mail.
    pub email_verified: bool,
    /// PHC string; `""` or a value starting with `'!'` means "unusable password".
    #[serde(skip)]
    pub password_hash: String,
}

impl User {
    /// `true` unless the hash is empty or starts with `'!'` (Django's unusable password).
    pub fn has_usable_password(&self) -> bool {
        password_hash_is_usable(&self.password_hash)
    }
}

/// Whether a stored password hash can match a password: not empty, not Django's unusable
/// `!…`.
pub(crate) fn password_hash_is_usable(hash: &str) -> bool {
    !hash.is_empty() && !hash.starts_with('!')
}

/// Data for [`Store::create_user`].
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    /// Email; normalized by [`Store::create_user`]; `""` for none (several users may
    /// have none).
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
    /// Creation time.
    pub date_joined: Timestamp,
    /// Values of custom user fields.
    pub extra: Extra,
}

/// Changes for [`Store::update_user`]; `None` leaves a value as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    /// New e-mail address (normalized on write); `Some("")` removes it.
    pub email: Option<String>,
    /// New username (`Some("")` is refused by the callers' rules; it is stored as given).
    pub username: Option<String>,
    /// New first name.
    pub first_name: Option<String>,
    /// New last name.
    pub last_name: Option<String>,
    /// Custom field values to set (merged into the stored ones).
    pub extra: Extra,
    /// Whether the address counts as verified. `None` keeps the flag, unless `email`
    /// changes the address: then it is cleared (the new address is not proved).
    pub email_verified: Option<bool>,
}

/// A user together with the state of one of their sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAndSession {
    /// The user.
    pub user: User,
    /// The session, when it exists and belongs to the user.
    pub session: Option<SessionState>,
}

/// Whether a session still stands, as authentication needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionState {
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
    /// Why it was revoked.
    pub revoked_reason: Option<RevokeReason>,
}

#[derive(sqlx::FromRow)]
struct UserSessionRow {
    #[sqlx(flatten)]
    user: User,
    s_found: bool,
    s_revoked_at: Option<Timestamp>,
    s_revoked_reason: Option<RevokeReason>,
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

/// Sets the flags given (`$2` active, `$3` staff, `$4` superuser; `NULL` keeps one).
pub(crate) const SET_USER_FLAGS: &str = "UPDATE users SET is_active = COALESCE($2, is_active), \
     is_staff = COALESCE($3, is_staff), is_superuser = COALESCE($4, is_superuser) WHERE id = $1";

/// The profile change of [`Store::update_user`]: `$2` e-mail address, `$3` first name, `$4`
/// last name, `$5` the merged custom fields, `$6` username, `$7` `email_verified` (`NULL`
/// keeps a value; a new address clears `email_verified` unless `$7` sets it).
pub(crate) const UPDATE_PROFILE: &str = concat!(
    "UPDATE users SET email = COALESCE($2, email), first_name = COALESCE($3, first_name), \
     last_name = COALESCE($4, last_name), extra = $5, username = COALESCE($6, username), \
     email_verified = COALESCE($7, CASE WHEN $2 IS NULL OR $2 = email \
     THEN email_verified ELSE FALSE END) \
     WHERE id = $1 RETURNING ",
    user_columns!()
);

/// The user by primary key (refresh's owner check).
pub(crate) const USER_BY_ID: &str =
    concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");

/// The user by e-mail (login; the unique index on the non-empty `email`s, which the
/// `email <> ''` term lets the planner use — and no address is the empty one).
pub(crate) const USER_BY_EMAIL: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE email = $1 AND email <> ''"
);

/// An authenticated request: the user and the state of the token's session, one round
/// trip, two primary-key lookups. The session is looked up by its id alone (`LIMIT 1`
/// keeps PostgreSQL from merging the subquery into the join and searching the user's
/// sessions by `user_id` instead, which costs as much as the user has sessions).
pub(crate) const USER_WITH_SESSION: &str = concat!(
    "SELECT ",
    user_columns_u!(),
    ", s.user_id IS NOT NULL AS s_found, s.revoked_at AS s_revoked_at, \
     s.revoked_reason AS s_revoked_reason \
     FROM users u LEFT JOIN \
     (SELECT user_id, revoked_at, revoked_reason FROM sessions WHERE id = $2 LIMIT 1) s \
     ON s.user_id = u.id WHERE u.id = $1"
);

/// The admin search's filter: `$1` is `NULL` (everyone) or a lower-case `LIKE` pattern.
macro_rules! search_filter {
    () => {
        "($1 IS NULL OR LOWER(email) LIKE $1 ESCAPE '\\' OR LOWER(first_name) LIKE $1 ESCAPE '\\' \
         OR LOWER(last_name) LIKE $1 ESCAPE '\\' OR LOWER(COALESCE(username, '')) LIKE $1 ESCAPE '\\')"
    };
}

/// The admin list's flag filters: `$2` `is_active`, `$3` `is_staff`, `$4` `email_verified`,
/// each `NULL` (either) or the value a user must have.
macro_rules! flag_filter {
    () => {
        " AND ($2 IS NULL OR is_active = $2) AND ($3 IS NULL OR is_staff = $3) \
         AND ($4 IS NULL OR email_verified = $4)"
    };
}

/// What the admin list of users is narrowed to; `None` (the default) keeps everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// Text the e-mail address, username, first or last name contains (any case).
    pub search: Option<String>,
    /// Only active (`true`) or only inactive (`false`) users.
    pub is_active: Option<bool>,
    /// Only staff (`true`) or only non-staff (`false`) users.
    pub is_staff: Option<bool>,
    /// Only users whose address is (`true`) or is not (`false`) verified.
    pub email_verified: Option<bool>,
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
        let created = db!(write self, Retry::NotApplied, |pool| {
            sqlx::query_as::<_, User>(concat!(
                "INSERT INTO users (email, username, first_name, last_name, password_hash, \
                 is_active, is_staff, is_superuser, date_joined, extra) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ",
                user_columns!()
            ))
            .bind(&email)
            .bind(username)
            .bind(&new.first_name)
            .bind(&new.last_name)
            .bind(&new.password_hash)
            .bind(new.is_active)
            .bind(new.is_staff)
            .bind(new.is_superuser)
            .bind(new.date_joined)
            .bind(sqlx::types::Json(&new.extra))
            .fetch_one(pool)
            .await
            .map_err(map_user_write_error)
        });
        self.counted(created)
    }

    /// The user with this id.
    ///
    /// # Errors
    /// The database error.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        fetch!(self, fetch_optional, User, USER_BY_ID, id)
    }

    /// The user with this email; the input is normalized first (domain case-insensitive,
    /// local part case-sensitive, as in Django).
    ///
    /// # Errors
    /// The database error.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        fetch!(
            self,
            fetch_optional,
            User,
            USER_BY_EMAIL,
            normalize_email(email)
        )
    }

    /// The user with exactly this username.
    ///
    /// # Errors
    /// The database error.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let sql = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username = $1"
        );
        fetch!(self, fetch_optional, User, sql, username)
    }

    /// All users, ordered by id.
    ///
    /// # Errors
    /// The database error.
    pub async fn list_users(&self) -> Result<Vec<User>> {
        let sql = concat!("SELECT ", user_columns!(), " FROM users ORDER BY id");
        fetch!(self, fetch_all, User, sql)
    }

    /// Replaces the password hash. `false` if there is no such user.
    ///
    /// # Errors
    /// The database error.
    pub async fn set_password_hash(&self, id: i64, hash: &str) -> Result<bool> {
        let sql = "UPDATE users SET password_hash = $2 WHERE id = $1";
        Ok(self.counted(changed_rows!(self, sql, id, hash))? > 0)
    }

    /// Replaces the password hash `old` by `new` — the same password hashed again in the
    /// current format, after a login matched an older one — in one conditional statement:
    /// only while the stored hash is still `old`, so that a password changed meanwhile is
    /// never overwritten. Leaves `password_changed_at` (and so every session and token of
    /// the user) as it is. `false` when nothing changed: no such user, or another hash.
    ///
    /// # Errors
    /// The database error.
    pub async fn upgrade_password_hash(&self, id: i64, old: &str, new: &str) -> Result<bool> {
        let sql = "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2";
        Ok(self.counted(changed_rows!(self, sql, id, old, new))? > 0)
    }

    /// Sets the given flags in one statement. `false` if there is no such user.
    ///
    /// # Errors
    /// The database error.
    pub async fn set_user_flags(&self, id: i64, flags: &UserFlags) -> Result<bool> {
        let (active, staff, superuser) = (flags.is_active, flags.is_staff, flags.is_superuser);
        let changed = changed_rows!(self, SET_USER_FLAGS, id, active, staff, superuser);
        Ok(self.counted(changed)? > 0)
    }

    /// Records a successful login at `at`. A missing user is not an error.
    ///
    /// # Errors
    /// The database error.
    pub async fn set_last_login(&self, id: i64, at: Timestamp) -> Result<()> {
        self.counted(changed_rows!(
            self,
            "UPDATE users SET last_login = $2 WHERE id = $1",
            id,
            at
        ))?;
        Ok(())
    }

    /// The user with this id and, in the same round trip, the state of session `sid` if it
    /// is theirs (what authenticating a request with a session-bound token needs).
    ///
    /// # Errors
    /// The database error.
    pub async fn user_with_session(&self, id: i64, sid: &str) -> Result<Option<UserAndSession>> {
        let row = fetch!(
            self,
            fetch_optional,
            UserSessionRow,
            USER_WITH_SESSION,
            id,
            sid
        )?;
        Ok(row.map(|row| UserAndSession {
            session: row.s_found.then_some(SessionState {
                revoked_at: row.s_revoked_at,
                revoked_reason: row.s_revoked_reason,
            }),
            user: row.user,
        }))
    }

    /// Changes profile fields in one transaction (the custom fields are merged into the
    /// stored ones, the row locked meanwhile); returns the updated user, `None` if there is
    /// no such user.
    ///
    /// A new address (one that differs from the stored one) is not proved: the same
    /// statement clears `email_verified` unless the update sets it, and every account token
    /// of the user goes (each was bound to the old address, or mailed to it).
    ///
    /// # Errors
    /// [`StoreError::DuplicateEmail`](crate::StoreError::DuplicateEmail) when the new e-mail
    /// belongs to someone else, [`StoreError::DuplicateUsername`](crate::StoreError::DuplicateUsername)
    /// when the new username does; the database error otherwise.
    pub async fn update_user(&self, id: i64, update: &UserUpdate) -> Result<Option<User>> {
        let grants = crate::GrantsUpdate::default();
        self.update_user_and_grants(id, &UserFlags::default(), update, &grants)
            .await
    }

    /// Sets a new password hash, records the change time, and revokes every live session of
    /// the user with `reason` — all in one transaction. Returns the number of sessions
    /// revoked, `None` if there is no such user.
    ///
    /// # Errors
    /// The database error.
    pub async fn change_password(
        &self,
        id: i64,
        hash: &str,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<Option<u64>> {
        self.end_every_session(id, Some(hash), reason, now).await
    }

    /// "Log out everywhere": records the time (tokens issued before it are refused) and
    /// revokes every live session, in one transaction. Returns the sessions revoked.
    ///
    /// # Errors
    /// The database error.
    pub async fn log_out_everywhere(
        &self,
        id: i64,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<u64> {
        Ok(self
            .end_every_session(id, None, reason, now)
            .await?
            .unwrap_or(0))
    }

    /// Records `now` as the user's password-change time (and sets `hash` when given),
    /// revokes every live session of theirs and blacklists every token of theirs imported
    /// from Django, in one transaction. `None` without such a user.
    async fn end_every_session(
        &self,
        id: i64,
        hash: Option<&str>,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<Option<u64>> {
        let ended = db!(write self, Retry::Idempotent, |pool, engine| async {
            let mut tx = pool.begin_with(engine.begin_write()).await?;
            let done = sqlx::query(
                "UPDATE users SET password_hash = COALESCE($2, password_hash), \
                 password_changed_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(None);
            }
            let revoked = sqlx::query(REVOKE_USER_SESSIONS)
                .bind(id)
                .bind(now)
                .bind(reason.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query(BLACKLIST_USER_FOREIGN)
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Some(revoked.rows_affected()))
        }
        .await);
        self.counted(ended)
    }

    /// One page of users, ordered by id, with the total count. `search` matches e-mail,
    /// username, first or last name, case-insensitively, anywhere in the text.
    ///
    /// # Errors
    /// The database error.
    pub async fn search_users(
        &self,
        search: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<User>)> {
        let filter = UserFilter {
            search: search.map(str::to_owned),
            ..UserFilter::default()
        };
        self.filter_users(&filter, limit, offset).await
    }

    /// One page of the users `filter` keeps, ordered by id, with how many it keeps in all:
    /// [`search_users`](Self::search_users) narrowed by the flags too.
    ///
    /// # Errors
    /// The database error.
    pub async fn filter_users(
        &self,
        filter: &UserFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<User>)> {
        let pattern = filter
            .search
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| format!("%{}%", escape_like(&s.to_lowercase())));
        let pattern = pattern.as_deref();
        let (active, staff, verified) = (filter.is_active, filter.is_staff, filter.email_verified);
        let count = concat!(
            "SELECT COUNT(*) FROM users WHERE ",
            search_filter!(),
            flag_filter!()
        );
        let (count,) = fetch!(
            self,
            fetch_one,
            (i64,),
            count,
            pattern,
            active,
            staff,
            verified
        )?;
        let page = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE ",
            search_filter!(),
            flag_filter!(),
            " ORDER BY id LIMIT $5 OFFSET $6"
        );
        let users = fetch!(
            self, fetch_all, User, page, pattern, active, staff, verified, limit, offset
        )?;
        Ok((count, users))
    }

    /// Deletes the user and (by `ON DELETE CASCADE`) their sessions. `false` if there is no
    /// such user.
    ///
    /// # Errors
    /// The database error.
    pub async fn delete_user(&self, id: i64) -> Result<bool> {
        let deleted = changed_rows!(self, "DELETE FROM users WHERE id = $1", id);
        Ok(self.counted(deleted)? > 0)
    }
}

/// Escapes LIKE's wildcards so user input matches literally (with `ESCAPE '\'`).
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
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
            date_joined: Timestamp::UNIX_EPOCH,
            last_login: None,
            password_changed_at: None,
            email_verified: false,
            extra: Extra::new(),
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
