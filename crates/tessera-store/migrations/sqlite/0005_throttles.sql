-- Throttle counters and login lockouts shared by every server on this database
-- (throttle_storage = "database"). Times are INTEGER microseconds since the Unix epoch.
--   throttle_hits: one row per request a throttle let through (DRF's history list, one
--   entry a row); rows older than the longest window are pruned.
--   login_failures: consecutive failed logins of one login name and the lock they set.

CREATE TABLE throttle_hits (
    key TEXT    NOT NULL,
    at  INTEGER NOT NULL
);
CREATE INDEX throttle_hits_key_at ON throttle_hits (key, at);
CREATE INDEX throttle_hits_at ON throttle_hits (at);

CREATE TABLE login_failures (
    name         TEXT    PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX login_failures_updated_at ON login_failures (updated_at);
