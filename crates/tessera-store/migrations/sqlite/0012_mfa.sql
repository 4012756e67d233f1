-- Multi-factor authentication: one TOTP device per user, its recovery codes, and the
-- pending second-factor steps of logins. The TOTP secret is sealed with the
-- key-encryption key (`aes256gcm:…`, bound to `totp:<user_id>`), or `plain:…` without one
-- (development only). `last_step` is the last accepted RFC 6238 time step: a code of that
-- step or an earlier one is never accepted again. Recovery codes and challenge tokens are
-- stored only as hashes. A challenge is consumed by one conditional `DELETE … RETURNING`;
-- upkeep deletes the ones that expired. Times are INTEGER microseconds since the Unix epoch.

CREATE TABLE mfa_totp (
    user_id      INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    confirmed_at INTEGER,
    last_step    INTEGER
);

CREATE TABLE mfa_recovery_codes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash  TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE UNIQUE INDEX mfa_recovery_codes_user_hash ON mfa_recovery_codes (user_id, code_hash);

CREATE TABLE mfa_challenges (
    token_hash TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    route      TEXT    NOT NULL,
    purpose    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);
CREATE INDEX mfa_challenges_user_id ON mfa_challenges (user_id);
