-- Single-use tickets that open a WebSocket (`POST /api/auth/ws-ticket/`), kept so that any
-- server sharing the database can redeem a ticket exactly once. Only the SHA-256 of the
-- ticket is stored (hex), never the ticket. A redemption deletes its row in one statement;
-- upkeep deletes the rows that expired unused. Times are INTEGER microseconds since the
-- Unix epoch.

CREATE TABLE ws_tickets (
    hash       TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_id TEXT    REFERENCES sessions(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX ws_tickets_expires_at ON ws_tickets (expires_at);
CREATE INDEX ws_tickets_user_id ON ws_tickets (user_id);
-- Deleting a session (flushexpiredtokens, logout) finds its tickets by this index.
CREATE INDEX ws_tickets_session_id ON ws_tickets (session_id);
