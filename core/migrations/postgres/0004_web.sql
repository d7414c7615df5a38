-- Sign-in, sessions, API tokens and signed-link redemption (DESIGN §6.2, §6.3).
-- Kept in step with ../sqlite/0004_web.sql. Secrets are never stored: sessions, API tokens,
-- login flows and redeemed links are found by the SHA-256 (hex) of their secret.

-- Server-side dashboard sessions. `id` is a random public id shown on the user's page (to
-- revoke one); the cookie holds a secret whose hash is `token_hash`.
CREATE TABLE web_sessions (
    id            TEXT PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    principal     TEXT NOT NULL,
    groups        TEXT NOT NULL,
    method        TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    last_seen_at  TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    revoked_at    TIMESTAMPTZ,
    user_agent    TEXT NOT NULL,
    ip            TEXT NOT NULL
);
CREATE INDEX web_sessions_by_principal ON web_sessions (principal, created_at);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);

-- Personal API tokens (`jat_…`), shown once at creation, expiring.
CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    principal     TEXT NOT NULL,
    name          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ
);
CREATE INDEX api_tokens_by_principal ON api_tokens (principal, created_at);

-- The development admin of `auth.mode: local` (argon2 PHC string).
CREATE TABLE local_credentials (
    email          TEXT PRIMARY KEY,
    password_hash  TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);

-- Links spent in `links.mode: link` (single use), by the hash of their signature.
CREATE TABLE link_redemptions (
    signature_hash  TEXT PRIMARY KEY,
    request_id      TEXT NOT NULL,
    principal       TEXT NOT NULL,
    redeemed_at     TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL
);

-- OIDC / GitHub sign-ins in progress (state, nonce, PKCE verifier, next), keyed by the hash
-- of the browser's flow cookie; taken (deleted) by the callback, so a callback works once.
CREATE TABLE login_flows (
    id_hash     TEXT PRIMARY KEY,
    data        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_flows_by_expiry ON login_flows (expires_at);
