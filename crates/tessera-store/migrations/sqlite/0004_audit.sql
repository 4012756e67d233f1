-- The audit log: one row per security event (logins, refreshes, reuse detection, logouts,
-- password changes, lockouts, staff and key actions). Written in batches by each server's
-- background writer; pruned by time (`audit_retention`).
-- Times are INTEGER microseconds since the Unix epoch.
--   user_id, actor_id: no foreign keys — events outlive the users they name;
--   username: the login name given (at most 254 characters);
--   outcome: 'success' or 'failure';
--   detail: a small JSON object, or NULL. Never a token, password or hash.

CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    event      TEXT    NOT NULL,
    outcome    TEXT    NOT NULL CHECK (outcome IN ('success', 'failure')),
    user_id    INTEGER,
    actor_id   INTEGER,
    username   TEXT,
    ip         TEXT,
    user_agent TEXT,
    session_id TEXT,
    detail     TEXT
);

-- The newest events first, the since/until filters and pruning by time.
CREATE INDEX audit_events_at_idx ON audit_events (at, id);
-- The user, event and address filters, each still newest first.
CREATE INDEX audit_events_user_idx ON audit_events (user_id, at);
CREATE INDEX audit_events_event_idx ON audit_events (event, at);
CREATE INDEX audit_events_ip_idx ON audit_events (ip, at);
