-- The notification outbox (DESIGN §7). Kept in step with ../sqlite/0003_outbox.sql.

-- Chat messages a change implies, written in the transaction of the change and delivered
-- by the outbox worker with retries. Rows of one (channel, request) are delivered in id order.
CREATE TABLE outbox (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel       TEXT        NOT NULL,
    request_id    TEXT        NOT NULL,
    kind          TEXT        NOT NULL,
    event         TEXT        NOT NULL,
    -- Distinguishes repeatable notices (the expiry warning carries the extension count).
    detail        TEXT        NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    available_at  TIMESTAMPTZ NOT NULL,
    attempts      BIGINT      NOT NULL DEFAULT 0,
    lease_until   TIMESTAMPTZ,
    delivered_at  TIMESTAMPTZ,
    failed_at     TIMESTAMPTZ,
    last_error    TEXT
);
CREATE INDEX outbox_open ON outbox (channel, request_id, id) WHERE delivered_at IS NULL AND failed_at IS NULL;

-- Where each request's card lives on each channel (conversation id and message id), so
-- later changes update it in place and replies go to its thread.
CREATE TABLE chat_messages (
    request_id    TEXT        NOT NULL,
    channel       TEXT        NOT NULL,
    conversation  TEXT        NOT NULL,
    message       TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (request_id, channel)
);

-- Chat accounts seen acting as a principal (Slack user id → email from users.info), so
-- direct messages reach the requester whichever channel the request came from.
CREATE TABLE chat_identities (
    channel      TEXT        NOT NULL,
    external_id  TEXT        NOT NULL,
    principal    TEXT        NOT NULL,
    seen_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (channel, external_id)
);
CREATE INDEX chat_identities_principal ON chat_identities (channel, principal, seen_at);
