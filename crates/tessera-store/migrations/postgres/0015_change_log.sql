-- The change log (mirrors migrations/sqlite/0015_change_log.sql): one row, numbered by
-- `seq`, for every change that may end what a token or a cached user record vouches for,
-- written by triggers so that every writer (servers, the CLI, an import, raw SQL) feeds
-- it. Servers read it after the last `seq` they applied. Each row also notifies channel
-- `tessera_changes` with its `seq` as payload; PostgreSQL delivers the notification when
-- the transaction commits, and never for one rolled back.
-- `seq` comes from a sequence: a transaction still open leaves its number missing (a hole)
-- below rows committed after it, until it commits (or forever, rolled back).
-- `at` is microseconds since the Unix epoch by the database's clock (`clock_timestamp()`).
-- A later migration that replaces `users`, `sessions` or `api_keys` by a new table must
-- create their triggers again.
--
-- * kind 'user': a user inserted, updated or deleted (`user_id`).
-- * kind 'session': a session revoked (`reason` = its `revoked_reason`), or deleted while
--   not revoked (`reason` = 'deleted'); a rotation, touch or slide writes nothing.
-- * kind 'api_key': a key's `revoked_at` or `expires_at` changed, or the key deleted
--   (`user_id` is the key's user, `api_key_prefix` its prefix); a recorded use writes nothing.

CREATE TABLE change_log (
    seq            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             BIGINT  NOT NULL
                   DEFAULT (CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)),
    kind           TEXT    NOT NULL CHECK (kind IN ('user', 'session', 'api_key')),
    user_id        BIGINT  NOT NULL,
    session_id     TEXT    COLLATE "C",
    reason         TEXT,
    api_key_prefix TEXT    COLLATE "C"
);
CREATE INDEX change_log_at ON change_log (at);

CREATE FUNCTION change_log_user() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    logged BIGINT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO change_log (kind, user_id) VALUES ('user', OLD.id) RETURNING seq INTO logged;
        PERFORM pg_notify('tessera_changes', logged::text);
        RETURN NULL;
    END IF;
    INSERT INTO change_log (kind, user_id) VALUES ('user', NEW.id) RETURNING seq INTO logged;
    PERFORM pg_notify('tessera_changes', logged::text);
    -- An id changed by hand: the old one is gone too.
    IF TG_OP = 'UPDATE' AND OLD.id <> NEW.id THEN
        INSERT INTO change_log (kind, user_id) VALUES ('user', OLD.id) RETURNING seq INTO logged;
        PERFORM pg_notify('tessera_changes', logged::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION change_log_session() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    logged BIGINT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO change_log (kind, user_id, session_id, reason)
        VALUES ('session', OLD.user_id, OLD.id, 'deleted') RETURNING seq INTO logged;
    ELSE
        INSERT INTO change_log (kind, user_id, session_id, reason)
        VALUES ('session', NEW.user_id, NEW.id, NEW.revoked_reason) RETURNING seq INTO logged;
    END IF;
    PERFORM pg_notify('tessera_changes', logged::text);
    RETURN NULL;
END
$$;

CREATE FUNCTION change_log_api_key() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    logged BIGINT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO change_log (kind, user_id, api_key_prefix)
        VALUES ('api_key', OLD.user_id, OLD.prefix) RETURNING seq INTO logged;
    ELSE
        INSERT INTO change_log (kind, user_id, api_key_prefix)
        VALUES ('api_key', NEW.user_id, NEW.prefix) RETURNING seq INTO logged;
    END IF;
    PERFORM pg_notify('tessera_changes', logged::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER change_log_user_insert AFTER INSERT ON users
FOR EACH ROW EXECUTE FUNCTION change_log_user();

CREATE TRIGGER change_log_user_update AFTER UPDATE ON users
FOR EACH ROW EXECUTE FUNCTION change_log_user();

CREATE TRIGGER change_log_user_delete AFTER DELETE ON users
FOR EACH ROW EXECUTE FUNCTION change_log_user();

CREATE TRIGGER change_log_session_revoke AFTER UPDATE OF revoked_at ON sessions
FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
EXECUTE FUNCTION change_log_session();

CREATE TRIGGER change_log_session_delete AFTER DELETE ON sessions
FOR EACH ROW WHEN (OLD.revoked_at IS NULL)
EXECUTE FUNCTION change_log_session();

CREATE TRIGGER change_log_api_key_update AFTER UPDATE OF revoked_at, expires_at ON api_keys
FOR EACH ROW WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
                   OR OLD.expires_at IS DISTINCT FROM NEW.expires_at)
EXECUTE FUNCTION change_log_api_key();

CREATE TRIGGER change_log_api_key_delete AFTER DELETE ON api_keys
FOR EACH ROW EXECUTE FUNCTION change_log_api_key();
