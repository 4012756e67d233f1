//! The store's error type.

/// Errors from the store and the password hasher.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A user with the same (normalized) email already exists.
    #[error("a user with this email already exists")]
    DuplicateEmail,
    /// A user with the same username already exists.
    #[error("a user with this username already exists")]
    DuplicateUsername,
    /// Any other database failure (connection, SQL, decoding, configuration).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the embedded migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Hashing a password failed (or the blocking task running it died).
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

impl StoreError {
    /// Whether the failure is momentary (pool exhausted, database busy or unreachable), so
    /// that the client should retry rather than see a server error.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_),
            ) => true,
            // SQLite: SQLITE_BUSY (5) and SQLITE_LOCKED (6), also as extended codes.
            Self::Database(sqlx::Error::Database(db)) => db
                .code()
                .and_then(|code| code.parse::<i64>().ok())
                .is_some_and(|code| matches!(code & 0xff, 5 | 6)),
            _ => false,
        }
    }
}

/// `Result` with [`StoreError`] as the default error.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Maps a unique violation on `users.email` / `users.username` to the dedicated variants;
/// everything else becomes [`StoreError::Database`].
pub(crate) fn map_user_write_error(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err
        && db.is_unique_violation()
    {
        // SQLite: message "UNIQUE constraint failed: users.email", no constraint name.
        // PostgreSQL: constraint "users_email_key", message mentions it too.
        let constraint = db.constraint().unwrap_or_default();
        let message = db.message();
        let mentions = |col: &str| constraint.contains(col) || message.contains(col);
        if mentions("email") {
            return StoreError::DuplicateEmail;
        }
        if mentions("username") {
            return StoreError::DuplicateUsername;
        }
    }
    StoreError::Database(err)
}
