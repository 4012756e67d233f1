-- no-transaction
-- same-shape: the table is rebuilt with the same columns; every query of the previous
-- build still works, and its writers wait for the rebuild's lock.
--
-- E-mail addresses become optional (username mode): '' means none, and uniqueness applies
-- to non-empty addresses only. SQLite cannot drop a column's UNIQUE constraint, so the
-- table is rebuilt (https://sqlite.org/lang_altertable.html#otheralter). Foreign keys are
-- switched off first — outside any transaction, which is why this migration runs without
-- sqlx's — so that dropping the old table does not cascade to `sessions`; they are
-- switched back on at the end, on this connection. With them off nothing checks the
-- references while the table is rebuilt, so before COMMIT every reference is checked
-- (https://sqlite.org/lang_altertable.html#otheralter, step 10): a violation fails the
-- CHECK below, the migration fails and the rebuild is rolled back.
PRAGMA foreign_keys = OFF;

BEGIN IMMEDIATE;

CREATE TABLE users_0006 (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    email        TEXT    NOT NULL DEFAULT '',
    username     TEXT    UNIQUE,
    first_name   TEXT    NOT NULL DEFAULT '',
    last_name    TEXT    NOT NULL DEFAULT '',
    password_hash TEXT   NOT NULL,
    is_active    INTEGER NOT NULL DEFAULT 1,
    is_staff     INTEGER NOT NULL DEFAULT 0,
    is_superuser INTEGER NOT NULL DEFAULT 0,
    date_joined  INTEGER NOT NULL,
    last_login   INTEGER,
    password_changed_at INTEGER,
    extra        TEXT    NOT NULL DEFAULT '{}'
);

INSERT INTO users_0006 (id, email, username, first_name, last_name, password_hash,
                        is_active, is_staff, is_superuser, date_joined, last_login,
                        password_changed_at, extra)
SELECT id, email, username, first_name, last_name, password_hash,
       is_active, is_staff, is_superuser, date_joined, last_login,
       password_changed_at, extra
FROM users;

-- Keep the id high-water mark: ids of deleted users are never handed out again.
DELETE FROM sqlite_sequence WHERE name = 'users_0006';
UPDATE sqlite_sequence SET name = 'users_0006' WHERE name = 'users';

DROP TABLE users;
ALTER TABLE users_0006 RENAME TO users;

CREATE UNIQUE INDEX users_email_key ON users (email) WHERE email <> '';

CREATE TEMP TABLE foreign_key_check_0006 (
    violations INTEGER NOT NULL
        CONSTRAINT every_reference_still_holds CHECK (violations = 0)
);
INSERT INTO foreign_key_check_0006 SELECT COUNT(*) FROM pragma_foreign_key_check;
DROP TABLE foreign_key_check_0006;

COMMIT;

PRAGMA foreign_keys = ON;
