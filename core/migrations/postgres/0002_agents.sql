-- Agent identity (DESIGN §5.2). Kept in step with ../sqlite/0002_agents.sql.

CREATE TABLE agent_join_tokens (
    token_hash  TEXT PRIMARY KEY,
    cluster     TEXT        NOT NULL,
    created_by  TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ
);

CREATE TABLE agents (
    cluster        TEXT PRIMARY KEY,
    public_key     TEXT        NOT NULL,
    agent_version  TEXT        NOT NULL,
    enrolled_at    TIMESTAMPTZ NOT NULL,
    last_seen_at   TIMESTAMPTZ NOT NULL
);
