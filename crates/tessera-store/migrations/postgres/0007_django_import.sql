-- Imports from a Django project (`tessera import django`) and the simplejwt cut-over.
-- Table names stay clear of Django's (auth_*, django_*, token_blacklist_*), so both services
-- can share one database. Times are BIGINT microseconds since the Unix epoch.
--
--   imported_users: one row per user taken from Django — digests (SHA-256, hex) of the
--   Django row's profile fields and of its password value as last imported, so that a
--   re-run updates a user only when Django's row changed, and takes Django's password again
--   only when Django's changed and Tessera's is still the one the import wrote (never over
--   a password changed or upgraded in Tessera). `merged`: the user was an account Tessera
--   already had, linked by `--merge-existing` (its staff flags are never taken from Django).
--   foreign_refresh_tokens: simplejwt refresh tokens (`token_blacklist_outstandingtoken`)
--   by jti — never the token itself — that a refresh may adopt once into a session.

CREATE TABLE imported_users (
    user_id         BIGINT  PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    row_digest      TEXT    NOT NULL,
    password_digest TEXT    NOT NULL,
    merged          BOOLEAN NOT NULL DEFAULT FALSE,
    imported_at     BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);

CREATE TABLE foreign_refresh_tokens (
    jti            TEXT    COLLATE "C" PRIMARY KEY,
    user_id        BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at     BIGINT  NOT NULL,
    blacklisted_at BIGINT,
    adopted_at     BIGINT,
    session_id     TEXT COLLATE "C",
    imported_at    BIGINT  NOT NULL
);

CREATE INDEX foreign_refresh_tokens_user_id_idx ON foreign_refresh_tokens (user_id);
CREATE INDEX foreign_refresh_tokens_expires_at_idx ON foreign_refresh_tokens (expires_at);
