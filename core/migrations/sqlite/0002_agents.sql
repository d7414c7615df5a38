-- Agent identity (DESIGN §5.2). Kept in step with ../postgres/0002_agents.sql.

-- One-time join tokens for enrollment; only a SHA-256 of the token is stored.
CREATE TABLE agent_join_tokens (
    token_hash  TEXT PRIMARY KEY,
    cluster     TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);

-- The pinned Ed25519 public key of each cluster's agent, and when it was last heard from.
CREATE TABLE agents (
    cluster        TEXT PRIMARY KEY,
    public_key     TEXT NOT NULL,
    agent_version  TEXT NOT NULL,
    enrolled_at    TEXT NOT NULL,
    last_seen_at   TEXT NOT NULL
);
