-- API keys (`Authorization: Api-Key <prefix>.<secret>`), in the convention of
-- djangorestframework-api-key. A key is found by its prefix (8 characters, unique); only
-- the HMAC-SHA256 of the whole key is stored (hex), under a server secret, never the key.
-- `scopes` is a JSON array of text (empty: every right of the key's user). A revoked key
-- keeps its row (with `revoked_at`) until upkeep deletes it; `last_used_at` and
-- `last_used_ip` are written at most once a minute per key, whatever the address. Times are INTEGER microseconds since the Unix epoch.

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    prefix       TEXT    NOT NULL UNIQUE,
    hash         TEXT    NOT NULL,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    scopes       TEXT    NOT NULL DEFAULT '[]',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER,
    last_used_ip TEXT
);
CREATE INDEX api_keys_user_id ON api_keys (user_id);
