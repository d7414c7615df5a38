-- Janus schema, PostgreSQL. Kept in step with ../sqlite/0001_init.sql (same tables,
-- columns and meaning). JSON columns hold canonical text so the audit chain hashes the
-- exact stored bytes.

CREATE TABLE requests (
    id                    TEXT PRIMARY KEY,
    requester             TEXT        NOT NULL,
    origin                TEXT        NOT NULL,
    cluster               TEXT        NOT NULL,
    namespaces            TEXT        NOT NULL,
    profile               TEXT        NOT NULL,
    requested_ttl_seconds BIGINT      NOT NULL,
    ttl_seconds           BIGINT      NOT NULL,
    reason                TEXT        NOT NULL,
    state                 TEXT        NOT NULL,
    credentials           TEXT        NOT NULL,
    approvals             TEXT        NOT NULL,
    deny_reason           TEXT,
    extension             TEXT,
    extensions            BIGINT      NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    decided_at            TIMESTAMPTZ,
    activated_at          TIMESTAMPTZ,
    expires_at            TIMESTAMPTZ,
    ended_at              TIMESTAMPTZ,
    end_reason            TEXT,
    version               BIGINT      NOT NULL
);
CREATE INDEX requests_by_state ON requests (state, expires_at);
CREATE INDEX requests_by_requester ON requests (requester, created_at);
CREATE INDEX requests_by_cluster ON requests (cluster, state);

CREATE TABLE audit_events (
    seq         BIGINT PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    actor       TEXT        NOT NULL,
    action      TEXT        NOT NULL,
    request_id  TEXT,
    cluster     TEXT,
    details     TEXT        NOT NULL,
    prev_hash   TEXT        NOT NULL,
    hash        TEXT        NOT NULL
);
CREATE INDEX audit_by_request ON audit_events (request_id, seq);
CREATE INDEX audit_by_at ON audit_events (at);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT   NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE work (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cluster       TEXT        NOT NULL,
    kind          TEXT        NOT NULL,
    request_id    TEXT        NOT NULL,
    status        TEXT        NOT NULL,
    attempt       BIGINT      NOT NULL,
    available_at  TIMESTAMPTZ NOT NULL,
    lease_until   TIMESTAMPTZ,
    lease_token   TEXT,
    last_error    TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    completed_at  TIMESTAMPTZ
);
CREATE INDEX work_by_cluster ON work (cluster, status, id);
CREATE INDEX work_by_request ON work (request_id, id);

CREATE TABLE cluster_namespaces (
    cluster     TEXT PRIMARY KEY,
    namespaces  TEXT        NOT NULL,
    reported_at TIMESTAMPTZ NOT NULL
);
