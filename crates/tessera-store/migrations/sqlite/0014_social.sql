-- Social login (OpenID Connect providers and GitHub). Times are INTEGER microseconds since
-- the Unix epoch.
--   social_identities: a provider's account (`provider`, `subject`) linked to a user; the
--   address the provider gave when it was linked. A user may have several; a provider's
--   account belongs to one user at most.
--   social_states: the authorization requests under way, by the SHA-256 (hex) of their
--   `state`: the provider, the SHA-256 of the browser-binding cookie (from which, with the
--   state, the PKCE verifier is derived: no secret is stored), the ID token's nonce, the
--   mode (`token`, `cookie`, `connect`), to connect, the user, and the SHA-256 of the
--   client that started it (a per-client cap on requests under way). Used once (a `DELETE
--   … RETURNING`); upkeep deletes expired rows.
--   social_tickets: single-use codes and tickets, by their SHA-256 (hex): `login` (the
--   one-time code a single-page application exchanges for tokens), `link` (a code whose
--   exchange answers `link_required`), `link_ticket` (the ticket that links an identity to
--   the signed-in user it names). A `link` or `link_ticket` keeps the SHA-256 of the
--   browser-binding value of the login that made it: only that browser links.

CREATE TABLE social_identities (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider   TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    email      TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    last_login INTEGER,
    UNIQUE (provider, subject)
);
CREATE INDEX social_identities_user_id ON social_identities (user_id);

CREATE TABLE social_states (
    hash         TEXT    PRIMARY KEY,
    provider     TEXT    NOT NULL,
    binding_hash TEXT    NOT NULL,
    nonce        TEXT    NOT NULL,
    mode         TEXT    NOT NULL,
    client_hash  TEXT    NOT NULL DEFAULT '',
    user_id      INTEGER REFERENCES users(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX social_states_expires_at ON social_states (expires_at);
CREATE INDEX social_states_client ON social_states (client_hash, expires_at);

CREATE TABLE social_tickets (
    hash       TEXT    PRIMARY KEY,
    purpose    TEXT    NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider   TEXT    NOT NULL DEFAULT '',
    subject    TEXT    NOT NULL DEFAULT '',
    email      TEXT    NOT NULL DEFAULT '',
    binding_hash TEXT  NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX social_tickets_expires_at ON social_tickets (expires_at);
CREATE INDEX social_tickets_user_id ON social_tickets (user_id);
