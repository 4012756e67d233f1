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
    /// A group with the same name already exists.
    #[error("a group with this name already exists")]
    DuplicateGroupName,
    /// No group has this name (a user's groups were being set; nothing changed).
    #[error("no group is named {0:?}")]
    UnknownGroup(String),
    /// A group would hold more than [`MAX_GRANTS`](crate::MAX_GRANTS) permissions (nothing
    /// changed).
    #[error("a group holds at most {} permissions", crate::MAX_GRANTS)]
    TooManyGrants,
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
    /// Whether the failure is momentary — the database is busy, overloaded, restarting or
    /// unreachable, or it aborted the statement to resolve a conflict (serialization
    /// failure, deadlock) — so that the client should retry (503 with `Retry-After`) rather
    /// than see a server error. The store has already retried what was safe to retry.
    pub fn is_transient(&self) -> bool {
        self.failure() != Failure::Permanent
    }

    /// Whether the database refused a value the client sent rather than failed: on
    /// PostgreSQL a NUL or a character the encoding lacks (`22021`, `22P05`, the latter
    /// also for `\u0000` in `jsonb`), a value too long for its column (`22001`), or an
    /// index key over its size limit (`54000`). Input is validated before it reaches the
    /// store, so this is the last line of defence: the request is the client's fault (400),
    /// not the server's, and nothing was written.
    pub fn is_refused_input(&self) -> bool {
        match self {
            Self::Database(sqlx::Error::Database(db)) => db
                .code()
                .is_some_and(|code| matches!(code.as_ref(), "22021" | "22P05" | "22001" | "54000")),
            _ => false,
        }
    }

    /// What kind of failure this is, for retrying.
    pub(crate) fn failure(&self) -> Failure {
        match self {
            Self::Database(error) => classify(error),
            _ => Failure::Permanent,
        }
    }
}

/// How a failed query failed, as far as retrying it is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Not momentary: retrying cannot help.
    Permanent,
    /// The database refused or aborted the statement, so it did not apply; running it
    /// again may well succeed (serialization failure, deadlock, SQLite busy, shutdown).
    Rejected,
    /// The connection broke: whether the statement applied is unknown.
    Broken,
    /// Momentary, but repeating the work at once would only add load (no connection free
    /// in time, statement timeout, too many connections, pool closing).
    Overloaded,
}

fn classify(error: &sqlx::Error) -> Failure {
    match error {
        sqlx::Error::Io(_) => Failure::Broken,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => Failure::Overloaded,
        sqlx::Error::Database(db) => db
            .code()
            .map_or(Failure::Permanent, |code| classify_code(&code)),
        _ => Failure::Permanent,
    }
}

/// A database error code: a PostgreSQL SQLSTATE (five characters) or a SQLite result code
/// (a number, extended codes included, never five digits long).
fn classify_code(code: &str) -> Failure {
    if code.len() == 5 {
        return match code {
            // serialization_failure, deadlock_detected, lock_not_available
            "40001" | "40P01" | "55P03" => Failure::Rejected,
            // admin_shutdown, crash_shutdown, cannot_connect_now
            "57P01" | "57P02" | "57P03" => Failure::Rejected,
            // query_canceled (statement_timeout)
            "57014" => Failure::Overloaded,
            // insufficient_resources: too_many_connections, out of memory, disk full
            _ if code.starts_with("53") => Failure::Overloaded,
            // connection_exception
            _ if code.starts_with("08") => Failure::Broken,
            _ => Failure::Permanent,
        };
    }
    match code.parse::<i64>() {
        // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
        Ok(code) if matches!(code & 0xff, 5 | 6) => Failure::Rejected,
        _ => Failure::Permanent,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_conflicts_and_shutdowns_are_retried() {
        for code in ["40001", "40P01", "55P03", "57P01", "57P02", "57P03"] {
            assert_eq!(classify_code(code), Failure::Rejected, "{code}");
        }
    }

    #[test]
    fn postgres_overload_is_transient_but_not_repeated() {
        for code in ["57014", "53300", "53100", "53200"] {
            assert_eq!(classify_code(code), Failure::Overloaded, "{code}");
        }
        assert_eq!(classify_code("08006"), Failure::Broken);
    }

    #[test]
    fn constraint_and_syntax_errors_are_permanent() {
        for code in ["23505", "23503", "42601", "42P01", "22P02"] {
            assert_eq!(classify_code(code), Failure::Permanent, "{code}");
        }
        // SQLite: constraint (19, 2067 unique, 787 foreign key), generic error (1).
        for code in ["19", "2067", "787", "1"] {
            assert_eq!(classify_code(code), Failure::Permanent, "{code}");
        }
    }

    #[test]
    fn sqlite_busy_and_locked_are_retried() {
        // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED_SHAREDCACHE
        for code in ["5", "6", "517", "262"] {
            assert_eq!(classify_code(code), Failure::Rejected, "{code}");
        }
    }

    #[test]
    fn transport_failures() {
        let reset =
            StoreError::Database(sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()));
        assert_eq!(reset.failure(), Failure::Broken);
        assert!(reset.is_transient());
        let exhausted = StoreError::Database(sqlx::Error::PoolTimedOut);
        assert_eq!(exhausted.failure(), Failure::Overloaded);
        assert!(exhausted.is_transient());
        assert!(!StoreError::Database(sqlx::Error::RowNotFound).is_transient());
        assert!(!StoreError::DuplicateEmail.is_transient());
        assert!(!StoreError::Hashing("x".into()).is_transient());
    }
}
