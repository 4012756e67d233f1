-- Tessera initial schema (SQLite).
-- Times are INTEGER microseconds since the Unix epoch, except token times
-- (sessions.current_iat, sessions.expires_at) which are whole seconds like JWT claims.

CREATE TABLE users (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    email        TEXT    NOT NULL UNIQUE,
    username     TEXT    UNIQUE,
    first_name   TEXT    NOT NULL DEFAULT '',
    last_name    TEXT    NOT NULL DEFAULT '',
    password_hash TEXT   NOT NULL,
    is_active    INTEGER NOT NULL DEFAULT 1,
    is_staff     INTEGER NOT NULL DEFAULT 0,
    is_superuser INTEGER NOT NULL DEFAULT 0,
    date_joined  INTEGER NOT NULL,
    last_login   INTEGER
);

CREATE TABLE sessions (
    id               TEXT    PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind             TEXT    NOT NULL CHECK (kind IN ('refresh', 'sliding')),
    current_jti      TEXT    NOT NULL,
    current_iat      INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    previous_jti     TEXT,
    rotated_at       INTEGER,
    rotation_counter INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    last_used_at     INTEGER NOT NULL,
    revoked_at       INTEGER,
    revoked_reason   TEXT,
    user_agent       TEXT,
    ip               TEXT
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
