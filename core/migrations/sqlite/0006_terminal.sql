-- Terminal session recordings (issue 6): one asciicast v2 file per session, bounded in size by
-- the relay (`truncated` when the bound cut it). Kept in step with ../postgres/0006_terminal.sql.
CREATE TABLE terminal_recordings (
    session     TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL,
    cluster     TEXT NOT NULL,
    namespace   TEXT NOT NULL,
    pod         TEXT NOT NULL,
    container   TEXT NOT NULL,
    requester   TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    ended_at    TEXT NOT NULL,
    end_reason  TEXT NOT NULL,
    bytes       INTEGER NOT NULL,
    truncated   BOOLEAN NOT NULL,
    cast_text   TEXT NOT NULL
);
CREATE INDEX terminal_recordings_request ON terminal_recordings (request_id, started_at);
