-- The change log (mirrors migrations/postgres/0015_change_log.sql): one row, numbered by
-- `seq`, for every change that may end what a token or a cached user record vouches for,
-- written by triggers so that every writer (servers, the CLI, an import, raw SQL) feeds
-- it. Servers read it after the last `seq` they applied. `seq` is never reused
-- (AUTOINCREMENT), so a number missing below the newest is a row pruned, never one to come.
-- `at` is microseconds since the Unix epoch by the database's clock, in whole milliseconds.
-- A later migration that rebuilds `users`, `sessions` or `api_keys` (copy, drop, rename)
-- drops their triggers with the table: it must create them again.
--
-- * kind 'user': a user inserted, updated or deleted (`user_id`).
-- * kind 'session': a session revoked (`reason` = its `revoked_reason`), or deleted while
--   not revoked (`reason` = 'deleted'); a rotation, touch or slide writes nothing.
-- * kind 'api_key': a key's `revoked_at` or `expires_at` changed, or the key deleted
--   (`user_id` is the key's user, `api_key_prefix` its prefix); a recorded use writes nothing.

CREATE TABLE change_log (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    at             INTEGER NOT NULL
                   DEFAULT (CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER) * 1000),
    kind           TEXT    NOT NULL CHECK (kind IN ('user', 'session', 'api_key')),
    user_id        INTEGER NOT NULL,
    session_id     TEXT,
    reason         TEXT,
    api_key_prefix TEXT
);
CREATE INDEX change_log_at ON change_log (at);

CREATE TRIGGER change_log_user_insert AFTER INSERT ON users
BEGIN
    INSERT INTO change_log (kind, user_id) VALUES ('user', NEW.id);
END;

CREATE TRIGGER change_log_user_update AFTER UPDATE ON users
BEGIN
    INSERT INTO change_log (kind, user_id) VALUES ('user', NEW.id);
    -- An id changed by hand: the old one is gone too.
    INSERT INTO change_log (kind, user_id) SELECT 'user', OLD.id WHERE OLD.id <> NEW.id;
END;

CREATE TRIGGER change_log_user_delete AFTER DELETE ON users
BEGIN
    INSERT INTO change_log (kind, user_id) VALUES ('user', OLD.id);
END;

CREATE TRIGGER change_log_session_revoke AFTER UPDATE OF revoked_at ON sessions
WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
BEGIN
    INSERT INTO change_log (kind, user_id, session_id, reason)
    VALUES ('session', NEW.user_id, NEW.id, NEW.revoked_reason);
END;

CREATE TRIGGER change_log_session_delete AFTER DELETE ON sessions
WHEN OLD.revoked_at IS NULL
BEGIN
    INSERT INTO change_log (kind, user_id, session_id, reason)
    VALUES ('session', OLD.user_id, OLD.id, 'deleted');
END;

CREATE TRIGGER change_log_api_key_update AFTER UPDATE OF revoked_at, expires_at ON api_keys
WHEN OLD.revoked_at IS NOT NEW.revoked_at OR OLD.expires_at IS NOT NEW.expires_at
BEGIN
    INSERT INTO change_log (kind, user_id, api_key_prefix)
    VALUES ('api_key', NEW.user_id, NEW.prefix);
END;

CREATE TRIGGER change_log_api_key_delete AFTER DELETE ON api_keys
BEGIN
    INSERT INTO change_log (kind, user_id, api_key_prefix)
    VALUES ('api_key', OLD.user_id, OLD.prefix);
END;
