-- Throttle counters and login lockouts shared by every server on this database
-- (throttle_storage = "database"). Times are BIGINT microseconds since the Unix epoch.
--   throttle_hits: one row per request a throttle let through (DRF's history list, one
--   entry a row); rows older than the longest window are pruned.
--   login_failures: consecutive failed logins of one login name and the lock they set.

CREATE TABLE throttle_hits (
    key TEXT   COLLATE "C" NOT NULL,
    at  BIGINT NOT NULL
);
CREATE INDEX throttle_hits_key_at ON throttle_hits (key, at);
CREATE INDEX throttle_hits_at ON throttle_hits (at);

CREATE TABLE login_failures (
    name         TEXT    COLLATE "C" PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);
CREATE INDEX login_failures_updated_at ON login_failures (updated_at);
