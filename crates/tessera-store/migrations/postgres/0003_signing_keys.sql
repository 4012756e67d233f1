-- Signing keys kept in the store (key_source = "store"): one row per key.
-- Times are BIGINT microseconds since the Unix epoch.
--   activates_at NULL: published (in the JWKS, verifying) but not scheduled to sign;
--   retired_at: signing stops then; the key still verifies until every token it signed
--   has expired, and then drops out of the JWKS.
-- private_key holds the PEM private key (or HMAC secret) sealed with AES-256-GCM under the
-- configured key_encryption_key ("aes256gcm:…"), or "plain:…" in development.

CREATE TABLE signing_keys (
    kid          TEXT    COLLATE "C" PRIMARY KEY,
    algorithm    TEXT    NOT NULL,
    private_key  TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    activates_at BIGINT,
    retired_at   BIGINT
);
