-- Account flows by e-mail: password reset, e-mail verification, e-mail change, login by
-- code. Times are INTEGER microseconds since the Unix epoch.
--   users.email_verified: the address was proved (a verification, a reset or a change
--   confirmed by mail). Existing users start unverified.
--   mail_outbox: mails waiting to be sent. A row holds no secret: the sender mints the
--   token or code when it sends. `detail` is a small JSON object; `lease_until` is set
--   while a sender holds the row, so that two servers never send it at once.
--   account_tokens: the tokens and codes those mails carry, only hashed (hex): the
--   token's SHA-256, the code's HMAC (keyed with a server secret) over the row id and the
--   code. `binding` is the SHA-256 of the state the token changes (a reset token dies
--   when the password changes first). Consumption deletes the row; upkeep deletes
--   expired rows.

ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;

CREATE TABLE mail_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    user_id         INTEGER REFERENCES users(id) ON DELETE CASCADE,
    detail          TEXT    NOT NULL DEFAULT '{}',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    created_at      INTEGER NOT NULL,
    last_error      TEXT
);
CREATE INDEX mail_outbox_next_attempt_at ON mail_outbox (next_attempt_at);
CREATE INDEX mail_outbox_user_id ON mail_outbox (user_id);

CREATE TABLE account_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    purpose    TEXT    NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash TEXT    NOT NULL UNIQUE,
    code_hash  TEXT    NOT NULL,
    binding    TEXT    NOT NULL,
    new_email  TEXT,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX account_tokens_user_purpose ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expires_at ON account_tokens (expires_at);
CREATE INDEX account_tokens_new_email ON account_tokens (new_email);
