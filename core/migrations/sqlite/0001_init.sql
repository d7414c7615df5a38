-- Janus schema, SQLite. Kept in step with ../postgres/0001_init.sql (same tables,
-- columns and meaning). Timestamps are fixed-width UTC text (2030-01-01T00:00:00.000000Z),
-- so text comparison is time comparison. JSON columns hold text.

CREATE TABLE requests (
    id                    TEXT PRIMARY KEY,
    requester             TEXT    NOT NULL,
    origin                TEXT    NOT NULL,
    cluster               TEXT    NOT NULL,
    namespaces            TEXT    NOT NULL,
    profile               TEXT    NOT NULL,
    requested_ttl_seconds BIGINT  NOT NULL,
    ttl_seconds           BIGINT  NOT NULL,
    reason                TEXT    NOT NULL,
    state                 TEXT    NOT NULL,
    credentials           TEXT    NOT NULL,
    approvals             TEXT    NOT NULL,
    deny_reason           TEXT,
    extension             TEXT,
    extensions            BIGINT  NOT NULL,
    created_at            TEXT    NOT NULL,
    decided_at            TEXT,
    activated_at          TEXT,
    expires_at            TEXT,
    ended_at              TEXT,
    end_reason            TEXT,
    version               BIGINT  NOT NULL
);
CREATE INDEX requests_by_state ON requests (state, expires_at);
CREATE INDEX requests_by_requester ON requests (requester, created_at);
CREATE INDEX requests_by_cluster ON requests (cluster, state);

CREATE TABLE audit_events (
    seq         BIGINT PRIMARY KEY,
    at          TEXT   NOT NULL,
    actor       TEXT   NOT NULL,
    action      TEXT   NOT NULL,
    request_id  TEXT,
    cluster     TEXT,
    details     TEXT   NOT NULL,
    prev_hash   TEXT   NOT NULL,
    hash        TEXT   NOT NULL
);
CREATE INDEX audit_by_request ON audit_events (request_id, seq);
CREATE INDEX audit_by_at ON audit_events (at);

-- The chain head: the last sequence number and hash. One row, locked by every append.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT   NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;

-- Agent work: grant and cleanup, per cluster, leased.
CREATE TABLE work (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster       TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    request_id    TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    attempt       BIGINT  NOT NULL,
    available_at  TEXT    NOT NULL,
    lease_until   TEXT,
    lease_token   TEXT,
    last_error    TEXT,
    created_at    TEXT    NOT NULL,
    completed_at  TEXT
);
CREATE INDEX work_by_cluster ON work (cluster, status, id);
CREATE INDEX work_by_request ON work (request_id, id);

-- What each cluster's agent last reported.
CREATE TABLE cluster_namespaces (
    cluster     TEXT PRIMARY KEY,
    namespaces  TEXT NOT NULL,
    reported_at TEXT NOT NULL
);
