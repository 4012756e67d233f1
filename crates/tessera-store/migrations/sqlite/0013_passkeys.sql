-- Passkeys (WebAuthn credentials) and the WebAuthn ceremonies waiting for their second
-- half. `credential_id` is the authenticator's credential id (base64url), unique across
-- every user; `passkey` is the credential as webauthn-rs serialises it (public key,
-- signature counter, backup state), JSON. `user_handle` is the random WebAuthn user
-- handle (a UUID) the credential was registered under: a discoverable login names it.
-- A ceremony row keeps the server half of a registration or an authentication between its
-- begin and its finish: found by the SHA-256 of its id (hex), never the id; consumed in
-- one `DELETE … RETURNING`; upkeep deletes the rows that expired unused. Times are
-- INTEGER microseconds since the Unix epoch.

CREATE TABLE passkeys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id TEXT    NOT NULL UNIQUE,
    user_handle   TEXT    NOT NULL,
    passkey       TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX passkeys_user_id ON passkeys (user_id);

CREATE TABLE webauthn_ceremonies (
    hash       TEXT    PRIMARY KEY,
    user_id    INTEGER REFERENCES users(id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);
CREATE INDEX webauthn_ceremonies_user_id ON webauthn_ceremonies (user_id);
